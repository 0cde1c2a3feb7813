//! What every Kubernetes type does the same way: apply, read, delete and wait.
//!
//! Apply is server-side apply (`PATCH` with `application/apply-patch+yaml`) under the field
//! manager `stackform` with `force`: the fields stackform sets are its own, a field it stops
//! setting is removed, and fields others manage (a controller's) are left alone.
//! https://kubernetes.io/docs/reference/using-api/server-side-apply/
//!
//! Before the first apply the object is read: server-side apply creates what is missing and
//! takes over what exists, so an object of the same name that is not this stack's is refused
//! rather than silently adopted.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use stackform_engine::base::value::Value;
use stackform_engine::provider::{ErrorKind, OpContext, Outcome, Progress, Props, ProviderError};

use super::client::classify;
use super::marks;

/// The field manager stackform applies as.
pub const FIELD_MANAGER: &str = "stackform";

/// How long a delete is waited for before it is reported as stuck (a namespace whose
/// finalizers never finish).
const DELETE_POLLS: u32 = 600;

/// Metadata for an object stackform applies: the user's labels and annotations with the
/// ownership marks over them.
pub fn metadata(ctx: &OpContext, props: &Props, name: &str, namespace: Option<&str>) -> ObjectMeta {
    let mut labels = crate::props::string_map(props, "labels");
    labels.extend(marks::labels(&ctx.ownership));
    let mut annotations = crate::props::string_map(props, "annotations");
    annotations.extend(marks::annotations(&ctx.ownership));
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(labels),
        annotations: Some(annotations),
        ..ObjectMeta::default()
    }
}

/// `props` with `labels` and `annotations` as the object holds them (the user's part), so that
/// a label changed in the cluster shows as drift.
pub fn reported(props: &Props, meta: &ObjectMeta) -> Props {
    let mut out = props.clone();
    for (field, held) in [("labels", &meta.labels), ("annotations", &meta.annotations)] {
        let user = marks::user(held.as_ref());
        if user.is_empty() && matches!(props.get(field), None | Some(Value::Null)) {
            continue;
        }
        out.insert(field.to_owned(), string_map(user));
    }
    out
}

fn string_map(m: BTreeMap<String, String>) -> Value {
    Value::Map(m.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
}

/// Reads `name`; `None` if there is none.
pub async fn get<K>(api: &Api<K>, name: &str, what: &str) -> Result<Option<K>, ProviderError>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug,
{
    api.get_opt(name)
        .await
        .map_err(|e| classify(&format!("reading {what}"), e))
}

/// Whether `meta` is of an object that is going away (a delete was accepted, finalizers run).
pub fn terminating(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

/// Creates `object` (or takes back one that is this stack's), refusing another's.
pub async fn create<K>(
    ctx: &OpContext,
    api: &Api<K>,
    name: &str,
    object: &K,
    what: &str,
) -> Result<K, ProviderError>
where
    K: kube::Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    if let Some(existing) = get(api, name, what).await? {
        let meta = existing.meta();
        if !marks::owned(ctx, meta.labels.as_ref(), meta.annotations.as_ref()) {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "{what} already exists and is not this stack's (no {} label with its id); choose another name, or delete it first",
                    marks::LABEL_STACK_ID
                ),
            ));
        }
    }
    apply(api, name, object, what).await
}

/// Applies `object` under the field manager `stackform`.
pub async fn apply<K>(api: &Api<K>, name: &str, object: &K, what: &str) -> Result<K, ProviderError>
where
    K: kube::Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .map_err(|e| classify(&format!("applying {what}"), e))
}

/// `made` (a client or an API for the cluster), unless the cluster itself is gone (an EKS,
/// GKE or AKS cluster deleted outside stackform): then `None`, since everything in it went with it.
pub fn unless_cluster_gone<T>(
    settings: &stackform_engine::provider::Props,
    made: Result<T, ProviderError>,
) -> Result<Option<T>, ProviderError> {
    match made {
        Ok(t) => Ok(Some(t)),
        Err(e)
            if e.kind == stackform_engine::provider::ErrorKind::NotFound
                && ["eks_cluster", "gke_cluster", "aks_cluster"]
                    .iter()
                    .any(|k| settings.contains_key(*k)) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Deletes `name` with foreground propagation (what it owns goes first) and waits for it to be
/// gone: `Pending` until a read finds nothing.
pub async fn delete<K>(
    api: &Api<K>,
    id: &str,
    name: &str,
    what: &str,
) -> Result<Outcome, ProviderError>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug,
{
    match api.delete(name, &DeleteParams::foreground()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(Progress::Done(None)),
        Err(e) => return Err(classify(&format!("deleting {what}"), e)),
    }
    wait_gone(api, id, name, what, 0).await
}

/// One look at an object being deleted: gone, or still there (poll again with the token).
pub async fn wait_gone<K>(
    api: &Api<K>,
    id: &str,
    name: &str,
    what: &str,
    polls: u32,
) -> Result<Outcome, ProviderError>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug,
{
    if get(api, name, what).await?.is_none() {
        return Ok(Progress::Done(None));
    }
    if polls >= DELETE_POLLS {
        return Err(ProviderError::new(
            ErrorKind::Other,
            format!(
                "{what} is still being deleted after {polls} checks: its finalizers have not finished; `kubectl get` it to see which"
            ),
        ));
    }
    Ok(Progress::Pending {
        token: format!("delete:{}:{id}", polls + 1),
        after: Duration::from_millis(if polls < 10 { 500 } else { 2000 }),
        note: format!("waiting for {what} to be deleted"),
    })
}

/// The parts of a `delete:N:ID` token.
pub fn parse_token(token: &str) -> Option<(u32, &str)> {
    let rest = token.strip_prefix("delete:")?;
    let (n, id) = rest.split_once(':')?;
    Some((n.parse().ok()?, id))
}
