//! `kubernetes.secret`: a Secret whose values come from stackform secrets (`{{ name.key }}`
//! through a sensitive input) or sensitive outputs. `data` is a sensitive property: the state
//! holds its keyed hash, never the values, and a value changed in the cluster shows as drift by
//! that hash.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret as K8sSecret;
use kube::api::Api;
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{OutputSchema, PropType, PropertySchema, ResourceSchema};
use stackform_engine::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind,
    ResourceType,
};

use super::client::Clients;
use super::{marks, object};

pub struct Secret {
    schema: ResourceSchema,
    clients: Arc<Clients>,
}

impl Secret {
    pub fn new(clients: Arc<Clients>) -> Secret {
        let schema = ResourceSchema::new(
            "kubernetes.secret",
            "A Kubernetes Secret. Its values are sensitive: give them from stackform secrets (a sensitive input set to `{{ name.key }}`) or sensitive outputs; the state keeps only a keyed hash.",
        )
        .property(
            PropertySchema::new("name", PropType::String, "The Secret's name.")
                .required()
                .force_new(),
        )
        .property(
            PropertySchema::new("namespace", PropType::String, "The namespace it lives in.")
                .required()
                .force_new(),
        )
        .property(
            PropertySchema::new("type", PropType::String, "The Secret's type (immutable).")
                .default("Opaque")
                .force_new(),
        )
        .property(
            PropertySchema::new(
                "data",
                PropType::map_of(PropType::String),
                "Keys and their values (text; sent base64 as the API wants).",
            )
            .required()
            .secret_only(),
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
        .output(OutputSchema::new("name", PropType::String, "Its name."))
        .output(OutputSchema::new("namespace", PropType::String, "Its namespace."));
        Secret { schema, clients }
    }

    async fn api(&self, ctx: &OpContext, namespace: &str) -> Result<Api<K8sSecret>, ProviderError> {
        Ok(Api::namespaced(
            self.clients.get(&ctx.settings).await?,
            namespace,
        ))
    }
}

fn split(id: &str) -> Result<(&str, &str), ProviderError> {
    id.split_once('/').ok_or_else(|| {
        ProviderError::new(ErrorKind::Invalid, format!("`{id}` is not NAMESPACE/NAME"))
    })
}

fn what(namespace: &str, name: &str) -> String {
    format!("secret `{namespace}/{name}`")
}

fn desired(ctx: &OpContext, props: &Props, namespace: &str, name: &str) -> K8sSecret {
    let data: BTreeMap<String, ByteString> = crate::props::string_map(props, "data")
        .into_iter()
        .map(|(k, v)| (k, ByteString(v.into_bytes())))
        .collect();
    K8sSecret {
        metadata: object::metadata(ctx, props, name, Some(namespace)),
        type_: Some(crate::props::string(props, "type").unwrap_or_else(|| "Opaque".into())),
        data: Some(data),
        ..K8sSecret::default()
    }
}

fn applied(s: &K8sSecret, props: &Props) -> Applied {
    let name = s.metadata.name.clone().unwrap_or_default();
    let namespace = s.metadata.namespace.clone().unwrap_or_default();
    let mut properties = object::reported(props, &s.metadata);
    let data: BTreeMap<String, Value> = s
        .data
        .iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.clone(),
                Value::String(String::from_utf8_lossy(&v.0).into_owned()),
            )
        })
        .collect();
    properties.insert("data".to_owned(), Value::Map(data));
    if let Some(t) = &s.type_ {
        properties.insert("type".to_owned(), Value::String(t.clone()));
    }
    Applied {
        physical_id: format!("{namespace}/{name}"),
        properties,
        outputs: Props::from([
            ("name".to_owned(), Value::String(name)),
            ("namespace".to_owned(), Value::String(namespace)),
        ]),
    }
}

#[async_trait::async_trait]
impl ResourceType for Secret {
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
        let s = object::create(
            ctx,
            &api,
            &name,
            &desired(ctx, props, &namespace, &name),
            &what(&namespace, &name),
        )
        .await?;
        Ok(Progress::Done(Some(applied(&s, props))))
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
            .and_then(|s| {
                let m = &s.metadata;
                (marks::owned(ctx, m.labels.as_ref(), m.annotations.as_ref())
                    && !object::terminating(m))
                .then(|| applied(&s, props))
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
        let s = object::apply(
            &api,
            name,
            &desired(ctx, new, namespace, name),
            &what(namespace, name),
        )
        .await?;
        Ok(Progress::Done(Some(applied(&s, new))))
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
                format!("not a kubernetes.secret token: {token}"),
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
