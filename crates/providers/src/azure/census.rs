//! The Azure census: every container of the account whose metadata carries the marks, and, in
//! the subscription, every resource group and resource whose ARM tags do (listed with ARM's
//! tag filter), each confirmed by reading it, for the census after destroy, sweep and reap.

use std::collections::BTreeMap;
use std::sync::Arc;

use azure_storage_blob::models::{
    BlobServiceClientListContainersOptions, ListContainersIncludeType,
};
use futures_util::TryStreamExt;
use stackform_engine::base::value::Value;
use stackform_engine::provider::{
    Found, Inventory, Marks, OpContext, Ownership, Props, ProviderError, RecoveryKey, ResourceType,
};

use azure_core::http::Method;

use super::client::arm::Arm;
use super::client::{Account, Azure, classify, error};
use super::container::Container;
use crate::marks;
use crate::props::string;

const CONTAINER: &str = "azure.storage.container";

pub struct Census {
    container: Arc<Container>,
    azure: Arc<Azure>,
}

impl Census {
    pub fn new(container: Arc<Container>, azure: Arc<Azure>) -> Census {
        Census { container, azure }
    }

    /// Resource groups and resources in the subscription whose tags carry the marks.
    async fn arm(
        &self,
        arm: &Arm,
        subscription: &str,
        want: &Marks,
        kinds: Option<&std::collections::BTreeSet<String>>,
    ) -> Result<Vec<Found>, ProviderError> {
        let (key, value) = want.tag();
        let filter = match &value {
            Some(v) => format!("tagName eq '{key}' and tagValue eq '{v}'"),
            None => format!("tagName eq '{key}'"),
        };
        let query = filter.replace(' ', "%20").replace('\'', "%27");
        let mut out = Vec::new();
        for (list, version) in [
            ("resourcegroups", "2021-04-01"),
            ("resources", "2021-04-01"),
        ] {
            let mut next = Some(format!(
                "/subscriptions/{subscription}/{list}?$filter={query}&api-version={version}"
            ));
            while let Some(path) = next.take() {
                let what = format!("list {list} of subscription {subscription} by tag {key}");
                let a = arm.call(&what, Method::Get, &path, None).await?;
                if !(200..300).contains(&a.status) {
                    return Err(classify(&what, &a));
                }
                for item in a.body["value"].as_array().into_iter().flatten() {
                    let Some(type_name) = arm_type(item["type"].as_str().unwrap_or_default())
                    else {
                        continue;
                    };
                    if kinds.is_some_and(|k| !k.contains(type_name)) {
                        continue;
                    }
                    let id = item["id"].as_str().unwrap_or_default().to_owned();
                    let tags: BTreeMap<String, String> = item["tags"]
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| {
                                    (k.clone(), v.as_str().unwrap_or_default().to_owned())
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    if !want.matches(&tags) {
                        continue;
                    }
                    // Confirmed by its own read: a listing may show one being deleted.
                    let api = if type_name == "azure.resource_group" {
                        "2021-04-01"
                    } else {
                        arm_version(type_name)
                    };
                    let got = arm
                        .call(
                            &format!("GET {id}"),
                            Method::Get,
                            &format!("{id}?api-version={api}"),
                            None,
                        )
                        .await?;
                    if got.status == 404 {
                        continue;
                    }
                    out.push(Found {
                        type_name: type_name.to_owned(),
                        physical_id: id.clone(),
                        label: id,
                        tags,
                        properties: Props::new(),
                        outputs: Props::new(),
                        rank: arm_rank(type_name),
                    });
                }
                next = a.body["nextLink"].as_str().map(str::to_owned);
            }
        }
        Ok(out)
    }
}

/// The stackform type of an ARM resource type, for those stackform makes.
fn arm_type(arm: &str) -> Option<&'static str> {
    Some(match arm.to_ascii_lowercase().as_str() {
        "microsoft.resources/resourcegroups" => "azure.resource_group",
        "microsoft.storage/storageaccounts" => "azure.storage.account",
        "microsoft.containerregistry/registries" => "azure.containerregistry.registry",
        "microsoft.containerservice/managedclusters" => "azure.containerservice.managed_cluster",
        _ => return None,
    })
}

fn arm_version(type_name: &str) -> &'static str {
    match type_name {
        "azure.storage.account" => "2023-05-01",
        "azure.containerregistry.registry" => "2023-07-01",
        _ => "2024-09-01",
    }
}

/// Clusters before registries and accounts, everything before its group.
fn arm_rank(type_name: &str) -> u32 {
    match type_name {
        "azure.containerservice.managed_cluster" => 2,
        "azure.resource_group" => 9,
        _ => 3,
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
        let mut out = Vec::new();
        // As the resources choose it: the provider's, the connector's, the environment's.
        let subscription = |arm: &Arm| {
            string(settings, "subscription_id")
                .filter(|s| !s.is_empty())
                .or_else(|| arm.subscription.clone())
                .or_else(|| {
                    std::env::var("AZURE_SUBSCRIPTION_ID")
                        .ok()
                        .filter(|s| !s.is_empty())
                })
        };
        let arm_kinds =
            kinds.is_none_or(|k| k.iter().any(|t| t.starts_with("azure.") && t != CONTAINER));
        if arm_kinds {
            match self.azure.arm_for(settings).await {
                Ok(arm) => {
                    if let Some(subscription) = subscription(&arm) {
                        out.extend(self.arm(&arm, &subscription, want, kinds).await?);
                    }
                }
                // A storage-key connector reaches no ARM resources; a sweep looks at the rest.
                Err(_) if kinds.is_none() => {}
                Err(e) => return Err(e),
            }
        }
        if kinds.is_some_and(|k| !k.contains(CONTAINER)) {
            return Ok(out);
        }
        let named = string(settings, "storage_account");
        if named.is_none() && settings.get("connector").is_none() && !Account::configured() {
            // No account to look in: a sweep over every cloud skips this one.
            return Ok(out);
        }
        let account = self.azure.account_for(settings, named.as_deref()).await?;
        let what = format!("list containers of storage account {}", account.name);
        let mut pager = account
            .service()?
            .list_containers(Some(BlobServiceClientListContainersOptions {
                include: Some(vec![ListContainersIncludeType::Metadata]),
                ..Default::default()
            }))
            .map_err(|e| error(&what, &e))?;
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
                deleting: Default::default(),
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
