//! `aws.caller_identity` (data): who the credentials are, for ARNs a template must build.

use std::sync::Arc;

use stackform_engine::lang::schema::{OutputSchema, PropType, ResourceSchema};
use stackform_engine::provider::{DataSource, Props, ProviderError};

use super::Aws;
use super::client::classify;
use super::util::s;

pub struct CallerIdentity {
    schema: ResourceSchema,
    aws: Arc<Aws>,
}

impl CallerIdentity {
    pub fn new(aws: Arc<Aws>) -> CallerIdentity {
        let schema = ResourceSchema::new(
            "aws.caller_identity",
            "The account and identity of the credentials in use.",
        )
        .output(OutputSchema::new(
            "account_id",
            PropType::String,
            "The 12-digit account id.",
        ))
        .output(OutputSchema::new(
            "arn",
            PropType::String,
            "The caller's ARN.",
        ))
        .output(OutputSchema::new(
            "region",
            PropType::String,
            "The region the provider uses.",
        ));
        CallerIdentity { schema, aws }
    }
}

#[async_trait::async_trait]
impl DataSource for CallerIdentity {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn read(&self, settings: &Props, _props: &Props) -> Result<Props, ProviderError> {
        let c = self.aws.clients_for(settings).await?;
        let out = c
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| classify(e, "sts:GetCallerIdentity", &c))?;
        Ok(Props::from([
            (
                "account_id".to_owned(),
                s(out.account().unwrap_or_default()),
            ),
            ("arn".to_owned(), s(out.arn().unwrap_or_default())),
            ("region".to_owned(), s(c.region.clone())),
        ]))
    }
}
