//! `azure.client_config` (data): who deploys, for what a template must grant that identity
//! itself (the AKS cluster's admin role, so that the stack can make objects inside it).

use std::sync::Arc;

use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{OutputSchema, PropType, ResourceSchema};
use stackform_engine::provider::{DataSource, Props, ProviderError};

use super::client::Azure;
use crate::props::string;

pub struct ClientConfig {
    schema: ResourceSchema,
    azure: Arc<Azure>,
}

impl ClientConfig {
    pub fn new(azure: Arc<Azure>) -> ClientConfig {
        let schema = ResourceSchema::new(
            "azure.client_config",
            "The identity the provider signs in to Azure as (its connector's, or the environment's).",
        )
        .output(OutputSchema::new(
            "object_id",
            PropType::String,
            "Its object id: what role assignments name.",
        ))
        .output(OutputSchema::new(
            "principal_type",
            PropType::String,
            "`ServicePrincipal` or `User`, as role assignments take it.",
        ))
        .output(OutputSchema::new("tenant_id", PropType::String, "Its tenant."))
        .output(OutputSchema::new(
            "subscription_id",
            PropType::String,
            "The subscription the provider uses.",
        ));
        ClientConfig { schema, azure }
    }
}

#[async_trait::async_trait]
impl DataSource for ClientConfig {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn read(&self, settings: &Props, _props: &Props) -> Result<Props, ProviderError> {
        let arm = self.azure.arm_for(settings).await?;
        let caller = arm.caller().await?;
        let subscription = string(settings, "subscription_id")
            .filter(|s| !s.is_empty())
            .or_else(|| arm.subscription.clone())
            .or_else(|| {
                std::env::var("AZURE_SUBSCRIPTION_ID")
                    .ok()
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_default();
        Ok(Props::from([
            ("object_id".to_owned(), Value::String(caller.object_id)),
            (
                "principal_type".to_owned(),
                Value::String(caller.principal_type),
            ),
            ("tenant_id".to_owned(), Value::String(caller.tenant_id)),
            ("subscription_id".to_owned(), Value::String(subscription)),
        ]))
    }
}
