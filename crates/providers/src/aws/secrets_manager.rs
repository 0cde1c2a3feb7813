//! Secrets in AWS Secrets Manager: secret `NAME` is the Secrets Manager secret
//! `stackform/NAME`, its keys and values the JSON object in its SecretString, tagged
//! `stackform:secret`. The client is built on first use from the standard chain, so commands
//! that never read a secret never load AWS configuration.

use stackform_engine::ext::secrets::{SecretError, SecretStore, SecretValues, validate_name};
use tokio::sync::OnceCell;

const PREFIX: &str = "stackform/";

pub struct SecretsManager {
    region: Option<String>,
    client: OnceCell<(aws_sdk_secretsmanager::Client, String)>,
}

impl SecretsManager {
    /// The store in `region` (else the chain's region).
    pub fn new(region: Option<String>) -> SecretsManager {
        SecretsManager {
            region,
            client: OnceCell::new(),
        }
    }

    async fn client(&self) -> &(aws_sdk_secretsmanager::Client, String) {
        self.client
            .get_or_init(|| async {
                let config = super::sdk_config(self.region.as_deref()).await;
                let region = config
                    .region()
                    .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string());
                (aws_sdk_secretsmanager::Client::new(&config), region)
            })
            .await
    }
}

fn backend<E>(
    what: &str,
    e: aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> SecretError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    let message = match &e {
        aws_smithy_runtime_api::client::result::SdkError::ServiceError(s) => format!(
            "{}: {}",
            s.err().code().unwrap_or("error"),
            s.err().message().unwrap_or("")
        ),
        other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
    };
    SecretError::Backend {
        what: format!("secretsmanager:{what}"),
        message,
    }
}

fn not_found<E: aws_smithy_types::error::metadata::ProvideErrorMetadata, R>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> bool {
    super::client::is_not_found(e)
}

#[async_trait::async_trait]
impl SecretStore for SecretsManager {
    fn describe(&self) -> String {
        match self.client.get() {
            Some((_, region)) => format!("AWS Secrets Manager in {region}"),
            None => "AWS Secrets Manager".to_owned(),
        }
    }

    async fn get(&self, name: &str) -> Result<Option<SecretValues>, SecretError> {
        validate_name(name)?;
        let (c, _) = self.client().await;
        let out = match c
            .get_secret_value()
            .secret_id(format!("{PREFIX}{name}"))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(backend("GetSecretValue", e)),
        };
        let text = out.secret_string().unwrap_or("{}");
        serde_json::from_str(text)
            .map(Some)
            .map_err(|_| SecretError::Backend {
                what: "secretsmanager:GetSecretValue".into(),
                message: format!("{PREFIX}{name} does not hold a JSON object of strings"),
            })
    }

    async fn names(&self) -> Result<Vec<String>, SecretError> {
        let (c, _) = self.client().await;
        let filter = aws_sdk_secretsmanager::types::Filter::builder()
            .key(aws_sdk_secretsmanager::types::FilterNameStringType::Name)
            .values(PREFIX)
            .build();
        let all = super::client::pages(|token| {
            let filter = filter.clone();
            async move {
                let page = c
                    .list_secrets()
                    .filters(filter)
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| {
                        stackform_engine::provider::ProviderError::new(
                            stackform_engine::provider::ErrorKind::Other,
                            backend("ListSecrets", e).to_string(),
                        )
                    })?;
                let names = page
                    .secret_list()
                    .iter()
                    .filter_map(|s| s.name()?.strip_prefix(PREFIX).map(str::to_owned))
                    .collect();
                Ok((names, page.next_token().map(str::to_owned)))
            }
        })
        .await
        .map_err(|e| SecretError::Backend {
            what: "secretsmanager:ListSecrets".into(),
            message: e.message,
        })?;
        let mut names: Vec<String> = all;
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn put(&self, name: &str, values: &SecretValues) -> Result<(), SecretError> {
        validate_name(name)?;
        let (c, _) = self.client().await;
        let id = format!("{PREFIX}{name}");
        let text = serde_json::to_string(values).expect("string maps serialize");
        match c
            .put_secret_value()
            .secret_id(&id)
            .secret_string(&text)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => c
                .create_secret()
                .name(&id)
                .secret_string(&text)
                .tags(
                    aws_sdk_secretsmanager::types::Tag::builder()
                        .key("stackform:secret")
                        .value(name)
                        .build(),
                )
                .send()
                .await
                .map(|_| ())
                .map_err(|e| backend("CreateSecret", e)),
            Err(e) => Err(backend("PutSecretValue", e)),
        }
    }

    async fn delete(&self, name: &str) -> Result<bool, SecretError> {
        validate_name(name)?;
        let (c, _) = self.client().await;
        match c
            .delete_secret()
            .secret_id(format!("{PREFIX}{name}"))
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if not_found(&e) => Ok(false),
            Err(e) => Err(backend("DeleteSecret", e)),
        }
    }
}
