//! `gcp.iam.service_account`: the identity a GCP stack's components and nodes use.
//!
//! Service accounts take no labels, so stackform's marks go into the description
//! (`stackform stack=NAME stack-id=ID address=ADDR`); an account found under its id is adopted
//! only if the description carries this stack's id and address. Creation is immediate; IAM is
//! eventually consistent, so a get right after a create may answer 404 for a moment, which is
//! retried.

use std::sync::Arc;

use google_cloud_iam_admin_v1::model::ServiceAccount as Sa;
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{
    OutputSchema, Pricing, PropType, PropertySchema, ResourceSchema,
};
use stackform_engine::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind,
    ResourceType,
};

use super::client::Gcp;
use super::client::api::Apis;
use super::client::{self, classify, unless_missing};
use crate::props::{required, string};

pub struct ServiceAccount {
    schema: ResourceSchema,
    gcp: Arc<Gcp>,
}

/// The description that carries the marks.
fn marks_text(ctx: &OpContext) -> String {
    let o = &ctx.ownership;
    format!(
        "stackform stack={} stack-id={} address={}",
        o.stack, o.stack_id, o.address
    )
}

/// Whether a description carries this stack's id and this address.
fn ours(ctx: &OpContext, description: &str) -> bool {
    let o = &ctx.ownership;
    let words: Vec<&str> = description.split_whitespace().collect();
    words.contains(&format!("stack-id={}", o.stack_id).as_str())
        && words.contains(&format!("address={}", o.address).as_str())
}

impl ServiceAccount {
    pub fn new(gcp: Arc<Gcp>) -> ServiceAccount {
        let schema = ResourceSchema::new(
            "gcp.iam.service_account",
            "A Google service account (the identity components and nodes run as).",
        )
        .actions(&[
            "iam.serviceAccounts.create",
            "iam.serviceAccounts.get",
            "iam.serviceAccounts.update",
            "iam.serviceAccounts.delete",
        ])
        .pricing(Pricing::Free)
        .property(
            PropertySchema::new(
                "account_id",
                PropType::String,
                "6 to 30 lowercase letters, digits and hyphens; the email's local part.",
            )
            .required()
            .force_new(),
        )
        .property(
            PropertySchema::new(
                "project",
                PropType::String,
                "The project (default: the provider's `project`, else GOOGLE_CLOUD_PROJECT).",
            )
            .force_new(),
        )
        .property(PropertySchema::new(
            "display_name",
            PropType::String,
            "What people see in the console.",
        ))
        .output(OutputSchema::new(
            "email",
            PropType::String,
            "`ID@PROJECT.iam.gserviceaccount.com`.",
        ))
        .output(OutputSchema::new(
            "member",
            PropType::String,
            "`serviceAccount:EMAIL`, as IAM bindings name it.",
        ))
        .output(OutputSchema::new(
            "unique_id",
            PropType::String,
            "The numeric id.",
        ));
        ServiceAccount { schema, gcp }
    }

    fn name(ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
        let project = client::project(ctx, props)?;
        Ok(format!(
            "projects/{project}/serviceAccounts/{}@{project}.iam.gserviceaccount.com",
            required(props, "account_id")?
        ))
    }

    async fn describe(
        &self,
        apis: &Apis,
        name: &str,
        props: &Props,
    ) -> Result<Option<(Applied, String)>, ProviderError> {
        let iam = apis.iam().await?;
        let sent = iam.get_service_account().set_name(name).send().await;
        let found = unless_missing(sent, &format!("iam.serviceAccounts.get {name}"))?;
        Ok(found.map(|sa| (applied(&sa, props), sa.description.clone())))
    }
}

fn applied(sa: &Sa, props: &Props) -> Applied {
    let mut properties = props.clone();
    let local = sa.email.split('@').next().unwrap_or_default();
    properties.insert("account_id".into(), Value::String(local.to_owned()));
    if !sa.display_name.is_empty() || string(props, "display_name").is_some() {
        properties.insert(
            "display_name".into(),
            Value::String(sa.display_name.clone()),
        );
    }
    Applied {
        physical_id: sa.name.clone(),
        properties,
        outputs: Props::from([
            ("email".into(), Value::String(sa.email.clone())),
            (
                "member".into(),
                Value::String(format!("serviceAccount:{}", sa.email)),
            ),
            ("unique_id".into(), Value::String(sa.unique_id.clone())),
        ]),
    }
}

#[async_trait::async_trait]
impl ResourceType for ServiceAccount {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Name("account_id")
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        let project = client::project(ctx, props)?;
        let id = required(props, "account_id")?;
        let iam = apis.iam().await?;
        let sa = Sa::new()
            .set_display_name(string(props, "display_name").unwrap_or_default())
            .set_description(marks_text(ctx));
        let created = iam
            .create_service_account()
            .set_name(format!("projects/{project}"))
            .set_account_id(&id)
            .set_service_account(sa)
            .send()
            .await;
        match created {
            Ok(sa) => Ok(Progress::Done(Some(applied(&sa, props)))),
            Err(e) => {
                let name = Self::name(ctx, props)?;
                let err = classify(e, &format!("iam.serviceAccounts.create {name}"));
                if !client::exists(&err) {
                    return Err(err);
                }
                match self.find(ctx, props).await? {
                    Some(found) => Ok(Progress::Done(Some(found))),
                    None => Err(ProviderError::new(
                        ErrorKind::Conflict,
                        format!(
                            "service account {id} exists in project {project} and is not this stack's: choose another `account_id`, or `stackform import` it"
                        ),
                    )),
                }
            }
        }
    }

    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        Ok(self.describe(&apis, id, props).await?.map(|(a, _)| a))
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        _old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        let iam = apis.iam().await?;
        let sa = Sa::new()
            .set_name(id)
            .set_display_name(string(new, "display_name").unwrap_or_default())
            .set_description(marks_text(ctx));
        let patched = iam
            .patch_service_account()
            .set_service_account(sa)
            .set_update_mask(
                google_cloud_wkt::FieldMask::default().set_paths(["display_name", "description"]),
            )
            .send()
            .await
            .map_err(|e| classify(e, &format!("iam.serviceAccounts.patch {id}")))?;
        Ok(Progress::Done(Some(applied(&patched, new))))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _props: &Props,
    ) -> Result<Outcome, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        let iam = apis.iam().await?;
        let sent = iam.delete_service_account().set_name(id).send().await;
        unless_missing(sent, &format!("iam.serviceAccounts.delete {id}"))
            .map(|_| Progress::Done(None))
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        let name = Self::name(ctx, props)?;
        let Some((applied, description)) = self.describe(&apis, &name, props).await? else {
            return Ok(None);
        };
        Ok(ours(ctx, &description).then_some(applied))
    }
}
