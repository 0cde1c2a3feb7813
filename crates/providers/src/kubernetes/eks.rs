//! Reaching an EKS cluster as the deploying identity: `providers.kubernetes.eks_cluster` (with
//! `region`, and `connector` for an aws connector) names it, its endpoint and certificate
//! authority come from `eks:DescribeCluster`, and the bearer token is the presigned STS
//! `GetCallerIdentity` EKS accepts (https://docs.aws.amazon.com/eks/latest/userguide/cluster-auth.html),
//! the same one `connector token` makes. The settings can name a cluster the same stack creates
//! (`${stack.name}-${stack.suffix}`), since they are used only when an object is applied.
//!
//! `STACKFORM_KUBERNETES_ENDPOINT` replaces the endpoint EKS reports, as `AWS_ENDPOINT_URL`
//! replaces AWS's: for tests against a loopback API server. `{cluster}` in it stands for the
//! cluster's name, since every EKS cluster has an API server of its own.

use stackform_engine::base::value::Value;
use stackform_engine::provider::{ErrorKind, Props, ProviderError};

use crate::aws::client::Aws;

/// Whether AWS's endpoints are replaced (an emulator), so what EKS reports is no real address.
fn emulated_aws() -> bool {
    ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EKS"]
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|v| !v.is_empty()))
}

/// A kube config for the cluster, and how long its token is accepted.
pub async fn config(
    aws: &Aws,
    settings: &Props,
    cluster: &str,
) -> Result<kube::Config, ProviderError> {
    let mut aws_settings = Props::new();
    for (ours, theirs) in [("region", "region"), ("connector", "connector")] {
        if let Some(v @ Value::String(_)) = settings.get(ours) {
            aws_settings.insert(theirs.to_owned(), v.clone());
        }
    }
    let clients = aws.clients_for(&aws_settings).await?;
    let described = clients
        .eks
        .describe_cluster()
        .name(cluster)
        .send()
        .await
        .map_err(|e| {
            crate::aws::client::error::classify(
                e,
                &format!("eks:DescribeCluster {cluster}"),
                &clients,
            )
        })?;
    let c = described.cluster().ok_or_else(|| {
        ProviderError::new(ErrorKind::NotFound, format!("no EKS cluster `{cluster}`"))
    })?;
    let endpoint = match std::env::var("STACKFORM_KUBERNETES_ENDPOINT") {
        Ok(e) if !e.is_empty() => e.replace("{cluster}", cluster),
        // An emulated AWS (moto) reports an endpoint under amazonaws.com that no API server
        // answers: never dial it.
        _ if emulated_aws() => {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "EKS cluster `{cluster}` is on an emulated AWS (AWS_ENDPOINT_URL is set), which runs no Kubernetes API server: set STACKFORM_KUBERNETES_ENDPOINT to one, or leave the cluster's objects out (the aws template: --var cluster_workloads=false)"
                ),
            ));
        }
        _ => c.endpoint().unwrap_or_default().to_owned(),
    };
    if endpoint.is_empty() {
        return Err(ProviderError::new(
            ErrorKind::Retryable,
            format!("EKS cluster `{cluster}` has no endpoint yet"),
        ));
    }
    let creds = clients.config.credentials_provider().ok_or_else(|| {
        ProviderError::new(
            ErrorKind::Permission,
            "no AWS credentials to sign an EKS token with",
        )
    })?;
    let token =
        crate::aws::connector::presigned_eks_token(&creds, &clients.region, cluster).await?;
    let mut entry = serde_json::json!({"server": endpoint});
    if let Some(ca) = c.certificate_authority().and_then(|a| a.data()) {
        entry["certificate-authority-data"] = ca.into();
    }
    super::client::token_config(cluster, entry, &token.token).await
}
