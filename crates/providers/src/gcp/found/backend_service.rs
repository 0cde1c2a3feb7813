//! `gcp.compute.backend_service`: a load balancer's backend service that GKE made for an
//! Ingress (global). It uses network endpoint groups, which go after it; forwarding rules that
//! point at it go before.

use google_cloud_compute_v1::model::Operation;
use serde_json::Value as Json;

use super::{Kind, Lives, Page, Sent, path_of, scoped};
use crate::gcp::client::api::Compute;

pub struct BackendService;

#[async_trait::async_trait]
impl Kind for BackendService {
    fn type_name(&self) -> &'static str {
        "gcp.compute.backend_service"
    }

    fn collection(&self) -> &'static str {
        "backendServices"
    }

    fn describe(&self) -> &'static str {
        "A load balancer's backend service that GKE made for an Ingress."
    }

    fn rank(&self) -> u32 {
        11
    }

    fn lives(&self) -> Lives {
        Lives::Global
    }

    fn targets(&self, item: &Json) -> Vec<String> {
        item["backends"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b["group"].as_str().map(path_of))
            .collect()
    }

    async fn page(&self, c: &Compute, project: &str, _region: &str, token: String) -> Sent<Page> {
        let l = c
            .backend_services
            .list()
            .set_project(project)
            .set_page_token(token)
            .send()
            .await?;
        Ok((scoped("global", l.items), l.next_page_token))
    }

    async fn get(&self, c: &Compute, project: &str, _scope: &str, name: &str) -> Sent<()> {
        c.backend_services
            .get()
            .set_project(project)
            .set_backend_service(name)
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
        c.backend_services
            .delete()
            .set_project(project)
            .set_backend_service(name)
            .send()
            .await
    }
}
