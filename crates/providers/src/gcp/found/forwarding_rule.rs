//! `gcp.compute.forwarding_rule`: a load balancer's forwarding rule that GKE made for a
//! Service, in the cluster's region. It points at a target pool or a backend service, which go
//! after it.

use google_cloud_compute_v1::model::Operation;
use serde_json::Value as Json;

use super::{Kind, Lives, Page, Sent, path_of, scoped};
use crate::gcp::client::api::Compute;

pub struct ForwardingRule;

#[async_trait::async_trait]
impl Kind for ForwardingRule {
    fn type_name(&self) -> &'static str {
        "gcp.compute.forwarding_rule"
    }

    fn collection(&self) -> &'static str {
        "forwardingRules"
    }

    fn describe(&self) -> &'static str {
        "A load balancer's forwarding rule that GKE made for a Service."
    }

    fn rank(&self) -> u32 {
        10
    }

    fn lives(&self) -> Lives {
        Lives::Region
    }

    fn targets(&self, item: &Json) -> Vec<String> {
        ["target", "backendService"]
            .iter()
            .filter_map(|field| item[*field].as_str().map(path_of))
            .collect()
    }

    async fn page(&self, c: &Compute, project: &str, region: &str, token: String) -> Sent<Page> {
        let l = c
            .forwarding_rules
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
        c.forwarding_rules
            .get()
            .set_project(project)
            .set_region(region)
            .set_forwarding_rule(name)
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
        c.forwarding_rules
            .delete()
            .set_project(project)
            .set_region(region)
            .set_forwarding_rule(name)
            .send()
            .await
    }
}
