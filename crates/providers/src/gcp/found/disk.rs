//! `gcp.compute.disk`: a persistent disk that GKE made for a PersistentVolumeClaim (labelled
//! `goog-k8s-cluster-name`), in every zone. It is data: deleted unless destroy keeps volumes,
//! and never while something still uses it.

use google_cloud_compute_v1::model::Operation;
use serde_json::Value as Json;

use super::{Kind, Lives, Page, Sent, scoped};
use crate::gcp::client::api::Compute;

pub struct Disk;

#[async_trait::async_trait]
impl Kind for Disk {
    fn type_name(&self) -> &'static str {
        "gcp.compute.disk"
    }

    fn collection(&self) -> &'static str {
        "disks"
    }

    fn describe(&self) -> &'static str {
        "A persistent disk that GKE made for a PersistentVolumeClaim."
    }

    fn rank(&self) -> u32 {
        10
    }

    fn lives(&self) -> Lives {
        Lives::Zone
    }

    fn data(&self) -> bool {
        true
    }

    fn in_use(&self, item: &Json) -> bool {
        item["users"].as_array().is_some_and(|u| !u.is_empty())
    }

    async fn page(&self, c: &Compute, project: &str, _region: &str, token: String) -> Sent<Page> {
        let l = c
            .disks
            .aggregated_list()
            .set_project(project)
            .set_page_token(token)
            .send()
            .await?;
        let items = l
            .items
            .into_iter()
            .flat_map(|(scope, s)| scoped(&scope, s.disks))
            .collect();
        Ok((items, l.next_page_token))
    }

    async fn get(&self, c: &Compute, project: &str, zone: &str, name: &str) -> Sent<()> {
        c.disks
            .get()
            .set_project(project)
            .set_zone(zone)
            .set_disk(name)
            .send()
            .await
            .map(|_| ())
    }

    async fn delete(&self, c: &Compute, project: &str, zone: &str, name: &str) -> Sent<Operation> {
        c.disks
            .delete()
            .set_project(project)
            .set_zone(zone)
            .set_disk(name)
            .send()
            .await
    }
}
