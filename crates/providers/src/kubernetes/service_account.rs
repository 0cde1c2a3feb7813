//! `kubernetes.service_account`: the identity pods run as. Its annotations are how a cloud's
//! workload identity binds it (`eks.amazonaws.com/role-arn`,
//! `iam.gke.io/gcp-service-account`, `azure.workload.identity/client-id`).

use std::sync::Arc;

use k8s_openapi::api::core::v1::ServiceAccount as K8sServiceAccount;
use kube::api::Api;
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{OutputSchema, PropType, PropertySchema, ResourceSchema};
use stackform_engine::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind,
    ResourceType,
};

use super::client::Clients;
use super::{marks, object};

pub struct ServiceAccount {
    schema: ResourceSchema,
    clients: Arc<Clients>,
}

impl ServiceAccount {
    pub fn new(clients: Arc<Clients>) -> ServiceAccount {
        let schema = ResourceSchema::new(
            "kubernetes.service_account",
            "A Kubernetes service account: the identity pods run as, bound to cloud rights through its annotations.",
        )
        .property(
            PropertySchema::new("name", PropType::String, "The service account's name.")
                .required()
                .force_new(),
        )
        .property(
            PropertySchema::new("namespace", PropType::String, "The namespace it lives in.")
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
            "Annotations (workload identity bindings among them), besides stackform's.",
        ))
        .property(PropertySchema::new(
            "automount_token",
            PropType::Boolean,
            "Whether pods mount its API token by default (automountServiceAccountToken).",
        ))
        .output(OutputSchema::new("name", PropType::String, "Its name."))
        .output(OutputSchema::new("namespace", PropType::String, "Its namespace."))
        .output(OutputSchema::new("uid", PropType::String, "The uid the API server gave it."))
        .output(OutputSchema::new(
            "subject",
            PropType::String,
            "`system:serviceaccount:NAMESPACE:NAME`, as cloud trust policies name it.",
        ));
        ServiceAccount { schema, clients }
    }

    async fn api(
        &self,
        ctx: &OpContext,
        namespace: &str,
    ) -> Result<Api<K8sServiceAccount>, ProviderError> {
        Ok(Api::namespaced(
            self.clients.get(&ctx.settings).await?,
            namespace,
        ))
    }
}

/// `NAMESPACE/NAME`, the physical id.
fn split(id: &str) -> Result<(&str, &str), ProviderError> {
    id.split_once('/').ok_or_else(|| {
        ProviderError::new(ErrorKind::Invalid, format!("`{id}` is not NAMESPACE/NAME"))
    })
}

fn what(namespace: &str, name: &str) -> String {
    format!("service account `{namespace}/{name}`")
}

fn desired(ctx: &OpContext, props: &Props, namespace: &str, name: &str) -> K8sServiceAccount {
    K8sServiceAccount {
        metadata: object::metadata(ctx, props, name, Some(namespace)),
        automount_service_account_token: crate::props::boolean(props, "automount_token"),
        ..K8sServiceAccount::default()
    }
}

fn applied(sa: &K8sServiceAccount, props: &Props) -> Applied {
    let name = sa.metadata.name.clone().unwrap_or_default();
    let namespace = sa.metadata.namespace.clone().unwrap_or_default();
    let mut properties = object::reported(props, &sa.metadata);
    if let Some(b) = sa.automount_service_account_token {
        properties.insert("automount_token".to_owned(), Value::Bool(b));
    }
    Applied {
        physical_id: format!("{namespace}/{name}"),
        properties,
        outputs: Props::from([
            ("name".to_owned(), Value::String(name.clone())),
            ("namespace".to_owned(), Value::String(namespace.clone())),
            (
                "uid".to_owned(),
                Value::String(sa.metadata.uid.clone().unwrap_or_default()),
            ),
            (
                "subject".to_owned(),
                Value::String(format!("system:serviceaccount:{namespace}:{name}")),
            ),
        ]),
    }
}

#[async_trait::async_trait]
impl ResourceType for ServiceAccount {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Name("name")
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let name = crate::props::required(props, "name")?;
        let namespace = crate::props::required(props, "namespace")?;
        let api = self.api(ctx, &namespace).await?;
        let sa = object::create(
            ctx,
            &api,
            &name,
            &desired(ctx, props, &namespace, &name),
            &what(&namespace, &name),
        )
        .await?;
        Ok(Progress::Done(Some(applied(&sa, props))))
    }

    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let (namespace, name) = split(id)?;
        let Some(api) = object::unless_cluster_gone(&ctx.settings, self.api(ctx, namespace).await)?
        else {
            return Ok(None);
        };
        Ok(object::get(&api, name, &what(namespace, name))
            .await?
            .and_then(|sa| {
                let m = &sa.metadata;
                (marks::owned(ctx, m.labels.as_ref(), m.annotations.as_ref())
                    && !object::terminating(m))
                .then(|| applied(&sa, props))
            }))
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        _old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        let (namespace, name) = split(id)?;
        let api = self.api(ctx, namespace).await?;
        let sa = object::apply(
            &api,
            name,
            &desired(ctx, new, namespace, name),
            &what(namespace, name),
        )
        .await?;
        Ok(Progress::Done(Some(applied(&sa, new))))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _props: &Props,
    ) -> Result<Outcome, ProviderError> {
        let (namespace, name) = split(id)?;
        let Some(api) = object::unless_cluster_gone(&ctx.settings, self.api(ctx, namespace).await)?
        else {
            return Ok(Progress::Done(None));
        };
        object::delete(&api, id, name, &what(namespace, name)).await
    }

    async fn poll(&self, ctx: &OpContext, token: &str) -> Result<Outcome, ProviderError> {
        let (polls, id) = object::parse_token(token).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!("not a kubernetes.service_account token: {token}"),
            )
        })?;
        let (namespace, name) = split(id)?;
        let Some(api) = object::unless_cluster_gone(&ctx.settings, self.api(ctx, namespace).await)?
        else {
            return Ok(Progress::Done(None));
        };
        object::wait_gone(&api, id, name, &what(namespace, name), polls).await
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let name = crate::props::required(props, "name")?;
        let namespace = crate::props::required(props, "namespace")?;
        self.read(ctx, &format!("{namespace}/{name}"), props).await
    }
}
