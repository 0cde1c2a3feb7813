//! The `gcp` connector kind: its identity, whether it holds the permissions a template's
//! resource types declare (Resource Manager `projects.testIamPermissions`, the one call that
//! answers this for the caller itself), the buckets, Artifact Registry repositories and GKE
//! clusters of its project, as the URIs `stack register` takes, and its logins (Artifact
//! Registry docker auths, GKE kubeconfigs with access tokens).
//!
//! The connector's credentials (a service account key from the secret store, or an identity
//! impersonated from the application default credentials) reach Google only; loopback
//! endpoints (an emulator, the contract server) are always called anonymously.

use std::collections::BTreeSet;

use stackform_engine::ext::connectors::{Connector, Resolved};
use stackform_engine::provider::{
    Ability, AuthMethod, Checked, Checks, Claim, ClusterAccess, ConnectorFailure, ConnectorKind,
    DockerLogin, ErrorKind, Identity, ProviderError, Reached, Token,
};

use super::client::api::Apis;
use super::client::identity::{
    Source, apis, credentials, gcs, identity_of, key_json, source_credentials,
};
use super::client::json::Body;
use super::client::{classify, error};

fn invalid(message: String) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, message)
}

/// The project the connector works in: its `project` setting, else GOOGLE_CLOUD_PROJECT.
pub fn project(connector: &Connector) -> Result<String, ProviderError> {
    connector
        .settings
        .get("project")
        .cloned()
        .or_else(|| {
            std::env::var("GOOGLE_CLOUD_PROJECT")
                .ok()
                .filter(|p| !p.is_empty())
        })
        .ok_or_else(|| {
            invalid(format!(
                "gcp connector `{}` names no project: register it with `--setting project=ID`",
                connector.name
            ))
        })
}

/// Who the connector acts as, as far as it can tell without asking Google: the key's service
/// account, the impersonated one, or the application default credentials.
pub fn identity(resolved: &Resolved) -> Result<String, ProviderError> {
    let c = &resolved.connector;
    match c.auth_method.as_str() {
        "service-account-key" => {
            let key = key_json(resolved)?;
            Ok(format!(
                "serviceAccount:{}",
                key["client_email"]
                    .as_str()
                    .unwrap_or("(no client_email in the key)")
            ))
        }
        "impersonation" => Ok(format!(
            "serviceAccount:{} (impersonated)",
            c.settings
                .get("target_principal")
                .map(String::as_str)
                .unwrap_or("?")
        )),
        _ => Ok("application default credentials".into()),
    }
}

/// The permissions in `needed` that the connector's identity does not hold on its project.
pub async fn missing_permissions(
    resolved: &Resolved,
    needed: &BTreeSet<String>,
) -> Result<Vec<String>, ProviderError> {
    let project = project(&resolved.connector)?;
    let apis = apis(credentials(resolved)?.as_ref());
    let projects = apis.projects().await?;
    let what = format!("cloudresourcemanager.projects.testIamPermissions projects/{project}");
    let mut held = BTreeSet::new();
    let asked: Vec<&String> = needed.iter().collect();
    // The API takes a bounded list per request.
    for chunk in asked.chunks(100) {
        let answer = projects
            .test_iam_permissions()
            .set_resource(format!("projects/{project}"))
            .set_permissions(chunk.iter().map(|p| (*p).clone()))
            .send()
            .await
            .map_err(|e| classify(e, &what))?;
        held.extend(answer.permissions);
    }
    Ok(needed.difference(&held).cloned().collect())
}

/// What the connector reaches, by ZenML resource type (`gcs-bucket`, `docker-registry`,
/// `kubernetes-cluster`): `(type, uri)`. Repositories are listed in the connector's `region`
/// (Artifact Registry lists one location at a time); clusters in every location.
pub async fn list_resources(
    resolved: &Resolved,
    kind: Option<&str>,
) -> Result<Vec<(String, String)>, ProviderError> {
    if let Some(k) = kind
        && !["gcs-bucket", "docker-registry", "kubernetes-cluster"].contains(&k)
    {
        return Err(invalid(format!(
            "gcp connectors list gcs-bucket, docker-registry and kubernetes-cluster resources, not `{k}`"
        )));
    }
    let wants = |k: &str| kind.is_none_or(|w| w == k);
    let project = project(&resolved.connector)?;
    let credentials = credentials(resolved)?;
    let mut out = Vec::new();
    if wants("gcs-bucket") {
        let gcs = gcs(credentials.as_ref());
        let mut token = String::new();
        loop {
            let mut path = format!("/storage/v1/b?project={project}");
            if !token.is_empty() {
                path.push_str(&format!("&pageToken={token}"));
            }
            let what = format!("list the buckets of project {project}");
            let a = gcs
                .call(&what, reqwest::Method::GET, &path, Body::None)
                .await?;
            if !a.status.is_success() {
                return Err(error(&what, &a));
            }
            for b in a.body["items"].as_array().into_iter().flatten() {
                if let Some(name) = b["name"].as_str() {
                    out.push(("gcs-bucket".to_owned(), format!("gs://{name}")));
                }
            }
            match a.body["nextPageToken"].as_str() {
                Some(t) if !t.is_empty() => token = t.to_owned(),
                _ => break,
            }
        }
    }
    let apis = apis(credentials.as_ref());
    if wants("docker-registry") {
        match resolved.connector.settings.get("region") {
            Some(region) => {
                let parent = format!("projects/{project}/locations/{region}");
                for r in apis.repositories(&parent).await? {
                    let id = r.name.rsplit('/').next().unwrap_or_default().to_owned();
                    out.push((
                        "docker-registry".to_owned(),
                        format!("{region}-docker.pkg.dev/{project}/{id}"),
                    ));
                }
            }
            None if kind.is_some() => {
                return Err(invalid(format!(
                    "Artifact Registry lists one region at a time: register gcp connector `{}` with `--setting region=REGION`",
                    resolved.connector.name
                )));
            }
            None => {}
        }
    }
    if wants("kubernetes-cluster") {
        for c in clusters(&apis, &format!("projects/{project}/locations/-")).await? {
            out.push(("kubernetes-cluster".to_owned(), c.name));
        }
    }
    out.sort();
    Ok(out)
}

/// The GKE clusters in `parent` (`projects/P/locations/L`, `-` for every location).
async fn clusters(
    apis: &Apis,
    parent: &str,
) -> Result<Vec<google_cloud_container_v1::model::Cluster>, ProviderError> {
    Ok(apis
        .clusters()
        .await?
        .list_clusters()
        .set_parent(parent)
        .send()
        .await
        .map_err(|e| classify(e, &format!("container.clusters.list {parent}")))?
        .clusters)
}

/// How long a Google access token is taken to live: they are issued for an hour, and a login
/// says less so that nothing uses one in its last minutes.
const TOKEN_LIFE: std::time::Duration = std::time::Duration::from_secs(50 * 60);

/// A fresh access token of the connector's identity (a key's self-signed token, an
/// impersonated identity's, or the application default credentials'), and until when to use it.
pub async fn access_token(resolved: &Resolved) -> Result<Token, ProviderError> {
    crate::tls::ensure();
    let refused = |e: &dyn std::fmt::Display| {
        ProviderError::new(
            ErrorKind::Permission,
            format!(
                "gcp connector `{}`: no access token: {e}",
                resolved.connector.name
            ),
        )
    };
    let built = match identity_of(resolved)? {
        Source::Key(key) => google_cloud_auth::credentials::service_account::Builder::new(key)
            .build_access_token_credentials(),
        Source::Impersonate(target) => {
            google_cloud_auth::credentials::impersonated::Builder::from_source_credentials(
                source_credentials()?,
            )
            .with_target_principal(target)
            .build_access_token_credentials()
        }
        Source::Default => {
            google_cloud_auth::credentials::Builder::default().build_access_token_credentials()
        }
    }
    .map_err(|e| refused(&e))?;
    let token = built.access_token().await.map_err(|e| refused(&e))?;
    Ok(Token {
        token: token.token,
        expires: std::time::SystemTime::now() + TOKEN_LIFE,
    })
}

/// A docker login for Artifact Registry: the registry host (`--resource-id`, else the
/// connector region's `REGION-docker.pkg.dev`), the `auths` entry (`oauth2accesstoken` and an
/// access token, as Google documents for short-lived logins) and its expiry.
pub async fn registry_login(
    resolved: &Resolved,
    host: Option<&str>,
) -> Result<DockerLogin, ProviderError> {
    use base64::Engine as _;
    let host = match host {
        Some(h) => h.split('/').next().unwrap_or(h).to_owned(),
        None => match resolved.connector.settings.get("region") {
            Some(region) => format!("{region}-docker.pkg.dev"),
            None => {
                return Err(invalid(format!(
                    "name the registry host (--resource-id REGION-docker.pkg.dev), or register gcp connector `{}` with `--setting region=REGION`",
                    resolved.connector.name
                )));
            }
        },
    };
    if !host.ends_with(".pkg.dev") && !host.ends_with("gcr.io") {
        return Err(invalid(format!(
            "`{host}` is not an Artifact Registry host (REGION-docker.pkg.dev)"
        )));
    }
    let token = access_token(resolved).await?;
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("oauth2accesstoken:{}", token.token));
    Ok(DockerLogin {
        host,
        auth,
        expires_at: Some(humantime::format_rfc3339_seconds(token.expires).to_string()),
    })
}

/// What a kubeconfig needs of a GKE cluster (`NAME`, or `LOCATION/NAME`) in the connector's
/// project: the context name gcloud would write, the API server's URL and its CA (base64 PEM).
pub async fn gke_cluster(
    resolved: &Resolved,
    cluster: &str,
) -> Result<ClusterAccess, ProviderError> {
    let project = project(&resolved.connector)?;
    let (location, name) = match cluster.split_once('/') {
        Some((l, n)) => (l, n),
        None => ("-", cluster),
    };
    let apis = apis(credentials(resolved)?.as_ref());
    let found = clusters(&apis, &format!("projects/{project}/locations/{location}"))
        .await?
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::NotFound,
                format!(
                    "no GKE cluster `{name}` in project {project}; `stackform connector list-resources {} --resource-type kubernetes-cluster` lists them",
                    resolved.connector.name
                ),
            )
        })?;
    let ca = found
        .master_auth
        .as_ref()
        .map(|m| m.cluster_ca_certificate.clone())
        .unwrap_or_default();
    Ok(ClusterAccess {
        name: format!("gke_{project}_{}_{}", found.location, found.name),
        server: format!("https://{}", found.endpoint),
        certificate_authority: ca,
    })
}

/// The `gcp` connector kind.
pub struct Kind;

const METHODS: &[AuthMethod] = &[
    AuthMethod::new("implicit", &[], &["project", "region"]),
    AuthMethod::new(
        "service-account-key",
        &["service_account_json"],
        &["project", "region"],
    ),
    AuthMethod::new(
        "impersonation",
        &[],
        &["project", "region", "target_principal"],
    ),
];

/// A usage error of `stack register` with its advice.
fn misused(code: &'static str, message: String, help: String) -> ConnectorFailure {
    ConnectorFailure::Advised {
        usage: true,
        code,
        message,
        help,
    }
}

/// `LOCATION-docker.pkg.dev/PROJECT/REPOSITORY` (as `list-resources` prints it) as the
/// repository's resource name.
fn repository_name(uri: &str) -> Result<String, ConnectorFailure> {
    let parts: Vec<&str> = uri.trim_end_matches('/').split('/').collect();
    match parts.as_slice() {
        [host, project, repo]
            if host.ends_with("-docker.pkg.dev") && !project.is_empty() && !repo.is_empty() =>
        {
            let location = host.trim_end_matches("-docker.pkg.dev");
            Ok(format!(
                "projects/{project}/locations/{location}/repositories/{repo}"
            ))
        }
        _ => Err(misused(
            "register::container_registry",
            format!(
                "--container-registry `{uri}` is not an Artifact Registry repository (LOCATION-docker.pkg.dev/PROJECT/REPOSITORY)"
            ),
            "e.g. --container-registry europe-west1-docker.pkg.dev/my-project/images".into(),
        )),
    }
}

/// A GKE cluster, `NAME` (in the connector's `region`) or `LOCATION/NAME`, as its resource name
/// in the connector's project.
fn cluster_name(connector: &Connector, cluster: &str) -> Result<String, ConnectorFailure> {
    let project = project(connector).map_err(|e| {
        misused(
            "register::orchestrator",
            e.message,
            format!(
                "register the connector again with `--setting project=ID` (`stackform connector delete {}` first)",
                connector.name
            ),
        )
    })?;
    let (location, name) = match cluster.split_once('/') {
        Some((l, n)) => (l.to_owned(), n.to_owned()),
        None => {
            let region = connector.settings.get("region").ok_or_else(|| {
                misused(
                    "register::orchestrator",
                    format!(
                        "`kubernetes:{cluster}` does not say where the cluster is, and gcp connector `{}` has no region",
                        connector.name
                    ),
                    format!("name its location: --orchestrator kubernetes:LOCATION/{cluster}"),
                )
            })?;
            (region.clone(), cluster.to_owned())
        }
    };
    Ok(format!(
        "projects/{project}/locations/{location}/clusters/{name}"
    ))
}

#[async_trait::async_trait]
impl ConnectorKind for Kind {
    fn name(&self) -> &str {
        "gcp"
    }

    fn auth_methods(&self) -> &[AuthMethod] {
        METHODS
    }

    fn provider(&self) -> Option<&str> {
        Some("gcp")
    }

    fn template(&self) -> Option<&str> {
        Some("gcp")
    }

    fn can(&self, _ability: Ability) -> bool {
        true
    }

    /// The project and who the connector acts as, from its record (no call to Google).
    async fn identify(&self, connector: &Resolved) -> Result<Identity, ConnectorFailure> {
        Ok(Identity {
            scope: project(&connector.connector)?,
            identity: identity(connector)?,
        })
    }

    fn checks(&self, _connector: &Connector) -> Checks {
        Checks::Actions {
            provider: "gcp".into(),
        }
    }

    async fn missing(
        &self,
        connector: &Resolved,
        _identity: &Identity,
        needed: &BTreeSet<String>,
    ) -> Result<Checked, ConnectorFailure> {
        if needed.is_empty() {
            return Ok(Checked::default());
        }
        Ok(Checked {
            missing: missing_permissions(connector, needed).await?,
            unchecked: None,
        })
    }

    async fn list(
        &self,
        connector: &Resolved,
        resource_type: Option<&str>,
    ) -> Result<Vec<Reached>, ConnectorFailure> {
        let found = list_resources(connector, resource_type).await?;
        Ok(crate::connected::reached(found))
    }

    async fn docker_login(
        &self,
        connector: &Resolved,
        registry: Option<&str>,
    ) -> Result<DockerLogin, ConnectorFailure> {
        Ok(registry_login(connector, registry).await?)
    }

    async fn cluster(
        &self,
        connector: &Resolved,
        cluster: &str,
    ) -> Result<ClusterAccess, ConnectorFailure> {
        Ok(gke_cluster(connector, cluster).await?)
    }

    /// The connector's access token, whatever the cluster.
    async fn token(&self, connector: &Resolved, _cluster: &str) -> Result<Token, ConnectorFailure> {
        Ok(access_token(connector).await?)
    }

    /// `gs://BUCKET`, an Artifact Registry repository, a GKE cluster in the connector's project.
    fn claim(
        &self,
        connector: &Connector,
        component: &str,
        given: &str,
    ) -> Result<Claim, ConnectorFailure> {
        let (type_name, key) = match component {
            "artifact_store" => (
                "gcp.storage.bucket",
                crate::connected::artifact_store(
                    given,
                    "gs://",
                    "a gs:// URI, which a gcp connector reaches",
                    "gs://ml-artifacts",
                )?,
            ),
            "container_registry" => ("gcp.artifactregistry.repository", repository_name(given)?),
            _ => ("gcp.container.cluster", cluster_name(connector, given)?),
        };
        Ok(Claim {
            type_name: type_name.into(),
            key,
        })
    }
}
