//! `azure.storage.container`: a Blob Storage container, the Azure stack's artifact store.
//!
//! The name is the recovery key (unique in its account); a container found under it is adopted
//! only if its metadata names this stack and address. Public access is always off (no access
//! level is ever sent). Deleting a container deletes its blobs, so a container that holds any is
//! refused unless `force_destroy`. Azure lowercases metadata names: write them in lowercase.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use azure_storage_blob::models::{
    BlobContainerClientCreateOptions, BlobContainerClientGetPropertiesResultHeaders,
    BlobContainerClientListBlobsOptions,
};
use futures_util::TryStreamExt;
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{
    OutputSchema, Pricing, PropType, PropertySchema, ResourceSchema,
};
use stackform_engine::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind,
    ResourceType,
};

use super::client::{Account, Azure, code, error};
use crate::marks;
use crate::props::{boolean, required, string, string_map};

pub struct Container {
    schema: ResourceSchema,
    azure: Arc<Azure>,
}

impl Container {
    pub fn new(azure: Arc<Azure>) -> Container {
        let schema = ResourceSchema::new("azure.storage.container", "A Blob Storage container.")
            .actions(&[
                "Microsoft.Storage/storageAccounts/blobServices/containers/read",
                "Microsoft.Storage/storageAccounts/blobServices/containers/write",
                "Microsoft.Storage/storageAccounts/blobServices/containers/delete",
                "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
            ])
            .pricing(Pricing::Usage("storage, operations and egress".into()))
            .property(
                PropertySchema::new(
                    "name",
                    PropType::String,
                    "3-63 lowercase letters, digits and `-`, unique in the account.",
                )
                .required()
                .force_new(),
            )
            .property(
                PropertySchema::new(
                    "storage_account",
                    PropType::String,
                    "The storage account (default: the provider's `storage_account`, else the environment's).",
                )
                .force_new(),
            )
            .property(PropertySchema::new(
                "metadata",
                PropType::map_of(PropType::String),
                "Metadata besides stackform's own (lowercase identifiers).",
            ))
            .property(
                PropertySchema::new(
                    "force_destroy",
                    PropType::Boolean,
                    "Delete the container even while it holds blobs (they go with it).",
                )
                .default(false),
            )
            .output(OutputSchema::new(
                "url",
                PropType::String,
                "The container's URL.",
            ))
            .output(OutputSchema::new(
                "storage_account",
                PropType::String,
                "The account it is in.",
            ))
            .stateful();
        Container { schema, azure }
    }

    /// The container's account, reached as the stack's connector (or the environment) allows.
    pub async fn account(&self, ctx: &OpContext, props: &Props) -> Result<Account, ProviderError> {
        let name =
            string(props, "storage_account").or_else(|| string(&ctx.settings, "storage_account"));
        self.azure.account_for(&ctx.settings, name.as_deref()).await
    }

    fn metadata(ctx: &OpContext, props: &Props) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = string_map(props, "metadata").into_iter().collect();
        m.extend(marks::azure_metadata(&ctx.ownership));
        m
    }

    /// The container as Azure has it with its metadata, or `None`.
    async fn describe(
        &self,
        account: &Account,
        name: &str,
        props: &Props,
    ) -> Result<Option<(Applied, BTreeMap<String, String>)>, ProviderError> {
        let client = account.container(name)?;
        let what = format!("get container {name}");
        let answer = match client.get_properties(None).await {
            Ok(a) => a,
            Err(e) if e.http_status().map(u16::from) == Some(404) => return Ok(None),
            Err(e) => return Err(error(&what, &e)),
        };
        let all: BTreeMap<String, String> = answer
            .metadata()
            .map_err(|e| ProviderError::new(ErrorKind::Other, format!("{what}: {e}")))?
            .into_iter()
            .collect();
        let properties = marks::with_user_marks(props, "metadata", &all);
        let applied = Applied {
            physical_id: name.to_owned(),
            properties,
            outputs: Props::from([
                (
                    "url".into(),
                    Value::String(format!("{}/{name}", account.endpoint)),
                ),
                (
                    "storage_account".into(),
                    Value::String(account.name.clone()),
                ),
            ]),
        };
        Ok(Some((applied, all)))
    }

    /// How many blobs the container holds (stopping at one page).
    async fn holds(&self, account: &Account, name: &str) -> Result<usize, ProviderError> {
        let client = account.container(name)?;
        let what = format!("list blobs of {name}");
        let mut pages = client
            .list_blobs(Some(BlobContainerClientListBlobsOptions {
                maxresults: Some(100),
                ..Default::default()
            }))
            .map_err(|e| error(&what, &e))?
            .into_pages();
        match pages.try_next().await {
            Ok(Some(page)) => Ok(page
                .into_model()
                .map_err(|e| ProviderError::new(ErrorKind::Other, format!("{what}: {e}")))?
                .blob_items
                .len()),
            Ok(None) => Ok(0),
            Err(e) => Err(error(&what, &e)),
        }
    }
}

#[async_trait::async_trait]
impl ResourceType for Container {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Name("name")
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let name = required(props, "name")?;
        let account = self.account(ctx, props).await?;
        let client = account.container(&name)?;
        let created = client
            .create(Some(BlobContainerClientCreateOptions {
                metadata: Some(Self::metadata(ctx, props)),
                // No `access`: the container is private.
                ..Default::default()
            }))
            .await;
        if let Err(e) = created {
            if code(&e) == Some("ContainerAlreadyExists") {
                if self.find(ctx, props).await?.is_some() {
                    return self.update(ctx, &name, props, props).await;
                }
                return Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!(
                        "container `{name}` already exists in storage account `{}` and is not this stack's: choose another name",
                        account.name
                    ),
                ));
            }
            return Err(error(&format!("create container {name}"), &e));
        }
        let (applied, _) = self
            .describe(&account, &name, props)
            .await?
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::OutcomeUnknown,
                    format!("container {name} vanished right after its creation"),
                )
            })?;
        Ok(Progress::Done(Some(applied)))
    }

    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let account = self.account(ctx, props).await?;
        Ok(self.describe(&account, id, props).await?.map(|(a, _)| a))
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        _old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        let account = self.account(ctx, new).await?;
        account
            .container(id)?
            .set_metadata(&Self::metadata(ctx, new), None)
            .await
            .map_err(|e| error(&format!("set metadata of container {id}"), &e))?;
        Ok(Progress::Done(
            self.describe(&account, id, new).await?.map(|(a, _)| a),
        ))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Outcome, ProviderError> {
        let account = self.account(ctx, props).await?;
        if self.describe(&account, id, props).await?.is_none() {
            return Ok(Progress::Done(None));
        }
        if !boolean(props, "force_destroy").unwrap_or(false) {
            let n = self.holds(&account, id).await?;
            if n > 0 {
                let more = if n >= 100 { " or more" } else { "" };
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "container {id} still holds {n}{more} blobs; empty it, or set `force_destroy: true` on it and deploy before destroying"
                    ),
                ));
            }
        }
        match account.container(id)?.delete(None).await {
            Ok(_) => Ok(Progress::Done(None)),
            Err(e) if e.http_status().map(u16::from) == Some(404) => Ok(Progress::Done(None)),
            Err(e) => Err(error(&format!("delete container {id}"), &e)),
        }
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let name = required(props, "name")?;
        let account = self.account(ctx, props).await?;
        let Some((applied, metadata)) = self.describe(&account, &name, props).await? else {
            return Ok(None);
        };
        Ok(marks::owned(ctx, &metadata, str::to_owned).then_some(applied))
    }
}
