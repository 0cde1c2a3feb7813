//! The GCP census: Artifact Registry repositories and GKE clusters whose labels carry the
//! marks, and service accounts whose description does, in the stack's project (repositories
//! in its region, clusters in every location), each confirmed by its own get. For the census
//! after destroy, sweep and reap.
//!
//! Skipped when no project is known (no `providers.gcp.project`, no GOOGLE_CLOUD_PROJECT): a
//! sweep over every cloud then has nowhere to look here. Buckets are not listed: fake-gcs-server,
//! the only emulator, drops labels, so a bucket census could not be tested (the state and the
//! bucket's own recovery key still find it). Project IAM members carry no marks at all; they
//! are removed from state records only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use stackform_engine::provider::{
    Found, Inventory, Marks, Props, ProviderError, TAG_ADDRESS, TAG_EXPIRES_AT, TAG_STACK,
    TAG_STACK_ID,
};

use super::client::Gcp;
use super::client::classify;
use crate::marks;
use crate::props::string;

const REPOSITORY: &str = "gcp.artifactregistry.repository";
const CLUSTER: &str = "gcp.container.cluster";
const SERVICE_ACCOUNT: &str = "gcp.iam.service_account";

pub struct Census {
    gcp: Arc<Gcp>,
}

impl Census {
    pub fn new(gcp: Arc<Gcp>) -> Census {
        Census { gcp }
    }
}

/// Labels' marks under the engine's tag names.
fn label_tags(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    [
        (marks::KEY_STACK, TAG_STACK),
        (marks::KEY_STACK_ID, TAG_STACK_ID),
        (marks::KEY_ADDRESS, TAG_ADDRESS),
        (marks::KEY_EXPIRES_AT, TAG_EXPIRES_AT),
    ]
    .into_iter()
    .filter_map(|(ours, engine)| Some((engine.to_owned(), labels.get(ours)?.clone())))
    .collect()
}

/// A service account description's marks (`stackform stack=N stack-id=I address=A`).
fn description_tags(description: &str) -> BTreeMap<String, String> {
    let mut words = description.split_whitespace();
    if words.next() != Some("stackform") {
        return BTreeMap::new();
    }
    words
        .filter_map(|w| w.split_once('='))
        .filter_map(|(k, v)| {
            let key = match k {
                "stack" => TAG_STACK,
                "stack-id" => TAG_STACK_ID,
                "address" => TAG_ADDRESS,
                _ => return None,
            };
            Some((key.to_owned(), v.to_owned()))
        })
        .collect()
}

fn found(type_name: &str, id: &str, tags: BTreeMap<String, String>, rank: u32) -> Found {
    Found {
        type_name: type_name.to_owned(),
        physical_id: id.to_owned(),
        label: id.to_owned(),
        tags,
        properties: Props::new(),
        outputs: Props::new(),
        rank,
    }
}

#[async_trait::async_trait]
impl Inventory for Census {
    async fn owned(
        &self,
        settings: &Props,
        want: &Marks,
        kinds: Option<&BTreeSet<String>>,
    ) -> Result<Vec<Found>, ProviderError> {
        let apis = self.gcp.apis_for(settings).await?;
        let wanted = |t: &str| kinds.is_none_or(|k| k.contains(t));
        let Some(project) = string(settings, "project").or_else(|| {
            std::env::var("GOOGLE_CLOUD_PROJECT")
                .ok()
                .filter(|p| !p.is_empty())
        }) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        if wanted(REPOSITORY)
            && let Some(region) = string(settings, "region")
        {
            let client = apis.registry().await?;
            let parent = format!("projects/{project}/locations/{region}");
            for r in apis.repositories(&parent).await? {
                let labels: BTreeMap<String, String> = r.labels.into_iter().collect();
                let tags = label_tags(&labels);
                if !want.matches(&tags) {
                    continue;
                }
                // Confirmed by its own get: a listing may show one being deleted.
                if client
                    .get_repository()
                    .set_name(&r.name)
                    .send()
                    .await
                    .is_ok()
                {
                    out.push(found(REPOSITORY, &r.name, tags, 0));
                }
            }
        }
        if wanted(CLUSTER) {
            let gke = apis.clusters().await?;
            let parent = format!("projects/{project}/locations/-");
            let listed = gke
                .list_clusters()
                .set_parent(&parent)
                .send()
                .await
                .map_err(|e| classify(e, &format!("container.clusters.list {parent}")))?;
            for c in listed.clusters {
                let labels: BTreeMap<String, String> = c.resource_labels.into_iter().collect();
                let tags = label_tags(&labels);
                if !want.matches(&tags) {
                    continue;
                }
                let id = format!(
                    "projects/{project}/locations/{}/clusters/{}",
                    c.location, c.name
                );
                if gke.get_cluster().set_name(&id).send().await.is_ok() {
                    out.push(found(CLUSTER, &id, tags, 2));
                }
            }
        }
        if wanted(SERVICE_ACCOUNT) {
            let iam = apis.iam().await?;
            let name = format!("projects/{project}");
            let what = format!("iam.serviceAccounts.list {name}");
            let mut token = String::new();
            loop {
                let page = iam
                    .list_service_accounts()
                    .set_name(&name)
                    .set_page_token(&token)
                    .send()
                    .await
                    .map_err(|e| classify(e, &what))?;
                for sa in page.accounts {
                    let tags = description_tags(&sa.description);
                    if !want.matches(&tags) {
                        continue;
                    }
                    if iam
                        .get_service_account()
                        .set_name(&sa.name)
                        .send()
                        .await
                        .is_ok()
                    {
                        out.push(found(SERVICE_ACCOUNT, &sa.name, tags, 3));
                    }
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                token = page.next_page_token;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_descriptions_carry_the_marks() {
        let tags = description_tags("stackform stack=staging stack-id=4f1c address=access");
        assert_eq!(tags[TAG_STACK], "staging");
        assert_eq!(tags[TAG_STACK_ID], "4f1c");
        assert_eq!(tags[TAG_ADDRESS], "access");
        assert!(description_tags("made by hand stack=staging").is_empty());
    }
}
