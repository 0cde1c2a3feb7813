//! `gcp.artifactregistry.repository`: an Artifact Registry repository, the GCP stack's
//! container registry.
//!
//! Created and deleted through long-running operations, polled by name without holding an
//! executor slot. The repository id is the recovery key (unique per project and location); one
//! found under it is adopted only if its labels name this stack and address.

use std::collections::BTreeMap;
use std::sync::Arc;

use google_cloud_artifactregistry_v1::model::{Repository as ArRepository, repository::Format};
use google_cloud_longrunning::model::operation::Result as OpResult;
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
use super::client::{self, classify, operation, unless_missing};
use crate::marks;
use crate::props::{required, string, string_map};

pub struct Repository {
    schema: ResourceSchema,
    gcp: Arc<Gcp>,
}

impl Repository {
    pub fn new(gcp: Arc<Gcp>) -> Repository {
        let schema = ResourceSchema::new(
            "gcp.artifactregistry.repository",
            "An Artifact Registry repository (Docker images by default).",
        )
        .actions(&[
            "artifactregistry.repositories.create",
            "artifactregistry.repositories.get",
            "artifactregistry.repositories.update",
            "artifactregistry.repositories.delete",
        ])
        .pricing(Pricing::Usage("storage and egress".into()))
        .property(
            PropertySchema::new(
                "name",
                PropType::String,
                "The repository id (lowercase letters, digits and hyphens).",
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
        .property(
            PropertySchema::new(
                "location",
                PropType::String,
                "A region such as `europe-west1` (default: the provider's `region`).",
            )
            .force_new(),
        )
        .property(
            PropertySchema::new(
                "format",
                PropType::String,
                "`DOCKER`, `PYTHON`, `NPM`, `MAVEN`, ...",
            )
            .default("DOCKER")
            .force_new(),
        )
        .property(PropertySchema::new(
            "description",
            PropType::String,
            "What the repository holds.",
        ))
        .property(PropertySchema::new(
            "labels",
            PropType::map_of(PropType::String),
            "Labels besides stackform's own.",
        ))
        .output(OutputSchema::new(
            "id",
            PropType::String,
            "`projects/P/locations/L/repositories/NAME`.",
        ))
        .output(OutputSchema::new(
            "uri",
            PropType::String,
            "Where images are pushed: `L-docker.pkg.dev/P/NAME`.",
        ))
        .stateful();
        Repository { schema, gcp }
    }

    fn full_name(ctx: &OpContext, props: &Props) -> Result<String, ProviderError> {
        Ok(format!(
            "projects/{}/locations/{}/repositories/{}",
            client::project(ctx, props)?,
            client::location(ctx, props)?,
            required(props, "name")?
        ))
    }

    fn labels(ctx: &OpContext, props: &Props) -> BTreeMap<String, String> {
        let mut labels = string_map(props, "labels");
        labels.extend(marks::gcp_labels(&ctx.ownership));
        labels
    }

    /// The repository as Artifact Registry has it, with all its labels, or `None`.
    async fn describe(
        &self,
        apis: &Apis,
        full: &str,
        props: &Props,
    ) -> Result<Option<(Applied, BTreeMap<String, String>)>, ProviderError> {
        let client = apis.registry().await?;
        let got = client.get_repository().set_name(full).send().await;
        let found = unless_missing(got, &format!("artifactregistry.repositories.get {full}"))?;
        Ok(found.map(|repo| applied(&repo, props)))
    }

    /// Follows an operation to its end: the repository for a create, nothing for a delete.
    async fn follow(
        &self,
        apis: &Apis,
        ctx: &OpContext,
        token: &str,
    ) -> Result<Outcome, ProviderError> {
        let (op, full, n, operation) = operation::split(token);
        let client = apis.registry().await?;
        let got = client.get_operation().set_name(operation).send().await;
        let o = match got {
            Ok(o) => o,
            Err(e) => {
                return operation::transient(
                    classify(e, &format!("artifactregistry operations.get {operation}")),
                    token,
                );
            }
        };
        if !o.done {
            return Ok(operation::pending(
                op,
                full,
                n,
                operation,
                format!("repository {op} running"),
            ));
        }
        if let Some(OpResult::Error(status)) = &o.result {
            return Err(ProviderError::new(
                ErrorKind::Other,
                format!(
                    "Artifact Registry could not {op} {full}: {} (code {})",
                    status.message, status.code
                ),
            ));
        }
        match op {
            "delete" => Ok(Progress::Done(None)),
            _ => {
                let found = self.describe(apis, full, &Props::new()).await?;
                let Some((applied, _)) = found else {
                    return Err(ProviderError::new(
                        ErrorKind::Other,
                        format!("repository {full} is missing after its creation finished"),
                    ));
                };
                let _ = ctx;
                Ok(Progress::Done(Some(applied)))
            }
        }
    }
}

fn applied(repo: &ArRepository, props: &Props) -> (Applied, BTreeMap<String, String>) {
    let labels: BTreeMap<String, String> = repo
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // projects/P/locations/L/repositories/NAME
    let parts: Vec<&str> = repo.name.split('/').collect();
    let (project, location, name) = match parts.as_slice() {
        [_, p, _, l, _, n] => (*p, *l, *n),
        _ => ("", "", repo.name.as_str()),
    };
    let mut properties = marks::with_user_marks(props, "labels", &labels);
    properties.insert("name".into(), Value::String(name.to_owned()));
    properties.insert(
        "description".into(),
        Value::String(repo.description.clone()),
    );
    if let Some(format) = repo.format.name() {
        properties.insert("format".into(), Value::String(format.to_owned()));
    }
    if string(props, "description").is_none() && repo.description.is_empty() {
        properties.remove("description");
    }
    let host = format!("{location}-docker.pkg.dev");
    (
        Applied {
            physical_id: repo.name.clone(),
            properties,
            outputs: Props::from([
                ("id".into(), Value::String(repo.name.clone())),
                (
                    "uri".into(),
                    Value::String(format!("{host}/{project}/{name}")),
                ),
            ]),
        },
        labels,
    )
}

#[async_trait::async_trait]
impl ResourceType for Repository {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Name("name")
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        let full = Self::full_name(ctx, props)?;
        let name = required(props, "name")?;
        let parent = full
            .rsplit_once("/repositories/")
            .map(|(p, _)| p)
            .unwrap_or("");
        let format = string(props, "format").unwrap_or_else(|| "DOCKER".into());
        let repo = ArRepository::new()
            .set_format(Format::from(format.as_str()))
            .set_description(string(props, "description").unwrap_or_default())
            .set_labels(Self::labels(ctx, props));
        let client = apis.registry().await?;
        let sent = client
            .create_repository()
            .set_parent(parent)
            .set_repository_id(&name)
            .set_repository(repo)
            .send()
            .await;
        match sent {
            Ok(o) => {
                self.follow(&apis, ctx, &operation::token("create", &full, 0, &o.name))
                    .await
            }
            Err(e) => {
                let err = classify(e, &format!("artifactregistry.repositories.create {full}"));
                if !client::exists(&err) {
                    return Err(err);
                }
                // Made by an earlier attempt of ours: take it as it is, then configure it.
                if self.find(ctx, props).await?.is_some() {
                    return self.update(ctx, &full, props, props).await;
                }
                Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!(
                        "repository {full} exists and is not this stack's: choose another name, or `stackform import` it"
                    ),
                ))
            }
        }
    }

    async fn poll(&self, ctx: &OpContext, token: &str) -> Result<Outcome, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        self.follow(&apis, ctx, token).await
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
        let repo = ArRepository::new()
            .set_name(id)
            .set_description(string(new, "description").unwrap_or_default())
            .set_labels(Self::labels(ctx, new));
        let client = apis.registry().await?;
        let updated = client
            .update_repository()
            .set_repository(repo)
            .set_update_mask(
                google_cloud_wkt::FieldMask::default().set_paths(["description", "labels"]),
            )
            .send()
            .await
            .map_err(|e| classify(e, &format!("artifactregistry.repositories.update {id}")))?;
        Ok(Progress::Done(Some(applied(&updated, new).0)))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _props: &Props,
    ) -> Result<Outcome, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        let client = apis.registry().await?;
        let sent = client.delete_repository().set_name(id).send().await;
        let what = format!("artifactregistry.repositories.delete {id}");
        match unless_missing(sent, &what)? {
            Some(o) => {
                self.follow(&apis, ctx, &operation::token("delete", id, 0, &o.name))
                    .await
            }
            None => Ok(Progress::Done(None)),
        }
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let apis = self.gcp.apis(ctx).await?;
        let full = Self::full_name(ctx, props)?;
        let Some((applied, labels)) = self.describe(&apis, &full, props).await? else {
            return Ok(None);
        };
        Ok(marks::owned(ctx, &labels, marks::gcp_value).then_some(applied))
    }
}
