//! The moto servers the AWS tests run against: started on free loopback ports from the pinned
//! install that `scripts/emulators install moto` makes, one per test, and killed with the test
//! process. A missing install fails the test with that command.

use std::process::Command;
use std::sync::OnceLock;

use crate::contract::kube_api::{CloudEvent, Controller, KubeApi};
use crate::harness::emulator::{free_port, installed, serve};

/// A running moto server.
pub struct Moto {
    pub url: String,
    /// The API server of every EKS cluster made on this moto (moto has none): a loopback
    /// Kubernetes contract server that takes EKS tokens, where `STACKFORM_KUBERNETES_ENDPOINT`
    /// sends stackform.
    pub kube: std::sync::Arc<KubeApi>,
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
        kube: kube_api(&format!("http://127.0.0.1:{port}")),
    }
}

/// The API servers of the EKS clusters made on the moto at `url`, one per cluster (moto runs
/// none), whose LoadBalancer Services get load balancers on that moto, as the cloud's service
/// controller makes them.
pub fn kube_api(url: &str) -> std::sync::Arc<KubeApi> {
    std::sync::Arc::new(crate::contract::kube_api::start_eks_with(
        &[],
        Some(service_controller(url.to_owned())),
    ))
}

/// The service controller of the AWS cloud provider, for the clusters on the moto at `url`: a
/// `LoadBalancer` Service gets a network load balancer in the cluster's subnets, a target
/// group in its VPC and a listener, tagged `kubernetes.io/cluster/CLUSTER=owned` and
/// `kubernetes.io/service-name=NS/NAME` as that controller tags them
/// (kubernetes/cloud-provider-aws, `TagNameKubernetesService`); a deleted Service's load
/// balancer and target group are deleted.
fn service_controller(url: String) -> Controller {
    std::sync::Arc::new(move |event: &CloudEvent| {
        let (place, wanted) = match event {
            CloudEvent::LoadBalancerWanted(p) => (p, true),
            CloudEvent::LoadBalancerGone(p) => (p, false),
        };
        let region = if place.region.is_empty() {
            "eu-central-1".to_owned()
        } else {
            place.region.to_owned()
        };
        let cluster = place.cluster.to_owned();
        let service = format!("{}/{}", place.namespace, place.name);
        let url = url.clone();
        crate::harness::rt().block_on(async move {
            let config = sdk_at(&url, &region).await;
            let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
            if wanted {
                make_load_balancer(&config, &elb, &cluster, &service).await
            } else {
                delete_load_balancer(&elb, &cluster, &service).await;
                None
            }
        })
    })
}

async fn make_load_balancer(
    config: &aws_types::SdkConfig,
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    cluster: &str,
    service: &str,
) -> Option<String> {
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, LoadBalancerTypeEnum, ProtocolEnum, Tag,
    };
    let eks = aws_sdk_eks::Client::new(config);
    let described = eks.describe_cluster().name(cluster).send().await.ok()?;
    let subnets = described
        .cluster()?
        .resources_vpc_config()?
        .subnet_ids()
        .to_vec();
    // The VPC of the cluster's subnets (EKS reports it; moto does not).
    let vpc_id = aws_sdk_ec2::Client::new(config)
        .describe_subnets()
        .subnet_ids(subnets.first()?)
        .send()
        .await
        .ok()?
        .subnets()
        .first()?
        .vpc_id()?
        .to_owned();
    let hash = crate::contract::shared::fnv(&format!("{cluster}/{service}"));
    let name = format!("k8s-{:016x}", hash);
    let tags = [
        Tag::builder()
            .key(format!("kubernetes.io/cluster/{cluster}"))
            .value("owned")
            .build(),
        Tag::builder()
            .key("kubernetes.io/service-name")
            .value(service)
            .build(),
    ];
    let lb = elb
        .create_load_balancer()
        .name(&name)
        .r#type(LoadBalancerTypeEnum::Network)
        .set_subnets(Some(subnets))
        .set_tags(Some(tags.to_vec()))
        .send()
        .await
        .ok()?;
    let lb = lb.load_balancers().first()?;
    let group = elb
        .create_target_group()
        .name(&name)
        .protocol(ProtocolEnum::Tcp)
        .port(30080)
        .vpc_id(vpc_id)
        .set_tags(Some(tags.to_vec()))
        .send()
        .await
        .ok()?;
    let group_arn = group
        .target_groups()
        .first()?
        .target_group_arn()?
        .to_owned();
    elb.create_listener()
        .load_balancer_arn(lb.load_balancer_arn()?)
        .protocol(ProtocolEnum::Tcp)
        .port(80)
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(group_arn)
                .build(),
        )
        .send()
        .await
        .ok()?;
    lb.dns_name().map(str::to_owned)
}

/// The load balancers and target groups tagged for `service` of `cluster`.
pub async fn service_load_balancers(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    cluster: &str,
    service: &str,
) -> (Vec<String>, Vec<String>) {
    let mut arns = Vec::new();
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    arns.extend(
        lbs.load_balancers()
            .iter()
            .filter_map(|l| l.load_balancer_arn().map(str::to_owned)),
    );
    let groups = elb.describe_target_groups().send().await.unwrap();
    arns.extend(
        groups
            .target_groups()
            .iter()
            .filter_map(|g| g.target_group_arn().map(str::to_owned)),
    );
    let mut found = (Vec::new(), Vec::new());
    for chunk in arns.chunks(20) {
        let described = elb
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .unwrap();
        for d in described.tag_descriptions() {
            let tag = |k: &str| {
                d.tags()
                    .iter()
                    .find(|t| t.key() == Some(k))
                    .and_then(|t| t.value())
                    .map(str::to_owned)
            };
            if tag(&format!("kubernetes.io/cluster/{cluster}")).as_deref() == Some("owned")
                && tag("kubernetes.io/service-name").as_deref() == Some(service)
            {
                let arn = d.resource_arn().unwrap_or_default().to_owned();
                if arn.contains(":targetgroup/") {
                    found.1.push(arn);
                } else {
                    found.0.push(arn);
                }
            }
        }
    }
    found
}

async fn delete_load_balancer(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    cluster: &str,
    service: &str,
) {
    let (lbs, groups) = service_load_balancers(elb, cluster, service).await;
    for arn in lbs {
        let _ = elb
            .delete_load_balancer()
            .load_balancer_arn(arn)
            .send()
            .await;
    }
    for arn in groups {
        let _ = elb.delete_target_group().target_group_arn(arn).send().await;
    }
}

/// A server shared by tests that cannot disturb each other. The AWS tests each start their own:
/// moto gives every EKS cluster of a process the same OIDC issuer URL (real AWS makes one per
/// cluster), so two stacks' OIDC providers would collide on one server.
#[allow(dead_code)]
pub fn shared() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| match std::env::var("STACKFORM_TEST_MOTO_URL") {
        Ok(url) if !url.is_empty() => Moto {
            kube: kube_api(&url),
            url,
        },
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
            (
                "STACKFORM_KUBERNETES_ENDPOINT",
                self.kube.endpoint_per_cluster(),
            ),
        ]
    }

    /// An SDK config for independent checks.
    pub async fn sdk(&self) -> aws_types::SdkConfig {
        sdk_at(&self.url, "eu-central-1").await
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

/// SDK configuration for the moto at `url`, in `region`.
pub async fn sdk_at(url: &str, region: &str) -> aws_types::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .endpoint_url(url)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}
