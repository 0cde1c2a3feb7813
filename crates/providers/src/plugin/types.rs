//! A plugin's resource type: every operation is one protocol call.

use std::sync::Arc;

use serde_json::{Value as Json, json};
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::ResourceSchema;
use stackform_engine::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, RecoveryKind,
    ResourceType,
};

use super::protocol::Plugin;

pub struct PluginType {
    plugin: Arc<Plugin>,
    schema: ResourceSchema,
}

impl PluginType {
    pub fn new(plugin: Arc<Plugin>, schema: ResourceSchema) -> PluginType {
        PluginType { plugin, schema }
    }

    fn props_json(props: &Props) -> Json {
        Json::Object(
            props
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
        )
    }

    fn envelope(&self, ctx: &OpContext, mut fields: Json) -> Json {
        fields["type"] = json!(self.schema.type_name);
        fields["ownership"] = json!({
            "stack": ctx.ownership.stack,
            "stack_id": ctx.ownership.stack_id.to_string(),
            "address": ctx.ownership.address,
        });
        fields["settings"] = Self::props_json(&ctx.settings);
        fields
    }

    /// One call, off the async executor (the plugin is a process we wait for).
    async fn call(&self, op: &str, request: Json) -> Result<Json, ProviderError> {
        let plugin = Arc::clone(&self.plugin);
        let request = Plugin::request(op, request);
        tokio::task::spawn_blocking(move || plugin.call_blocking(&request))
            .await
            .map_err(|e| ProviderError::new(ErrorKind::Other, format!("plugin call: {e}")))?
    }

    /// The `resource` of an answer, or `None` for `null`.
    fn resource(
        &self,
        op: &str,
        answer: &Json,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let r = &answer["resource"];
        if r.is_null() {
            return Ok(None);
        }
        let id = r["id"].as_str().filter(|i| !i.is_empty()).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::OutcomeUnknown,
                format!(
                    "plugin `{}` answered {op} of {} without a resource `id`",
                    self.plugin.name, self.schema.type_name
                ),
            )
        })?;
        let map = |j: &Json| -> Props {
            j.as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), Value::from_json(v)))
                        .collect()
                })
                .unwrap_or_default()
        };
        // Properties the plugin does not report keep the values asked for.
        let mut properties = props.clone();
        properties.extend(map(&r["properties"]));
        Ok(Some(Applied {
            physical_id: id.to_owned(),
            properties,
            outputs: map(&r["outputs"]),
        }))
    }
}

#[async_trait::async_trait]
impl ResourceType for PluginType {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    fn recovery(&self) -> RecoveryKind {
        // The plugin records the ownership it is given on create; `find` looks it up.
        RecoveryKind::Tags
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let req = self.envelope(ctx, json!({ "properties": Self::props_json(props) }));
        let answer = self.call("create", req).await?;
        let applied = self.resource("create", &answer, props)?.ok_or_else(|| {
            ProviderError::new(
                ErrorKind::OutcomeUnknown,
                format!(
                    "plugin `{}` answered create with no resource",
                    self.plugin.name
                ),
            )
        })?;
        Ok(Progress::Done(Some(applied)))
    }

    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let req = self.envelope(
            ctx,
            json!({ "id": id, "properties": Self::props_json(props) }),
        );
        let answer = self.call("read", req).await?;
        self.resource("read", &answer, props)
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        let req = self.envelope(
            ctx,
            json!({ "id": id, "old": Self::props_json(old), "properties": Self::props_json(new) }),
        );
        let answer = self.call("update", req).await?;
        Ok(Progress::Done(self.resource("update", &answer, new)?))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Outcome, ProviderError> {
        let req = self.envelope(
            ctx,
            json!({ "id": id, "properties": Self::props_json(props) }),
        );
        match self.call("delete", req).await {
            Ok(_) => Ok(Progress::Done(None)),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(Progress::Done(None)),
            Err(e) => Err(e),
        }
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let req = self.envelope(ctx, json!({ "properties": Self::props_json(props) }));
        let answer = self.call("find", req).await?;
        self.resource("find", &answer, props)
    }
}
