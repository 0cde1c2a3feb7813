//! `gcp.compute.network_endpoint_group`: a network endpoint group that GKE made for
//! container-native load balancing (`k8s1-...`, its description naming the cluster), in every
//! zone; deleted after the backend services that use it.

use google_cloud_compute_v1::model::Operation;

use super::{Kind, Lives, Page, Sent, scoped};
use crate::gcp::client::api::Compute;

pub struct NetworkEndpointGroup;

#[async_trait::async_trait]
impl Kind for NetworkEndpointGroup {
    fn type_name(&self) -> &'static str {
        "gcp.compute.network_endpoint_group"
    }

    fn collection(&self) -> &'static str {
        "networkEndpointGroups"
    }

    fn describe(&self) -> &'static str {
        "A network endpoint group that GKE made for container-native load balancing."
    }

    fn rank(&self) -> u32 {
        12
    }

    fn lives(&self) -> Lives {
        Lives::Zone
    }

    async fn page(&self, c: &Compute, project: &str, _region: &str, token: String) -> Sent<Page> {
        let l = c
            .negs
            .aggregated_list()
            .set_project(project)
            .set_page_token(token)
            .send()
            .await?;
        let items = l
            .items
            .into_iter()
            .flat_map(|(scope, s)| scoped(&scope, s.network_endpoint_groups))
            .collect();
        Ok((items, l.next_page_token))
    }

    async fn get(&self, c: &Compute, project: &str, zone: &str, name: &str) -> Sent<()> {
        c.negs
            .get()
            .set_project(project)
            .set_zone(zone)
            .set_network_endpoint_group(name)
            .send()
            .await
            .map(|_| ())
    }

    async fn delete(&self, c: &Compute, project: &str, zone: &str, name: &str) -> Sent<Operation> {
        c.negs
            .delete()
            .set_project(project)
            .set_zone(zone)
            .set_network_endpoint_group(name)
            .send()
            .await
    }
}
