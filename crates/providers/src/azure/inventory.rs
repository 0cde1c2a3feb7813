//! The Azure census: every container of the account whose metadata carries the marks, each
//! confirmed by reading it, for the census after destroy, sweep and reap.

use std::collections::BTreeMap;
use std::sync::Arc;

use azure_storage_blob::models::{
    BlobServiceClientListContainersOptions, ListContainersIncludeType,
};
use futures_util::TryStreamExt;
use stackform_engine::provider::{
    Found, Inventory, Marks, OpContext, Ownership, Props, ProviderError, RecoveryKey, ResourceType,
};
use stackform_engine::value::Value;

use super::container::Container;
use super::{Account, error};
use crate::marks;
use crate::props::string;

const CONTAINER: &str = "azure.storage.container";

pub struct Census {
    container: Arc<Container>,
}

impl Census {
    pub fn new(container: Arc<Container>) -> Census {
        Census { container }
    }
}

#[async_trait::async_trait]
impl Inventory for Census {
    async fn owned(
        &self,
        settings: &Props,
        want: &Marks,
        kinds: Option<&std::collections::BTreeSet<String>>,
    ) -> Result<Vec<Found>, ProviderError> {
        if kinds.is_some_and(|k| !k.contains(CONTAINER)) {
            return Ok(Vec::new());
        }
        let named = string(settings, "storage_account");
        if named.is_none() && !Account::configured() {
            // No account to look in: a sweep over every cloud skips this one.
            return Ok(Vec::new());
        }
        let account = Account::from_env(named.as_deref())?;
        let what = format!("list containers of storage account {}", account.name);
        let mut pager = account
            .service()?
            .list_containers(Some(BlobServiceClientListContainersOptions {
                include: Some(vec![ListContainersIncludeType::Metadata]),
                ..Default::default()
            }))
            .map_err(|e| error(&what, &e))?;
        let mut out = Vec::new();
        while let Some(item) = pager.try_next().await.map_err(|e| error(&what, &e))? {
            let (Some(name), Some(metadata)) = (item.name, item.metadata) else {
                continue;
            };
            let metadata: BTreeMap<String, String> = metadata.into_iter().collect();
            let tags = marks::azure_to_tags(&metadata);
            if !want.matches(&tags) {
                continue;
            }
            // Confirmed by its own read: a listing may show a container being deleted.
            let ctx = OpContext {
                ownership: Ownership {
                    stack: String::new(),
                    stack_id: Default::default(),
                    address: String::new(),
                    suffix: String::new(),
                    expires_at: None,
                },
                recovery: RecoveryKey::Tags,
                stack_dir: std::env::temp_dir(),
                settings: settings.clone(),
            };
            let props = Props::from([("name".to_owned(), Value::String(name.clone()))]);
            let Some(applied) = self.container.read(&ctx, &name, &props).await? else {
                continue;
            };
            // Found with no state to say how to delete it: what it holds goes with it (the plan
            // warns before anything is deleted).
            let mut properties = applied.properties;
            properties.insert("force_destroy".into(), Value::Bool(true));
            out.push(Found {
                type_name: CONTAINER.to_owned(),
                physical_id: applied.physical_id,
                label: format!("{}/{name}", account.endpoint),
                tags,
                properties,
                outputs: applied.outputs,
                rank: 0,
            });
        }
        Ok(out)
    }
}
