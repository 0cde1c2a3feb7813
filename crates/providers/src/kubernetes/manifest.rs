//! `kubernetes.manifest`: any object, given as its manifest. Its kind is resolved through the
//! API server's discovery (so a CRD's kinds work too), it is applied with server-side apply, and
//! creation waits for readiness where the kind has one: a Deployment `Available`, a
//! `LoadBalancer` Service with an address. Waiting is polling: no executor slot is held.
//!
//! Drift compares what the manifest says, not the whole object: the live object is projected
//! onto the manifest's shape (the fields it sets, list items by position), since the server
//! fills in much that was not asked for (a Service's `clusterIP`, a port's protocol).

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::discovery::Scope;
use serde_json::Value as Json;
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{OutputSchema, PropType, PropertySchema, ResourceSchema};
use stackform_engine::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind,
    ResourceType,
};

use super::client::{Clients, classify};
use super::{marks, object};

/// Checks for readiness before giving up (at 2 s each, ten minutes).
const READY_POLLS: u32 = 300;

pub struct Manifest {
    schema: ResourceSchema,
    clients: Arc<Clients>,
}

/// What identifies an object: its kind and where it is.
struct Target {
    api_version: String,
    kind: String,
    namespace: Option<String>,
    name: String,
}

impl Target {
    fn of(manifest: &Json) -> Result<Target, ProviderError> {
        let text = |v: &Json, what: &str| {
            v.as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| {
                    ProviderError::new(ErrorKind::Invalid, format!("the manifest has no {what}"))
                })
        };
        Ok(Target {
            api_version: text(&manifest["apiVersion"], "apiVersion")?,
            kind: text(&manifest["kind"], "kind")?,
            namespace: manifest["metadata"]["namespace"]
                .as_str()
                .map(str::to_owned),
            name: text(&manifest["metadata"]["name"], "metadata.name")?,
        })
    }

    /// `API_VERSION/KIND/NAMESPACE/NAME` (the namespace empty for a cluster-scoped kind).
    fn id(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.api_version,
            self.kind,
            self.namespace.as_deref().unwrap_or(""),
            self.name
        )
    }

    fn parse(id: &str) -> Result<Target, ProviderError> {
        let mut parts: Vec<&str> = id.rsplitn(4, '/').collect();
        parts.reverse();
        match parts.as_slice() {
            [api_version, kind, namespace, name] => Ok(Target {
                api_version: (*api_version).to_owned(),
                kind: (*kind).to_owned(),
                namespace: (!namespace.is_empty()).then(|| (*namespace).to_owned()),
                name: (*name).to_owned(),
            }),
            _ => Err(ProviderError::new(
                ErrorKind::Invalid,
                format!("`{id}` is not API_VERSION/KIND/NAMESPACE/NAME"),
            )),
        }
    }

    fn what(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} `{ns}/{}`", self.kind, self.name),
            None => format!("{} `{}`", self.kind, self.name),
        }
    }
}

impl Manifest {
    pub fn new(clients: Arc<Clients>) -> Manifest {
        let schema = ResourceSchema::new(
            "kubernetes.manifest",
            "Any Kubernetes object, given as its manifest (apiVersion, kind, metadata, and the rest), applied with server-side apply; creation waits until a Deployment is available or a LoadBalancer Service has an address.",
        )
        .property(
            PropertySchema::new("manifest", PropType::Any, "The object, as `kubectl apply` takes it.")
                .required(),
        )
        .property(
            PropertySchema::new(
                "wait",
                PropType::Boolean,
                "Whether create and update wait for the object to be ready.",
            )
            .default(true),
        )
        .output(OutputSchema::new("uid", PropType::String, "The uid the API server gave it."))
        .output(OutputSchema::new(
            "load_balancer",
            PropType::String,
            "A LoadBalancer Service's hostname or IP (empty for other kinds).",
        ));
        Manifest { schema, clients }
    }

    /// The typed-by-discovery API for `target`.
    async fn api(
        &self,
        ctx: &OpContext,
        target: &Target,
    ) -> Result<Api<DynamicObject>, ProviderError> {
        let client = self.clients.get(&ctx.settings).await?;
        let (group, version) = match target.api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", target.api_version.as_str()),
        };
        let gvk = GroupVersionKind::gvk(group, version, &target.kind);
        let (resource, caps): (ApiResource, _) = kube::discovery::pinned_kind(&client, &gvk)
            .await
            .map_err(|e| {
                let mut err = classify(&format!("looking up kind {} {}", target.api_version, target.kind), e);
                if err.kind == ErrorKind::Other || err.kind == ErrorKind::NotFound {
                    err.kind = ErrorKind::Invalid;
                    err.message.push_str("; check the manifest's apiVersion and kind (a custom resource's CRD must be installed first)");
                }
                err
            })?;
        Ok(match (caps.scope, &target.namespace) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client, ns, &resource),
            (Scope::Namespaced, None) => {
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!("{} is namespaced: give metadata.namespace", target.kind),
                ));
            }
            (Scope::Cluster, _) => Api::all_with(client, &resource),
        })
    }

    async fn apply_and_wait(
        &self,
        ctx: &OpContext,
        props: &Props,
        first: bool,
    ) -> Result<Outcome, ProviderError> {
        let manifest = manifest_of(props)?;
        let target = Target::of(&manifest)?;
        let api = self.api(ctx, &target).await?;
        let object = desired(ctx, &manifest)?;
        let live = if first {
            object::create(ctx, &api, &target.name, &object, &target.what()).await?
        } else {
            object::apply(&api, &target.name, &object, &target.what()).await?
        };
        if wait(props) && !ready(&live) {
            return Ok(pending(&target, 0));
        }
        Ok(Progress::Done(Some(applied(&target, &live, props))))
    }
}

fn manifest_of(props: &Props) -> Result<Json, ProviderError> {
    match props.get("manifest") {
        Some(v @ Value::Map(_)) => Ok(v.to_json()),
        _ => Err(ProviderError::new(
            ErrorKind::Invalid,
            "`manifest` must be a map: the object as `kubectl apply` takes it",
        )),
    }
}

fn wait(props: &Props) -> bool {
    crate::props::boolean(props, "wait").unwrap_or(true)
}

/// The manifest with the ownership marks added to its labels and annotations.
fn desired(ctx: &OpContext, manifest: &Json) -> Result<DynamicObject, ProviderError> {
    let mut m = manifest.clone();
    for (field, marks) in [
        ("labels", marks::labels(&ctx.ownership)),
        ("annotations", marks::annotations(&ctx.ownership)),
    ] {
        if !m["metadata"][field].is_object() {
            m["metadata"][field] = Json::Object(Default::default());
        }
        for (k, v) in marks {
            m["metadata"][field][k] = Json::String(v);
        }
    }
    serde_json::from_value(m).map_err(|e| {
        ProviderError::new(
            ErrorKind::Invalid,
            format!("the manifest is not an object: {e}"),
        )
    })
}

/// Whether the object is as ready as its kind can say: a Deployment with the `Available`
/// condition true; a LoadBalancer Service with an ingress address; anything else at once.
fn ready(o: &DynamicObject) -> bool {
    let kind = o
        .types
        .as_ref()
        .map(|t| t.kind.as_str())
        .unwrap_or_default();
    match kind {
        "Deployment" => o.data["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Available" && c["status"] == "True")
        }),
        "Service" if o.data["spec"]["type"] == "LoadBalancer" => !load_balancer(o).is_empty(),
        _ => true,
    }
}

fn load_balancer(o: &DynamicObject) -> String {
    let ingress = &o.data["status"]["loadBalancer"]["ingress"][0];
    ingress["hostname"]
        .as_str()
        .or_else(|| ingress["ip"].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn pending(target: &Target, polls: u32) -> Outcome {
    Progress::Pending {
        token: format!("ready:{}:{}", polls + 1, target.id()),
        after: Duration::from_millis(if polls < 10 { 500 } else { 2000 }),
        note: format!("waiting for {} to be ready", target.what()),
    }
}

/// `live` projected onto the shape of `desired`: the fields the manifest sets, as the object
/// holds them; list items by position when the lengths agree.
fn project(desired: &Json, live: &Json) -> Json {
    match (desired, live) {
        (Json::Object(d), Json::Object(l)) => Json::Object(
            d.iter()
                .filter_map(|(k, dv)| Some((k.clone(), project(dv, l.get(k)?))))
                .collect(),
        ),
        (Json::Array(d), Json::Array(l)) if d.len() == l.len() => {
            Json::Array(d.iter().zip(l).map(|(dv, lv)| project(dv, lv)).collect())
        }
        (_, l) => l.clone(),
    }
}

fn applied(target: &Target, live: &DynamicObject, props: &Props) -> Applied {
    let mut properties = props.clone();
    if let Ok(manifest) = manifest_of(props) {
        let mut whole = serde_json::to_value(live).unwrap_or_default();
        // stackform's own marks are not the manifest's.
        for field in ["labels", "annotations"] {
            if let Some(map) = whole["metadata"][field].as_object_mut() {
                map.retain(|k, _| !k.starts_with("stackform.dev/"));
            }
        }
        properties.insert(
            "manifest".to_owned(),
            Value::from_json(&project(&manifest, &whole)),
        );
    }
    Applied {
        physical_id: target.id(),
        properties,
        outputs: Props::from([
            (
                "uid".to_owned(),
                Value::String(live.metadata.uid.clone().unwrap_or_default()),
            ),
            (
                "load_balancer".to_owned(),
                Value::String(load_balancer(live)),
            ),
        ]),
    }
}

/// The parts of a `ready:N:ID` token.
fn parse_ready(token: &str) -> Option<(u32, &str)> {
    let rest = token.strip_prefix("ready:")?;
    let (n, id) = rest.split_once(':')?;
    Some((n.parse().ok()?, id))
}

#[async_trait::async_trait]
impl ResourceType for Manifest {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Tags
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        self.apply_and_wait(ctx, props, true).await
    }

    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let target = Target::parse(id)?;
        let Some(api) = object::unless_cluster_gone(&ctx.settings, self.api(ctx, &target).await)?
        else {
            return Ok(None);
        };
        Ok(object::get(&api, &target.name, &target.what())
            .await?
            .and_then(|o| {
                let m = &o.metadata;
                (marks::owned(ctx, m.labels.as_ref(), m.annotations.as_ref())
                    && !object::terminating(m))
                .then(|| applied(&target, &o, props))
            }))
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        _old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        let target = Target::of(&manifest_of(new)?)?;
        if target.id() != id {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "the manifest now names {}, not {id}: a new object replaces it",
                    target.id()
                ),
            ));
        }
        self.apply_and_wait(ctx, new, false).await
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _props: &Props,
    ) -> Result<Outcome, ProviderError> {
        let target = Target::parse(id)?;
        let Some(api) = object::unless_cluster_gone(&ctx.settings, self.api(ctx, &target).await)?
        else {
            return Ok(Progress::Done(None));
        };
        object::delete(&api, id, &target.name, &target.what()).await
    }

    async fn poll(&self, ctx: &OpContext, token: &str) -> Result<Outcome, ProviderError> {
        if let Some((polls, id)) = object::parse_token(token) {
            let target = Target::parse(id)?;
            let Some(api) =
                object::unless_cluster_gone(&ctx.settings, self.api(ctx, &target).await)?
            else {
                return Ok(Progress::Done(None));
            };
            return object::wait_gone(&api, id, &target.name, &target.what(), polls).await;
        }
        let (polls, id) = parse_ready(token).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!("not a kubernetes.manifest token: {token}"),
            )
        })?;
        let target = Target::parse(id)?;
        let api = self.api(ctx, &target).await?;
        let Some(live) = object::get(&api, &target.name, &target.what()).await? else {
            return Err(ProviderError::new(
                ErrorKind::Other,
                format!(
                    "{} disappeared while waiting for it to be ready",
                    target.what()
                ),
            ));
        };
        if ready(&live) {
            // The properties asked for are what the executor recorded with the intent; the
            // projection is redone by the next read.
            return Ok(Progress::Done(Some(Applied {
                physical_id: target.id(),
                properties: Props::new(),
                outputs: Props::from([
                    (
                        "uid".to_owned(),
                        Value::String(live.metadata.uid.clone().unwrap_or_default()),
                    ),
                    (
                        "load_balancer".to_owned(),
                        Value::String(load_balancer(&live)),
                    ),
                ]),
            })));
        }
        if polls >= READY_POLLS {
            return Err(ProviderError::new(
                ErrorKind::Other,
                format!(
                    "{} is not ready after {polls} checks; `kubectl describe` it to see why (set `wait: false` not to wait)",
                    target.what()
                ),
            ));
        }
        Ok(pending(&target, polls))
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let target = Target::of(&manifest_of(props)?)?;
        self.read(ctx, &target.id(), props).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_for_core_group_and_cluster_scoped_kinds() {
        for id in [
            "apps/v1/Deployment/ml/web",
            "v1/Service/ml/web",
            "v1/Namespace//ml",
        ] {
            assert_eq!(Target::parse(id).unwrap().id(), id);
        }
    }

    #[test]
    fn a_projection_keeps_what_the_manifest_sets_as_the_object_holds_it() {
        let desired =
            serde_json::json!({"spec": {"ports": [{"port": 80}], "type": "LoadBalancer"}});
        let live = serde_json::json!({"spec": {"ports": [{"port": 80, "protocol": "TCP"}], "type": "LoadBalancer", "clusterIP": "10.0.0.1"}});
        assert_eq!(project(&desired, &live), desired);
        let changed = serde_json::json!({"spec": {"ports": [{"port": 81, "protocol": "TCP"}]}});
        assert_eq!(
            project(&desired, &changed),
            serde_json::json!({"spec": {"ports": [{"port": 81}]}})
        );
    }
}
