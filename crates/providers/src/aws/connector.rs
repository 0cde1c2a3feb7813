//! The `aws` connector kind: its auth methods (access keys and session tokens as given, a named
//! profile, or a role assumed through STS, with an external id and session length, on top of
//! the standard chain; the SDK configuration they give is `client::connector_config`), who a
//! connector is (STS) and what its IAM policies allow of a template's declared actions, what it
//! reaches (buckets, ECR repositories, EKS clusters), its logins (an ECR docker auth, EKS
//! kubeconfigs with presigned tokens) and how `stack register` names what it reaches.

use std::time::Duration;

use std::collections::BTreeSet;

use stackform_engine::ext::connectors::{Connector, Resolved};
use stackform_engine::provider::{
    Ability, AuthMethod, Checked, Checks, Claim, ClusterAccess, ConnectorFailure, ConnectorKind,
    DockerLogin, ErrorKind, Identity, ProviderError, Reached, Token,
};

/// The `aws` connector kind.
pub struct Kind;

const METHODS: &[AuthMethod] = &[
    AuthMethod::new("implicit", &[], &["region"]),
    AuthMethod::new("profile", &[], &["region", "profile"]).requires(&["profile"]),
    AuthMethod::new(
        "access-keys",
        &["aws_access_key_id", "aws_secret_access_key"],
        &["region"],
    ),
    AuthMethod::new(
        "session-token",
        &[
            "aws_access_key_id",
            "aws_secret_access_key",
            "aws_session_token",
        ],
        &["region"],
    ),
    AuthMethod::new(
        "assume-role",
        &[],
        &["region", "role_arn", "external_id", "session_duration"],
    )
    .requires(&["role_arn"]),
];

/// A failure the cloud answered, with advice on what to check.
fn refused(e: ProviderError, help: &str) -> ConnectorFailure {
    ConnectorFailure::Advised {
        usage: false,
        code: "connector::refused",
        message: e.message,
        help: help.to_owned(),
    }
}

#[async_trait::async_trait]
impl ConnectorKind for Kind {
    fn name(&self) -> &str {
        "aws"
    }

    fn auth_methods(&self) -> &[AuthMethod] {
        METHODS
    }

    fn provider(&self) -> Option<&str> {
        Some("aws")
    }

    fn template(&self) -> Option<&str> {
        Some("aws")
    }

    fn can(&self, _ability: Ability) -> bool {
        true
    }

    async fn identify(&self, connector: &Resolved) -> Result<Identity, ConnectorFailure> {
        let (scope, identity) = verify(connector).await.map_err(|e| {
            refused(
                e,
                "check the connector's key material or role (`stackform connector describe`), or register it again",
            )
        })?;
        Ok(Identity { scope, identity })
    }

    fn checks(&self, _connector: &Connector) -> Checks {
        Checks::Actions {
            provider: "aws".into(),
        }
    }

    /// Judged from the identity's own policies; when it may not read them, nothing is missing
    /// but the check says why it was not made.
    async fn missing(
        &self,
        connector: &Resolved,
        identity: &Identity,
        needed: &BTreeSet<String>,
    ) -> Result<Checked, ConnectorFailure> {
        Ok(
            match missing_actions(connector, &identity.identity, needed).await {
                Ok(missing) => Checked {
                    missing,
                    unchecked: None,
                },
                Err(e) => Checked {
                    missing: Vec::new(),
                    unchecked: Some(e.message),
                },
            },
        )
    }

    async fn list(
        &self,
        connector: &Resolved,
        resource_type: Option<&str>,
    ) -> Result<Vec<Reached>, ConnectorFailure> {
        let found = list_resources(connector, resource_type)
            .await
            .map_err(|e| refused(e, "check what the connector's identity may list"))?;
        Ok(crate::connected::reached(found))
    }

    async fn docker_login(
        &self,
        connector: &Resolved,
        _registry: Option<&str>,
    ) -> Result<DockerLogin, ConnectorFailure> {
        Ok(ecr_login(connector).await?)
    }

    async fn cluster(
        &self,
        connector: &Resolved,
        cluster: &str,
    ) -> Result<ClusterAccess, ConnectorFailure> {
        Ok(eks_cluster(connector, cluster).await?)
    }

    async fn token(&self, connector: &Resolved, cluster: &str) -> Result<Token, ConnectorFailure> {
        Ok(eks_token(connector, cluster).await?)
    }

    /// `s3://BUCKET`, an ECR repository (`HOST/NAME`, or its name), an EKS cluster by name.
    fn claim(
        &self,
        _connector: &Connector,
        component: &str,
        given: &str,
    ) -> Result<Claim, ConnectorFailure> {
        let (type_name, key) = match component {
            "artifact_store" => (
                "aws.s3.bucket",
                crate::connected::artifact_store(
                    given,
                    "s3://",
                    "a s3:// URI, which a aws connector reaches",
                    "s3://ml-artifacts",
                )?,
            ),
            "container_registry" => (
                "aws.ecr.repository",
                given.split_once('/').map_or(given, |(_, r)| r).to_owned(),
            ),
            _ => ("aws.eks.cluster", given.to_owned()),
        };
        Ok(Claim {
            type_name: type_name.into(),
            key,
        })
    }
}

/// Who the connector's credentials are: (account, ARN).
pub async fn verify(resolved: &Resolved) -> Result<(String, String), ProviderError> {
    let region = resolved.connector.settings.get("region").cloned();
    let config = super::client::connector_config(resolved, region.as_deref()).await?;
    let sts = aws_sdk_sts::Client::new(&config);
    match sts.get_caller_identity().send().await {
        Ok(out) => Ok((
            out.account().unwrap_or_default().to_owned(),
            out.arn().unwrap_or_default().to_owned(),
        )),
        Err(e) => {
            let message = match &e {
                aws_smithy_runtime_api::client::result::SdkError::ServiceError(s) => {
                    use aws_smithy_types::error::metadata::ProvideErrorMetadata;
                    format!(
                        "{}: {}",
                        s.err().code().unwrap_or("error"),
                        s.err().message().unwrap_or("")
                    )
                }
                other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
            };
            Err(ProviderError::new(
                ErrorKind::Permission,
                format!(
                    "sts:GetCallerIdentity was refused for connector `{}`: {message}",
                    resolved.connector.name
                ),
            ))
        }
    }
}

/// What the connector can reach, by ZenML resource type (`s3-bucket`, `docker-registry`,
/// `kubernetes-cluster`): `(type, id)` where id is the URI a stack registers.
pub async fn list_resources(
    resolved: &Resolved,
    only: Option<&str>,
) -> Result<Vec<(String, String)>, ProviderError> {
    let region = resolved.connector.settings.get("region").cloned();
    let config = super::client::connector_config(resolved, region.as_deref()).await?;
    let wants = |t: &str| only.is_none_or(|o| o == t);
    let refused = |what: &str, e: String| {
        ProviderError::new(
            ErrorKind::Permission,
            format!(
                "{what} was refused for connector `{}`: {e}",
                resolved.connector.name
            ),
        )
    };
    let text = |e: &dyn std::error::Error| {
        aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
    };
    let mut out = Vec::new();
    if wants("s3-bucket") {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(config.endpoint_url().is_some())
                .build(),
        );
        let buckets = s3
            .list_buckets()
            .send()
            .await
            .map_err(|e| refused("s3:ListBuckets", text(&e)))?;
        for b in buckets.buckets() {
            if let Some(name) = b.name() {
                out.push(("s3-bucket".to_owned(), format!("s3://{name}")));
            }
        }
    }
    if wants("docker-registry") {
        let ecr = aws_sdk_ecr::Client::new(&config);
        let repos = super::client::pages(|token| {
            let ecr = ecr.clone();
            async move {
                let page = ecr
                    .describe_repositories()
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| refused("ecr:DescribeRepositories", text(&e)))?;
                Ok((
                    page.repositories().to_vec(),
                    page.next_token().map(str::to_owned),
                ))
            }
        })
        .await?;
        for r in repos {
            if let Some(uri) = r.repository_uri() {
                out.push(("docker-registry".to_owned(), uri.to_owned()));
            }
        }
    }
    if wants("kubernetes-cluster") {
        let eks = aws_sdk_eks::Client::new(&config);
        let clusters = super::client::pages(|token| {
            let eks = eks.clone();
            async move {
                let page = eks
                    .list_clusters()
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| refused("eks:ListClusters", text(&e)))?;
                Ok((
                    page.clusters().to_vec(),
                    page.next_token().map(str::to_owned),
                ))
            }
        })
        .await?;
        for c in clusters {
            out.push(("kubernetes-cluster".to_owned(), c));
        }
    }
    Ok(out)
}

/// An EKS bearer token for `cluster`, as `aws eks get-token` makes it: a presigned STS
/// GetCallerIdentity URL (valid 60 s, the cluster's name signed in `x-k8s-aws-id`), base64url
/// encoded behind `k8s-aws-v1.`. EKS accepts it for 15 minutes; `connector token` makes a
/// fresh one on every use. Returns the token and when it stops being accepted.
pub async fn eks_token(resolved: &Resolved, cluster: &str) -> Result<Token, ProviderError> {
    let (region, cluster) = eks_target(resolved, cluster);
    let region = region.unwrap_or_else(|| "us-east-1".into());
    let config = super::client::connector_config(resolved, Some(&region)).await?;
    let creds = config.credentials_provider().ok_or_else(|| {
        ProviderError::new(ErrorKind::Invalid, "the connector gives no credentials")
    })?;
    presigned_eks_token(&creds, &region, &cluster).await
}

/// The EKS token for `cluster` signed with `config`'s credentials in `region` (what
/// [`eks_token`] makes for a connector, and the `kubernetes` provider for the deploying
/// identity).
pub async fn presigned_eks_token(
    creds: &aws_credential_types::provider::SharedCredentialsProvider,
    region: &str,
    cluster: &str,
) -> Result<Token, ProviderError> {
    use aws_credential_types::provider::ProvideCredentials;
    use aws_sigv4::http_request::{
        SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
    };
    let invalid = |m: String| ProviderError::new(ErrorKind::Invalid, m);
    let creds = creds
        .provide_credentials()
        .await
        .map_err(|e| ProviderError::new(ErrorKind::Permission, format!("no credentials: {e}")))?;
    let identity = creds.into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let now = std::time::SystemTime::now();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| invalid(format!("cannot sign: {e}")))?
        .into();
    let url =
        format!("https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15");
    let signable = SignableRequest::new(
        "GET",
        url.as_str(),
        std::iter::once(("x-k8s-aws-id", cluster)),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| invalid(format!("cannot sign: {e}")))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| invalid(format!("cannot sign: {e}")))?
        .into_parts();
    let (_, query) = instructions.into_parts();
    let mut presigned = url;
    for (k, v) in query {
        presigned.push('&');
        presigned.push_str(k);
        presigned.push('=');
        presigned.push_str(&percent(&v));
    }
    let encoded = aws_smithy_types::base64::encode(presigned.as_bytes())
        .replace('+', "-")
        .replace('/', "_")
        .trim_end_matches('=')
        .to_owned();
    Ok(Token {
        token: format!("k8s-aws-v1.{encoded}"),
        expires: now + Duration::from_secs(14 * 60),
    })
}

/// Query-string encoding of a value (RFC 3986 unreserved characters pass).
fn percent(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A docker login for the connector's ECR registry: the registry host, the `auth` value docker
/// keeps, when it expires).
pub async fn ecr_login(resolved: &Resolved) -> Result<DockerLogin, ProviderError> {
    let region = resolved.connector.settings.get("region").cloned();
    let config = super::client::connector_config(resolved, region.as_deref()).await?;
    let ecr = aws_sdk_ecr::Client::new(&config);
    let out = ecr.get_authorization_token().send().await.map_err(|e| {
        ProviderError::new(
            ErrorKind::Permission,
            format!(
                "ecr:GetAuthorizationToken was refused for connector `{}`: {}",
                resolved.connector.name,
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            ),
        )
    })?;
    let data = out.authorization_data().first().ok_or_else(|| {
        ProviderError::new(ErrorKind::Other, "ECR returned no authorization data")
    })?;
    let host = data
        .proxy_endpoint()
        .unwrap_or_default()
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned();
    Ok(DockerLogin {
        host,
        auth: data.authorization_token().unwrap_or_default().to_owned(),
        expires_at: data.expires_at().map(|t| t.to_string()),
    })
}

/// What a kubeconfig needs of a cluster: its ARN (the context's name), endpoint and CA data.
/// The region and name of the EKS cluster `given`: its ARN
/// (`arn:aws:eks:REGION:ACCOUNT:cluster/NAME`, what `stack describe` shows as the orchestrator's
/// `kubernetes_context`) says both, so a cluster deployed in another region than the connector's
/// is found where it is; a bare name is looked for in the connector's region.
fn eks_target(resolved: &Resolved, given: &str) -> (Option<String>, String) {
    let parts: Vec<&str> = given.splitn(6, ':').collect();
    if let [arn, _partition, "eks", region, _account, resource] = parts.as_slice()
        && *arn == "arn"
        && let Some(name) = resource.strip_prefix("cluster/")
        && !region.is_empty()
    {
        return (Some((*region).to_owned()), name.to_owned());
    }
    (
        resolved.connector.settings.get("region").cloned(),
        given.to_owned(),
    )
}

pub async fn eks_cluster(
    resolved: &Resolved,
    cluster: &str,
) -> Result<ClusterAccess, ProviderError> {
    let (region, name) = eks_target(resolved, cluster);
    let config = super::client::connector_config(resolved, region.as_deref()).await?;
    let eks = aws_sdk_eks::Client::new(&config);
    let out = eks
        .describe_cluster()
        .name(&name)
        .send()
        .await
        .map_err(|e| {
            let not_found = e
                .as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception());
            let region = region.as_deref().unwrap_or("the default region");
            if not_found {
                return ProviderError::new(
                    ErrorKind::NotFound,
                    format!(
                        "no EKS cluster `{name}` in {region} (connector `{}`); a cluster in another region is found by its ARN (`stack describe` shows it as the orchestrator's kubernetes_context)",
                        resolved.connector.name
                    ),
                );
            }
            ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "eks:DescribeCluster {name} in {region} through connector `{}`: {}",
                    resolved.connector.name,
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                ),
            )
        })?;
    let c = out
        .cluster()
        .ok_or_else(|| ProviderError::new(ErrorKind::NotFound, format!("no cluster {cluster}")))?;
    Ok(ClusterAccess {
        name: c.arn().unwrap_or_default().to_owned(),
        server: c.endpoint().unwrap_or_default().to_owned(),
        certificate_authority: c
            .certificate_authority()
            .and_then(|a| a.data())
            .unwrap_or_default()
            .to_owned(),
    })
}

/// The actions of `needed` that the connector's identity may not perform, judged from its own
/// IAM policies (attached, inline and its groups', for a user; attached and inline, for an
/// assumed role): an explicit Deny or no Allow. Resources and conditions are not evaluated, so
/// an action allowed on some resource counts as allowed. `Err` when the identity may not read
/// its policies.
pub async fn missing_actions(
    resolved: &Resolved,
    arn: &str,
    needed: &std::collections::BTreeSet<String>,
) -> Result<Vec<String>, ProviderError> {
    let region = resolved.connector.settings.get("region").cloned();
    let config = super::client::connector_config(resolved, region.as_deref()).await?;
    let iam = aws_sdk_iam::Client::new(&config);
    let denied = |what: &str, e: String| {
        ProviderError::new(
            ErrorKind::Permission,
            format!("{what} was refused, so the permissions cannot be checked: {e}"),
        )
    };
    let ctx = |e: &dyn std::error::Error| {
        aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
    };
    if arn.ends_with(":root") {
        return Ok(Vec::new());
    }
    let mut documents: Vec<String> = Vec::new();
    let managed = |arns: Vec<String>| {
        let iam = iam.clone();
        async move {
            let mut docs = Vec::new();
            for p in arns {
                let policy = iam
                    .get_policy()
                    .policy_arn(&p)
                    .send()
                    .await
                    .map_err(|e| denied("iam:GetPolicy", ctx(&e)))?;
                let version = policy
                    .policy()
                    .and_then(|p| p.default_version_id())
                    .unwrap_or("v1")
                    .to_owned();
                let v = iam
                    .get_policy_version()
                    .policy_arn(&p)
                    .version_id(version)
                    .send()
                    .await
                    .map_err(|e| denied("iam:GetPolicyVersion", ctx(&e)))?;
                if let Some(d) = v.policy_version().and_then(|v| v.document()) {
                    docs.push(d.to_owned());
                }
            }
            Ok::<_, ProviderError>(docs)
        }
    };
    if let Some(rest) = arn.split(":assumed-role/").nth(1) {
        let role = rest.split('/').next().unwrap_or_default();
        let attached = iam
            .list_attached_role_policies()
            .role_name(role)
            .send()
            .await
            .map_err(|e| denied("iam:ListAttachedRolePolicies", ctx(&e)))?;
        documents.extend(
            managed(
                attached
                    .attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(str::to_owned))
                    .collect(),
            )
            .await?,
        );
        let inline = iam
            .list_role_policies()
            .role_name(role)
            .send()
            .await
            .map_err(|e| denied("iam:ListRolePolicies", ctx(&e)))?;
        for name in inline.policy_names() {
            let p = iam
                .get_role_policy()
                .role_name(role)
                .policy_name(name)
                .send()
                .await
                .map_err(|e| denied("iam:GetRolePolicy", ctx(&e)))?;
            documents.push(p.policy_document().to_owned());
        }
    } else if let Some(rest) = arn.split(":user/").nth(1) {
        let user = rest.rsplit('/').next().unwrap_or_default();
        let attached = iam
            .list_attached_user_policies()
            .user_name(user)
            .send()
            .await
            .map_err(|e| denied("iam:ListAttachedUserPolicies", ctx(&e)))?;
        documents.extend(
            managed(
                attached
                    .attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(str::to_owned))
                    .collect(),
            )
            .await?,
        );
        let inline = iam
            .list_user_policies()
            .user_name(user)
            .send()
            .await
            .map_err(|e| denied("iam:ListUserPolicies", ctx(&e)))?;
        for name in inline.policy_names() {
            let p = iam
                .get_user_policy()
                .user_name(user)
                .policy_name(name)
                .send()
                .await
                .map_err(|e| denied("iam:GetUserPolicy", ctx(&e)))?;
            documents.push(p.policy_document().to_owned());
        }
        let groups = iam
            .list_groups_for_user()
            .user_name(user)
            .send()
            .await
            .map_err(|e| denied("iam:ListGroupsForUser", ctx(&e)))?;
        for g in groups.groups() {
            let attached = iam
                .list_attached_group_policies()
                .group_name(g.group_name())
                .send()
                .await
                .map_err(|e| denied("iam:ListAttachedGroupPolicies", ctx(&e)))?;
            documents.extend(
                managed(
                    attached
                        .attached_policies()
                        .iter()
                        .filter_map(|p| p.policy_arn().map(str::to_owned))
                        .collect(),
                )
                .await?,
            );
            let inline = iam
                .list_group_policies()
                .group_name(g.group_name())
                .send()
                .await
                .map_err(|e| denied("iam:ListGroupPolicies", ctx(&e)))?;
            for name in inline.policy_names() {
                let p = iam
                    .get_group_policy()
                    .group_name(g.group_name())
                    .policy_name(name)
                    .send()
                    .await
                    .map_err(|e| denied("iam:GetGroupPolicy", ctx(&e)))?;
                documents.push(p.policy_document().to_owned());
            }
        }
    } else {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            format!("cannot tell whose policies apply to {arn}"),
        ));
    }
    let statements: Vec<serde_json::Value> = documents
        .iter()
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(&decode(d)).ok())
        .flat_map(|doc| match &doc["Statement"] {
            serde_json::Value::Array(a) => a.clone(),
            s @ serde_json::Value::Object(_) => vec![s.clone()],
            _ => Vec::new(),
        })
        .collect();
    Ok(needed
        .iter()
        .filter(|action| !allowed(&statements, action))
        .cloned()
        .collect())
}

/// Whether the statements allow `action`: some Allow matches it and no Deny does.
fn allowed(statements: &[serde_json::Value], action: &str) -> bool {
    let matches = |s: &serde_json::Value| {
        let list = |v: &serde_json::Value| -> Vec<String> {
            match v {
                serde_json::Value::String(s) => vec![s.clone()],
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            }
        };
        if s.get("NotAction").is_some() {
            !list(&s["NotAction"]).iter().any(|p| glob(p, action))
        } else {
            list(&s["Action"]).iter().any(|p| glob(p, action))
        }
    };
    let effect = |s: &serde_json::Value| s["Effect"].as_str().unwrap_or("").to_owned();
    !statements.iter().any(|s| effect(s) == "Deny" && matches(s))
        && statements
            .iter()
            .any(|s| effect(s) == "Allow" && matches(s))
}

/// IAM's action wildcards: `*` any run, `?` one character, case-insensitive.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (
        pattern.to_ascii_lowercase().chars().collect(),
        text.to_ascii_lowercase().chars().collect(),
    );
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// IAM returns policy documents URL-encoded.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_wildcards_match_as_iam_does() {
        assert!(glob("*", "s3:CreateBucket"));
        assert!(glob("s3:*", "s3:CreateBucket"));
        assert!(glob("S3:create*", "s3:CreateBucket"));
        assert!(glob("iam:?etRole", "iam:GetRole"));
        assert!(!glob("s3:Get*", "s3:CreateBucket"));
        assert!(!glob("ec2:*", "eks:CreateCluster"));
    }

    #[test]
    fn a_deny_wins_and_not_action_excludes() {
        let s: Vec<serde_json::Value> = serde_json::from_str(
            r#"[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":["iam:*"],"Resource":"*"}]"#,
        )
        .unwrap();
        assert!(allowed(&s, "s3:CreateBucket"));
        assert!(!allowed(&s, "iam:CreateRole"));
        let n: Vec<serde_json::Value> =
            serde_json::from_str(r#"[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]"#)
                .unwrap();
        assert!(allowed(&n, "ec2:CreateVpc"));
        assert!(!allowed(&n, "iam:PassRole"));
        assert_eq!(decode("%7B%22a%22%3A1%7D"), r#"{"a":1}"#);
    }
}
