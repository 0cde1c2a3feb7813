//! The moto servers the AWS tests run against: started on free loopback ports from the pinned
//! install that `scripts/emulators install moto` makes, one per test, and killed with the test
//! process. A missing install fails the test with that command.

use std::process::Command;
use std::sync::OnceLock;

use crate::harness::emulator::{free_port, installed, serve};

/// A running moto server.
pub struct Moto {
    pub url: String,
}

/// An S3 client on `config`, path style: moto has no DNS for virtual hosts.
pub fn s3(config: &aws_types::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

/// Starts a moto server that dies with this test process.
pub fn start() -> Moto {
    let port = free_port();
    let mut cmd = Command::new(installed("moto/bin/moto_server", "moto"));
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true");
    serve(cmd, port, "moto");
    Moto {
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// A server shared by tests that cannot disturb each other. The AWS tests each start their own:
/// moto gives every EKS cluster of a process the same OIDC issuer URL (real AWS makes one per
/// cluster), so two stacks' OIDC providers would collide on one server.
#[allow(dead_code)]
pub fn shared() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| match std::env::var("STACKFORM_TEST_MOTO_URL") {
        Ok(url) if !url.is_empty() => Moto { url },
        _ => start(),
    })
}

impl Moto {
    /// The environment that points stackform (and the SDK) at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_REGION", "eu-central-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ]
    }

    /// An SDK config for independent checks.
    pub async fn sdk(&self) -> aws_types::SdkConfig {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .endpoint_url(&self.url)
            .region(aws_config::Region::new("eu-central-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load()
            .await
    }

    /// An S3 client for independent checks.
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        s3(&self.sdk().await)
    }

    /// Creates a bucket in eu-central-1, as someone outside stackform would.
    pub async fn create_bucket(&self, name: &str) {
        self.s3()
            .await
            .create_bucket()
            .bucket(name)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuCentral1)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }

    /// Makes moto check credentials (`true`) or accept any (`false`).
    pub fn enforce_auth(&self, on: bool) {
        let body = if on { "0" } else { "inf" };
        let status = Command::new("python3")
            .args([
                "-c",
                &format!(
                    "import urllib.request; urllib.request.urlopen(urllib.request.Request('{}/moto-api/reset-auth', data=b'{body}', method='POST', headers={{'Content-Type': 'application/json'}}))",
                    self.url
                ),
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }
}
