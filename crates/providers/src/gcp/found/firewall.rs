//! `gcp.compute.firewall`: a firewall rule that GKE made for a load balancer or its health
//! checks (`k8s-fw-...`, `gke-CLUSTER-...`; global).

use google_cloud_compute_v1::model::Operation;

use super::{Kind, Lives, Page, Sent, scoped};
use crate::gcp::client::api::Compute;

pub struct Firewall;

#[async_trait::async_trait]
impl Kind for Firewall {
    fn type_name(&self) -> &'static str {
        "gcp.compute.firewall"
    }

    fn collection(&self) -> &'static str {
        "firewalls"
    }

    fn describe(&self) -> &'static str {
        "A firewall rule that GKE made for a load balancer or its health checks."
    }

    fn rank(&self) -> u32 {
        12
    }

    fn lives(&self) -> Lives {
        Lives::Global
    }

    async fn page(&self, c: &Compute, project: &str, _region: &str, token: String) -> Sent<Page> {
        let l = c
            .firewalls
            .list()
            .set_project(project)
            .set_page_token(token)
            .send()
            .await?;
        Ok((scoped("global", l.items), l.next_page_token))
    }

    async fn get(&self, c: &Compute, project: &str, _scope: &str, name: &str) -> Sent<()> {
        c.firewalls
            .get()
            .set_project(project)
            .set_firewall(name)
            .send()
            .await
            .map(|_| ())
    }

    async fn delete(
        &self,
        c: &Compute,
        project: &str,
        _scope: &str,
        name: &str,
    ) -> Sent<Operation> {
        c.firewalls
            .delete()
            .set_project(project)
            .set_firewall(name)
            .send()
            .await
    }
}
