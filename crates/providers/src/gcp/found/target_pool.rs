//! `gcp.compute.target_pool`: a network load balancer's target pool that GKE made, in the
//! cluster's region; deleted after the forwarding rules that point at it.

use google_cloud_compute_v1::model::Operation;

use super::{Kind, Lives, Page, Sent, scoped};
use crate::gcp::client::api::Compute;

pub struct TargetPool;

#[async_trait::async_trait]
impl Kind for TargetPool {
    fn type_name(&self) -> &'static str {
        "gcp.compute.target_pool"
    }

    fn collection(&self) -> &'static str {
        "targetPools"
    }

    fn describe(&self) -> &'static str {
        "A network load balancer's target pool that GKE made."
    }

    fn rank(&self) -> u32 {
        11
    }

    fn lives(&self) -> Lives {
        Lives::Region
    }

    async fn page(&self, c: &Compute, project: &str, region: &str, token: String) -> Sent<Page> {
        let l = c
            .target_pools
            .list()
            .set_project(project)
            .set_region(region)
            .set_page_token(token)
            .send()
            .await?;
        Ok((
            scoped(&format!("regions/{region}"), l.items),
            l.next_page_token,
        ))
    }

    async fn get(&self, c: &Compute, project: &str, region: &str, name: &str) -> Sent<()> {
        c.target_pools
            .get()
            .set_project(project)
            .set_region(region)
            .set_target_pool(name)
            .send()
            .await
            .map(|_| ())
    }

    async fn delete(
        &self,
        c: &Compute,
        project: &str,
        region: &str,
        name: &str,
    ) -> Sent<Operation> {
        c.target_pools
            .delete()
            .set_project(project)
            .set_region(region)
            .set_target_pool(name)
            .send()
            .await
    }
}
