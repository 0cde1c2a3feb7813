//! What Kubernetes made in Compute Engine for a GKE cluster and no state records, found by the
//! cluster's name; the kinds and the found-only type that deletes them are in this folder.
//!
//! GKE's controllers name what they make after the cluster or describe it with the cluster's
//! name (`k8s-fw-...` firewall rules, `gke-CLUSTER-...` rules, `k8s1-...` network endpoint
//! groups whose description names the cluster, PVC disks labelled `goog-k8s-cluster-name`).
//! A resource is returned for deletion only if the cluster's name is in its name, its
//! description or one of its label values; nothing else is ever touched. Looked for in the
//! cluster's project: forwarding rules and target pools in its region, backend services and
//! firewall rules (global), network endpoint groups and disks in every zone.
//!
//! Order: forwarding rules before the target pools and backend services they point at, backend
//! services before the network endpoint groups they use. Disks are data: deleted unless destroy
//! keeps volumes.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use stackform_engine::provider::{Disposition, Leftover, Props, ProviderError};

use super::{KINDS, Kind};
use crate::gcp::client::api::{Apis, Compute};
use crate::gcp::client::classify;

/// The region of a location: a region as it is, a zone (`europe-west1-b`) without its letter.
pub fn region_of(location: &str) -> &str {
    let parts: Vec<&str> = location.split('-').collect();
    if parts.len() == 3 && parts[2].len() == 1 {
        return &location[..location.len() - 2];
    }
    location
}

/// Every resource of a kind in the project (and region), as its path and its JSON.
async fn list(
    c: &Compute,
    kind: &dyn Kind,
    project: &str,
    region: &str,
) -> Result<Vec<(String, Json)>, ProviderError> {
    let collection = kind.collection();
    let what = format!("compute.{collection}.list {project}");
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let t = token.clone().unwrap_or_default();
        let (items, next) = kind
            .page(c, project, region, t)
            .await
            .map_err(|e| classify(e, &what))?;
        out.extend(items.into_iter().map(|(scope, item): (String, Json)| {
            let name = item["name"].as_str().unwrap_or_default().to_owned();
            (
                format!("projects/{project}/{scope}/{collection}/{name}"),
                item,
            )
        }));
        match next {
            Some(n) if !n.is_empty() => token = Some(n),
            _ => return Ok(out),
        }
    }
}

/// How the cluster's name marks an item, if it does.
fn marked(cluster: &str, item: &Json) -> Option<String> {
    if item["name"].as_str().is_some_and(|n| n.contains(cluster)) {
        return Some(format!("the cluster's name {cluster} in its name"));
    }
    if item["description"]
        .as_str()
        .is_some_and(|d| d.contains(cluster))
    {
        return Some(format!("the cluster's name {cluster} in its description"));
    }
    item["labels"].as_object().and_then(|labels| {
        labels
            .iter()
            .find(|(_, v)| v.as_str() == Some(cluster))
            .map(|(k, _)| format!("label {k}={cluster}"))
    })
}

/// Everything the cluster `cluster_id` (`projects/P/locations/L/clusters/NAME`) left behind.
pub async fn find(apis: &Apis, cluster_id: &str) -> Result<Vec<Leftover>, ProviderError> {
    let parts: Vec<&str> = cluster_id.split('/').collect();
    let [_, project, _, location, _, cluster] = parts.as_slice() else {
        return Ok(Vec::new());
    };
    let region = region_of(location);
    let c = apis.compute().await?;
    let mut found: Vec<(&dyn Kind, String, Json, String)> = Vec::new();
    for kind in KINDS {
        for (path, item) in list(c, kind, project, region).await? {
            if kind.in_use(&item) {
                continue;
            }
            if let Some(how) = marked(cluster, &item) {
                found.push((kind, path, item, how));
            }
        }
    }
    let mut out: Vec<Leftover> = found
        .iter()
        .map(|(kind, path, _, how)| Leftover {
            key: path.clone(),
            type_name: kind.type_name().to_owned(),
            physical_id: path.clone(),
            properties: Props::new(),
            found_by: how.clone(),
            before: Vec::new(),
            in_network: !kind.data(),
            rank: kind.rank(),
            disposition: if kind.data() {
                Disposition::Data
            } else {
                Disposition::Delete
            },
        })
        .collect();
    // What points at what: a rule at its target pool or backend service, a backend service at
    // its network endpoint groups.
    let names: BTreeMap<String, usize> = out
        .iter()
        .enumerate()
        .map(|(i, l)| (l.physical_id.clone(), i))
        .collect();
    for (i, (kind, _, item, _)) in found.iter().enumerate() {
        for t in kind.targets(item) {
            if let Some(&j) = names.get(&t) {
                let k = out[j].key.clone();
                out[i].before.push(k);
            }
        }
    }
    Ok(out)
}
