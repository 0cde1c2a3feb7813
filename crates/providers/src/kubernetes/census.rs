//! The census of a cluster: every object of the kinds stackform applies that carries a stack's
//! marks, listed by label selector across all namespaces, so that destroy proves nothing of
//! the stack is left in the cluster and `sweep` finds what a lost state recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use stackform_engine::base::value::Value;
use stackform_engine::provider::{
    Found, Inventory, Marks, Props, ProviderError, TAG_ADDRESS, TAG_EXPIRES_AT, TAG_STACK,
    TAG_STACK_ID,
};

use super::client::{Clients, classify};
use super::marks::{ANNOTATION_ADDRESS, ANNOTATION_EXPIRES_AT, LABEL_STACK, LABEL_STACK_ID};

/// The kinds listed: (group, version, kind, plural, the type that manages them, rank).
/// Namespaced objects go before namespaces (rank), as a namespace's deletion takes them anyway.
const KINDS: &[(&str, &str, &str, &str, &str, u32)] = &[
    (
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        "kubernetes.service_account",
        0,
    ),
    ("", "v1", "Secret", "secrets", "kubernetes.secret", 0),
    (
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        "kubernetes.manifest",
        0,
    ),
    ("", "v1", "Service", "services", "kubernetes.manifest", 0),
    (
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "kubernetes.manifest",
        0,
    ),
    (
        "",
        "v1",
        "Namespace",
        "namespaces",
        "kubernetes.namespace",
        1,
    ),
];

pub struct Census {
    clients: Arc<Clients>,
}

impl Census {
    pub fn new(clients: Arc<Clients>) -> Census {
        Census { clients }
    }
}

/// The label selector that finds the marks (the expiry is an annotation: every stackform
/// object is listed, and filtered after).
fn selector(marks: &Marks) -> String {
    match marks {
        Marks::StackId(id) => format!("{LABEL_STACK_ID}={id}"),
        Marks::StackName(name) => format!("{LABEL_STACK}={name}"),
        Marks::Expiring => LABEL_STACK_ID.to_owned(),
    }
}

#[async_trait::async_trait]
impl Inventory for Census {
    async fn owned(
        &self,
        settings: &Props,
        marks: &Marks,
        kinds: Option<&BTreeSet<String>>,
    ) -> Result<Vec<Found>, ProviderError> {
        // A stack with none of these kinds (no cluster at all) has nothing to list.
        if let Some(k) = kinds
            && !KINDS.iter().any(|(.., t, _)| k.contains(*t))
        {
            return Ok(Vec::new());
        }
        if !super::client::configured(settings) {
            return Ok(Vec::new());
        }
        // The cluster itself is gone (destroy deletes it before the census): nothing is left
        // inside it.
        let Some(client) =
            super::object::unless_cluster_gone(settings, self.clients.fresh(settings).await)?
        else {
            return Ok(Vec::new());
        };
        let params = ListParams::default().labels(&selector(marks));
        let mut out = Vec::new();
        for (group, version, kind, plural, type_name, rank) in KINDS {
            if kinds.is_some_and(|k| !k.contains(*type_name)) {
                continue;
            }
            let gvk = GroupVersionKind::gvk(group, version, kind);
            let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
            let listed = api
                .list(&params)
                .await
                .map_err(|e| classify(&format!("listing {plural}"), e))?;
            for o in listed.items {
                let labels = o.metadata.labels.clone().unwrap_or_default();
                let annotations = o.metadata.annotations.clone().unwrap_or_default();
                let mut tags = BTreeMap::new();
                for (theirs, ours) in [(LABEL_STACK, TAG_STACK), (LABEL_STACK_ID, TAG_STACK_ID)] {
                    if let Some(v) = labels.get(theirs) {
                        tags.insert(ours.to_owned(), v.clone());
                    }
                }
                for (theirs, ours) in [
                    (ANNOTATION_ADDRESS, TAG_ADDRESS),
                    (ANNOTATION_EXPIRES_AT, TAG_EXPIRES_AT),
                ] {
                    if let Some(v) = annotations.get(theirs) {
                        tags.insert(ours.to_owned(), v.clone());
                    }
                }
                if !marks.matches(&tags) || o.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                let name = o.metadata.name.clone().unwrap_or_default();
                let namespace = o.metadata.namespace.clone().unwrap_or_default();
                let api_version = resource.api_version.clone();
                let (physical_id, properties) = match *type_name {
                    "kubernetes.namespace" => (name.clone(), Props::new()),
                    "kubernetes.manifest" => (
                        format!("{api_version}/{kind}/{namespace}/{name}"),
                        Props::from([(
                            "manifest".to_owned(),
                            Value::from_json(&serde_json::json!({
                                "apiVersion": api_version, "kind": kind,
                                "metadata": {"name": name, "namespace": namespace},
                            })),
                        )]),
                    ),
                    _ => (format!("{namespace}/{name}"), Props::new()),
                };
                out.push(Found {
                    type_name: (*type_name).to_owned(),
                    label: format!("{kind} {}", physical_id),
                    physical_id,
                    tags,
                    properties,
                    outputs: Props::new(),
                    rank: *rank,
                });
            }
        }
        Ok(out)
    }
}
