//! `kubernetes.namespace`: a namespace, the room a stack's workloads live in.
//!
//! Deleting one is asynchronous in Kubernetes: the namespace turns `Terminating` while
//! everything in it is deleted, and only then disappears; the delete waits for that.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace as K8sNamespace;
use kube::api::Api;
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{OutputSchema, PropType, PropertySchema, ResourceSchema};
use stackform_engine::provider::{
    Applied, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind, ResourceType,
};

use super::client::Clients;
use super::{marks, object};

pub struct Namespace {
    schema: ResourceSchema,
    clients: Arc<Clients>,
}

impl Namespace {
    pub fn new(clients: Arc<Clients>) -> Namespace {
        let schema = ResourceSchema::new(
            "kubernetes.namespace",
            "A Kubernetes namespace, in the cluster that providers.kubernetes (kubeconfig, context) reaches.",
        )
        .property(
            PropertySchema::new("name", PropType::String, "The namespace's name (a DNS label).")
                .required()
                .force_new(),
        )
        .property(PropertySchema::new(
            "labels",
            PropType::map_of(PropType::String),
            "Labels, besides stackform's ownership labels.",
        ))
        .property(PropertySchema::new(
            "annotations",
            PropType::map_of(PropType::String),
            "Annotations, besides stackform's.",
        ))
        .output(OutputSchema::new("name", PropType::String, "The namespace's name."))
        .output(OutputSchema::new("uid", PropType::String, "The uid the API server gave it."));
        Namespace { schema, clients }
    }

    async fn api(&self, ctx: &OpContext) -> Result<Api<K8sNamespace>, ProviderError> {
        Ok(Api::all(self.clients.get(&ctx.settings).await?))
    }
}

fn applied(ns: &K8sNamespace, props: &Props) -> Applied {
    let name = ns.metadata.name.clone().unwrap_or_default();
    Applied {
        physical_id: name.clone(),
        properties: object::reported(props, &ns.metadata),
        outputs: Props::from([
            ("name".to_owned(), Value::String(name)),
            (
                "uid".to_owned(),
                Value::String(ns.metadata.uid.clone().unwrap_or_default()),
            ),
        ]),
    }
}

fn what(name: &str) -> String {
    format!("namespace `{name}`")
}

#[async_trait::async_trait]
impl ResourceType for Namespace {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Name("name")
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let name = crate::props::required(props, "name")?;
        let desired = K8sNamespace {
            metadata: object::metadata(ctx, props, &name, None),
            ..K8sNamespace::default()
        };
        let api = self.api(ctx).await?;
        let ns = object::create(ctx, &api, &name, &desired, &what(&name)).await?;
        Ok(Progress::Done(Some(applied(&ns, props))))
    }

    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let Some(api) = object::unless_cluster_gone(&ctx.settings, self.api(ctx).await)? else {
            return Ok(None);
        };
        Ok(object::get(&api, id, &what(id)).await?.and_then(|ns| {
            let m = &ns.metadata;
            (marks::owned(ctx, m.labels.as_ref(), m.annotations.as_ref())
                && !object::terminating(m))
            .then(|| applied(&ns, props))
        }))
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        _old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        let desired = K8sNamespace {
            metadata: object::metadata(ctx, new, id, None),
            ..K8sNamespace::default()
        };
        let api = self.api(ctx).await?;
        let ns = object::apply(&api, id, &desired, &what(id)).await?;
        Ok(Progress::Done(Some(applied(&ns, new))))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _props: &Props,
    ) -> Result<Outcome, ProviderError> {
        let Some(api) = object::unless_cluster_gone(&ctx.settings, self.api(ctx).await)? else {
            return Ok(Progress::Done(None));
        };
        object::delete(&api, id, id, &what(id)).await
    }

    async fn poll(&self, ctx: &OpContext, token: &str) -> Result<Outcome, ProviderError> {
        let (polls, id) = object::parse_token(token).ok_or_else(|| {
            ProviderError::new(
                stackform_engine::provider::ErrorKind::Invalid,
                format!("not a kubernetes.namespace token: {token}"),
            )
        })?;
        let Some(api) = object::unless_cluster_gone(&ctx.settings, self.api(ctx).await)? else {
            return Ok(Progress::Done(None));
        };
        object::wait_gone(&api, id, id, &what(id), polls).await
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let name = crate::props::required(props, "name")?;
        self.read(ctx, &name, props).await
    }
}
