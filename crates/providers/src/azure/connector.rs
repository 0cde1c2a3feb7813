//! The `azure` connector kind: what an azure connector reaches. A `storage-shared-key`
//! connector is verified and lists its
//! account's containers through the Blob service itself (Azurite on loopback), signed with the
//! key from the secret store; the key never leaves this process. A connector of the Entra ID
//! methods (implicit, service principal) is verified by signing in and asking ARM which actions
//! the identity's role assignments allow on the subscription (`Microsoft.Authorization/
//! permissions`, the one call that answers this for the caller itself).

use azure_storage_blob::models::BlobServiceClientListContainersOptions;
use futures_util::TryStreamExt;
use stackform_engine::ext::connectors::{Connector, Resolved};
use stackform_engine::provider::{
    Ability, AuthMethod, Checked, Checks, Claim, ClusterAccess, ConnectorFailure, ConnectorKind,
    DockerLogin, ErrorKind, Identity, ProviderError, Reached, Token,
};

use super::client::arm::{Arm, http_client};
use super::client::{account, causes, classify, error, principal, shared_key_account};

/// The account's containers, as the `az://NAME` URIs artifact stores take.
pub async fn list_containers(resolved: &Resolved) -> Result<Vec<String>, ProviderError> {
    let account = shared_key_account(resolved)?;
    let what = format!(
        "list the containers of storage account {} at {}",
        account.name, account.endpoint
    );
    let mut pager = account
        .service()?
        .list_containers(Some(BlobServiceClientListContainersOptions::default()))
        .map_err(|e| error(&what, &e))?;
    let mut out = Vec::new();
    while let Some(item) = pager.try_next().await.map_err(|e| error(&what, &e))? {
        if let Some(name) = item.name {
            out.push(format!("az://{name}"));
        }
    }
    out.sort();
    Ok(out)
}

/// Who the connector is: the account whose key it holds, proven by a signed request the
/// service accepts. A wrong key is refused by the service (403).
pub async fn verify(resolved: &Resolved) -> Result<(String, String), ProviderError> {
    let account = shared_key_account(resolved)?;
    list_containers(resolved).await?;
    Ok((
        account.name.clone(),
        format!(
            "shared key of storage account {} at {}",
            account.name, account.endpoint
        ),
    ))
}

/// The subscription an Entra ID connector works in: its `subscription_id` setting, else
/// AZURE_SUBSCRIPTION_ID.
pub fn subscription(resolved: &Resolved) -> Result<String, ProviderError> {
    resolved
        .connector
        .settings
        .get("subscription_id")
        .cloned()
        .or_else(|| {
            std::env::var("AZURE_SUBSCRIPTION_ID")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "azure connector `{}` names no subscription: register it with `--setting subscription_id=ID`",
                    resolved.connector.name
                ),
            )
        })
}

/// Who an Entra ID connector is, as far as its record says.
pub fn identity(resolved: &Resolved) -> String {
    let c = &resolved.connector;
    match c.auth_method.as_str() {
        "service-principal" => format!(
            "service principal {} in tenant {}",
            c.settings.get("client_id").map_or("?", String::as_str),
            c.settings.get("tenant_id").map_or("?", String::as_str)
        ),
        _ => "the environment's Entra ID identity".to_owned(),
    }
}

/// One entry of `Microsoft.Authorization/permissions`: what one role assignment allows.
struct Permission {
    actions: Vec<String>,
    not_actions: Vec<String>,
    data_actions: Vec<String>,
    not_data_actions: Vec<String>,
}

/// Whether an Azure RBAC action pattern (`*` anywhere, case-insensitive) covers `action`.
fn covers(pattern: &str, action: &str) -> bool {
    let (p, a) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == a;
    }
    let mut rest = a.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    true
}

/// Blob reads and writes are data actions in Azure RBAC, the rest control-plane actions.
fn is_data_action(action: &str) -> bool {
    action.to_ascii_lowercase().contains("/blobs/")
}

impl Permission {
    fn allows(&self, action: &str) -> bool {
        let (allowed, denied) = if is_data_action(action) {
            (&self.data_actions, &self.not_data_actions)
        } else {
            (&self.actions, &self.not_actions)
        };
        allowed.iter().any(|p| covers(p, action)) && !denied.iter().any(|p| covers(p, action))
    }
}

/// The actions in `needed` that none of the identity's role assignments on the connector's
/// subscription allows.
pub async fn missing_actions(
    resolved: &Resolved,
    needed: &std::collections::BTreeSet<String>,
) -> Result<Vec<String>, ProviderError> {
    let subscription = subscription(resolved)?;
    let arm = entra_arm(resolved)?;
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    let granted: Vec<Permission> = paged(
        &arm,
        &format!("Microsoft.Authorization/permissions of subscription {subscription}"),
        format!(
            "/subscriptions/{subscription}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01"
        ),
    )
    .await?
    .iter()
    .map(|p| Permission {
        actions: strings(&p["actions"]),
        not_actions: strings(&p["notActions"]),
        data_actions: strings(&p["dataActions"]),
        not_data_actions: strings(&p["notDataActions"]),
    })
    .collect();
    Ok(needed
        .iter()
        .filter(|action| !granted.iter().any(|g| g.allows(action)))
        .cloned()
        .collect())
}

/// ARM as an Entra ID connector's identity, in its subscription.
fn entra_arm(resolved: &Resolved) -> Result<Arm, ProviderError> {
    let subscription = subscription(resolved)?;
    let credential = match resolved.connector.auth_method.as_str() {
        "service-principal" => Some(principal(resolved)?),
        "storage-shared-key" => {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "azure connector `{}` holds a storage account key, which reaches no ARM resources: use a `service-principal` or `implicit` azure connector",
                    resolved.connector.name
                ),
            ));
        }
        _ => None,
    };
    Ok(Arm::for_connector(credential, Some(subscription)))
}

/// Every resource of ARM type `kind` (`Microsoft.ContainerRegistry/registries`) in the
/// connector's subscription, all pages, as ARM answers them.
async fn list_of(
    resolved: &Resolved,
    arm: &Arm,
    kind: &str,
    version: &str,
) -> Result<Vec<serde_json::Value>, ProviderError> {
    let subscription = subscription(resolved)?;
    paged(
        arm,
        &format!("list {kind} of subscription {subscription}"),
        format!("/subscriptions/{subscription}/providers/{kind}?api-version={version}"),
    )
    .await
}

/// Every `value` of an ARM list from `path` on, following `nextLink`.
async fn paged(
    arm: &Arm,
    what: &str,
    path: String,
) -> Result<Vec<serde_json::Value>, ProviderError> {
    let mut next = Some(path);
    let mut out = Vec::new();
    while let Some(path) = next.take() {
        let a = arm
            .call(what, azure_core::http::Method::Get, &path, None)
            .await?;
        if !(200..300).contains(&a.status) {
            return Err(classify(what, &a));
        }
        out.extend(a.body["value"].as_array().cloned().unwrap_or_default());
        next = a.body["nextLink"].as_str().map(str::to_owned);
    }
    Ok(out)
}

const REGISTRIES: (&str, &str) = ("Microsoft.ContainerRegistry/registries", "2023-07-01");
const CLUSTERS: (&str, &str) = ("Microsoft.ContainerService/managedClusters", "2024-09-01");
const ACCOUNTS: (&str, &str) = ("Microsoft.Storage/storageAccounts", "2023-05-01");

/// What an Entra ID connector reaches in its subscription: container registries by login
/// server (`docker-registry`) and AKS clusters by name (`kubernetes-cluster`).
pub async fn list_arm(
    resolved: &Resolved,
    kind: Option<&str>,
) -> Result<Vec<(String, String)>, ProviderError> {
    if let Some(k) = kind
        && !["docker-registry", "kubernetes-cluster"].contains(&k)
    {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "azure connectors that sign in to Entra ID list docker-registry and kubernetes-cluster resources, not `{k}` (a `storage-shared-key` connector lists blob containers)"
            ),
        ));
    }
    let arm = entra_arm(resolved)?;
    let wants = |k: &str| kind.is_none_or(|w| w == k);
    let mut out = Vec::new();
    if wants("docker-registry") {
        for r in list_of(resolved, &arm, REGISTRIES.0, REGISTRIES.1).await? {
            if let Some(server) = r["properties"]["loginServer"].as_str() {
                out.push(("docker-registry".to_owned(), server.to_owned()));
            }
        }
    }
    if wants("kubernetes-cluster") {
        for c in list_of(resolved, &arm, CLUSTERS.0, CLUSTERS.1).await? {
            if let Some(name) = c["name"].as_str() {
                out.push(("kubernetes-cluster".to_owned(), name.to_owned()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The ARM id of what `stack register` names through an Entra ID connector: a registry by
/// login server, an AKS cluster by name, a blob container (`az://NAME`) in the connector's
/// `storage_account`. `None` when the subscription holds no such resource.
pub async fn find_arm(
    resolved: &Resolved,
    component: &str,
    given: &str,
) -> Result<Option<String>, ProviderError> {
    let arm = entra_arm(resolved)?;
    let id_where = |items: Vec<serde_json::Value>, field: &dyn Fn(&serde_json::Value) -> bool| {
        items
            .into_iter()
            .find(|i| field(i))
            .and_then(|i| i["id"].as_str().map(str::to_owned))
    };
    Ok(match component {
        "container_registry" => {
            let server = given
                .split('/')
                .next()
                .unwrap_or(given)
                .to_ascii_lowercase();
            id_where(
                list_of(resolved, &arm, REGISTRIES.0, REGISTRIES.1).await?,
                &|r| {
                    r["properties"]["loginServer"]
                        .as_str()
                        .is_some_and(|l| l.eq_ignore_ascii_case(&server))
                },
            )
        }
        "orchestrator" => id_where(
            list_of(resolved, &arm, CLUSTERS.0, CLUSTERS.1).await?,
            &|c| c["name"].as_str() == Some(given),
        ),
        _ => {
            let account = resolved.connector.settings.get("storage_account").ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "azure connector `{}` names no storage account for az:// containers: register it with `--setting storage_account=NAME`",
                        resolved.connector.name
                    ),
                )
            })?;
            id_where(
                list_of(resolved, &arm, ACCOUNTS.0, ACCOUNTS.1).await?,
                &|a| a["name"].as_str() == Some(account.as_str()),
            )
            .map(|id| format!("{id}/blobServices/default/containers/{given}"))
        }
    })
}

/// The Entra ID application every AKS cluster with Entra ID integration takes tokens for
/// (what `kubelogin --server-id` names).
pub(crate) const AKS_SERVER_APP: &str = "6dae42f8-4368-4678-94ff-3960e28e3630/.default";

/// What a kubeconfig needs of an AKS cluster the connector reaches, from ARM's
/// `listClusterUserCredential`: the context name, the API server and its CA (base64 PEM).
pub async fn aks_cluster(
    resolved: &Resolved,
    cluster: &str,
) -> Result<ClusterAccess, ProviderError> {
    let id = find_arm(resolved, "orchestrator", cluster)
        .await?
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::NotFound,
                format!(
                    "no AKS cluster `{cluster}` in the subscription of connector `{}`; `stackform connector list-resources {} --resource-type kubernetes-cluster` lists them",
                    resolved.connector.name, resolved.connector.name
                ),
            )
        })?;
    let arm = entra_arm(resolved)?;
    let (server, ca, _) = user_kubeconfig(&arm, &id).await?;
    Ok(ClusterAccess {
        name: cluster.to_owned(),
        server,
        certificate_authority: ca,
    })
}

/// The API server and its CA (base64 PEM) of the AKS cluster `id`, from the kubeconfig ARM's
/// `listClusterUserCredential` answers, and whether its user signs in with Entra ID (an `exec`
/// user, kubelogin) rather than a local certificate: only the cluster's entry is taken.
pub(crate) async fn user_kubeconfig(
    arm: &Arm,
    id: &str,
) -> Result<(String, String, bool), ProviderError> {
    use stackform_engine::base::value::Value;
    let what = format!("listClusterUserCredential {id}");
    let a = arm
        .call(
            &what,
            azure_core::http::Method::Post,
            &format!("{id}/listClusterUserCredential?api-version={}", CLUSTERS.1),
            None,
        )
        .await?;
    if !(200..300).contains(&a.status) {
        return Err(classify(&what, &a));
    }
    let malformed = || {
        ProviderError::new(
            ErrorKind::Other,
            format!("{what}: the answer holds no kubeconfig with a cluster"),
        )
    };
    let encoded = a.body["kubeconfigs"][0]["value"]
        .as_str()
        .ok_or_else(malformed)?;
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(malformed)?;
    let source = stackform_engine::base::source::SourceFile::new("kubeconfig", &text);
    let doc = stackform_engine::lang::yaml::parse(&source)
        .map_err(|_| malformed())?
        .to_value();
    let field = |v: &Value, k: &str| match v {
        Value::Map(m) => m.get(k).cloned(),
        _ => None,
    };
    let first = match field(&doc, "clusters") {
        Some(Value::List(items)) => items.into_iter().next(),
        _ => None,
    }
    .and_then(|c| field(&c, "cluster"))
    .ok_or_else(malformed)?;
    let text_of = |k: &str| match field(&first, k) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let server = text_of("server").ok_or_else(malformed)?;
    let ca = text_of("certificate-authority-data").unwrap_or_default();
    let entra = match field(&doc, "users") {
        Some(Value::List(users)) => users
            .iter()
            .filter_map(|u| field(u, "user"))
            .any(|u| field(&u, "exec").is_some()),
        _ => false,
    };
    Ok((server, ca, entra))
}

/// A fresh Entra ID token of the connector's identity for AKS's API servers, and its expiry.
pub async fn aks_token(resolved: &Resolved) -> Result<Token, ProviderError> {
    let credential = entra_credential(resolved, "cluster")?;
    let token = credential
        .get_token(&[AKS_SERVER_APP], None)
        .await
        .map_err(|e| {
            ProviderError::new(
                ErrorKind::Permission,
                format!(
                    "azure connector `{}`: no Entra ID token for AKS: {}",
                    resolved.connector.name,
                    causes(&e)
                ),
            )
        })?;
    let expires = std::time::SystemTime::UNIX_EPOCH
        + std::time::Duration::from_secs(token.expires_on.unix_timestamp().max(0) as u64);
    Ok(Token {
        token: token.token.secret().to_owned(),
        expires,
    })
}

/// The identity's Entra ID credential: a service principal's, or the environment's.
fn entra_credential(
    resolved: &Resolved,
    what: &str,
) -> Result<std::sync::Arc<dyn azure_core::credentials::TokenCredential>, ProviderError> {
    match resolved.connector.auth_method.as_str() {
        "service-principal" => principal(resolved),
        "storage-shared-key" => Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "azure connector `{}` holds a storage account key, which signs in to no {what}: use a `service-principal` or `implicit` azure connector",
                resolved.connector.name
            ),
        )),
        _ => account::entra(),
    }
}

/// A docker login for Azure Container Registry, as `az acr login` makes it: an Entra ID token
/// exchanged at the registry's `/oauth2/exchange` for a refresh token, which docker sends as
/// the password of the all-zero user. The registry is `--resource-id` (its login server), else
/// the subscription's only one. `STACKFORM_AZURE_ACR_ENDPOINT` sends the exchange elsewhere (the
/// tests' contract server).
pub async fn acr_login(
    resolved: &Resolved,
    host: Option<&str>,
) -> Result<DockerLogin, ProviderError> {
    use base64::Engine as _;
    let host = match host {
        Some(h) => h.split('/').next().unwrap_or(h).to_ascii_lowercase(),
        None => {
            let servers: Vec<String> = list_arm(resolved, Some("docker-registry"))
                .await?
                .into_iter()
                .map(|(_, s)| s)
                .collect();
            match servers.as_slice() {
                [one] => one.clone(),
                [] => {
                    return Err(ProviderError::new(
                        ErrorKind::NotFound,
                        format!(
                            "connector `{}` reaches no container registry",
                            resolved.connector.name
                        ),
                    ));
                }
                many => {
                    return Err(ProviderError::new(
                        ErrorKind::Invalid,
                        format!(
                            "connector `{}` reaches {} registries ({}): name one with --resource-id",
                            resolved.connector.name,
                            many.len(),
                            many.join(", ")
                        ),
                    ));
                }
            }
        }
    };
    let credential = entra_credential(resolved, "registry")?;
    let token = credential
        .get_token(&["https://management.azure.com/.default"], None)
        .await
        .map_err(|e| {
            ProviderError::new(
                ErrorKind::Permission,
                format!(
                    "azure connector `{}`: no Entra ID token: {}",
                    resolved.connector.name,
                    causes(&e)
                ),
            )
        })?;
    let base = std::env::var("STACKFORM_AZURE_ACR_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| format!("https://{host}"));
    let mut form = vec![
        ("grant_type", "access_token".to_owned()),
        ("service", host.clone()),
        ("access_token", token.token.secret().to_owned()),
    ];
    if let Some(tenant) = resolved.connector.settings.get("tenant_id") {
        form.push(("tenant", tenant.clone()));
    }
    let what = format!("ACR token exchange at {host}");
    let answer = http_client()?
        .post(format!("{}/oauth2/exchange", base.trim_end_matches('/')))
        .form(&form)
        .send()
        .await
        .map_err(|e| ProviderError::new(ErrorKind::Retryable, format!("{what}: {e}")))?;
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.unwrap_or_default();
    let refresh = body["refresh_token"]
        .as_str()
        .filter(|_| status.is_success());
    let Some(refresh) = refresh else {
        let kind = if status.as_u16() == 401 || status.as_u16() == 403 {
            ErrorKind::Permission
        } else if status.as_u16() == 404 {
            ErrorKind::NotFound
        } else {
            ErrorKind::Other
        };
        return Err(ProviderError::new(
            kind,
            format!(
                "{what}: HTTP {status}: {}",
                body["errors"][0]["message"]
                    .as_str()
                    .unwrap_or("no refresh token")
            ),
        ));
    };
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("00000000-0000-0000-0000-000000000000:{refresh}"));
    Ok(DockerLogin {
        host,
        auth,
        expires_at: None,
    })
}

/// The `azure` connector kind.
pub struct Kind;

const METHODS: &[AuthMethod] = &[
    AuthMethod::new("implicit", &[], &["subscription_id", "storage_account"]),
    AuthMethod::new(
        "service-principal",
        &["client_secret"],
        &[
            "tenant_id",
            "client_id",
            "subscription_id",
            "storage_account",
        ],
    ),
    AuthMethod::new(
        "storage-shared-key",
        &["account_key"],
        &["account_name", "blob_endpoint"],
    ),
];

/// Whether the connector holds a storage account key (the Blob service only) rather than
/// signing in to Entra ID.
fn shared_key(connector: &Connector) -> bool {
    connector.auth_method == "storage-shared-key"
}

/// A storage-shared-key connector's failure: settings it cannot be checked with are a usage
/// error of their own.
fn key_refused(e: ProviderError) -> ConnectorFailure {
    if e.kind == ErrorKind::Invalid {
        return ConnectorFailure::Advised {
            usage: true,
            code: "connector::verify_unsupported",
            message: e.message,
            help: "register a `storage-shared-key` connector to check a storage account, or deploy with this one".into(),
        };
    }
    ConnectorFailure::Provider(e)
}

#[async_trait::async_trait]
impl ConnectorKind for Kind {
    fn name(&self) -> &str {
        "azure"
    }

    fn auth_methods(&self) -> &[AuthMethod] {
        METHODS
    }

    fn provider(&self) -> Option<&str> {
        Some("azure")
    }

    fn template(&self) -> Option<&str> {
        Some("azure")
    }

    fn can(&self, _ability: Ability) -> bool {
        true
    }

    /// A key: the account, proven by a request the service accepts. Entra ID: the
    /// subscription and the identity its record names.
    async fn identify(&self, connector: &Resolved) -> Result<Identity, ConnectorFailure> {
        if shared_key(&connector.connector) {
            let (scope, identity) = verify(connector).await.map_err(key_refused)?;
            return Ok(Identity { scope, identity });
        }
        Ok(Identity {
            scope: subscription(connector)?,
            identity: identity(connector),
        })
    }

    fn checks(&self, connector: &Connector) -> Checks {
        if shared_key(connector) {
            // A key grants everything on the account's data: no policies to weigh.
            return Checks::Nothing(
                "a storage account key may do everything with the account's data; it has no policies to check".into(),
            );
        }
        Checks::Actions {
            provider: "azure".into(),
        }
    }

    async fn missing(
        &self,
        connector: &Resolved,
        _identity: &Identity,
        needed: &std::collections::BTreeSet<String>,
    ) -> Result<Checked, ConnectorFailure> {
        Ok(Checked {
            missing: missing_actions(connector, needed).await?,
            unchecked: None,
        })
    }

    async fn list(
        &self,
        connector: &Resolved,
        resource_type: Option<&str>,
    ) -> Result<Vec<Reached>, ConnectorFailure> {
        if !shared_key(&connector.connector) {
            let found = list_arm(connector, resource_type).await?;
            return Ok(crate::connected::reached(found));
        }
        if let Some(t) = resource_type.filter(|t| *t != "blob-container") {
            return Err(ConnectorFailure::Advised {
                usage: true,
                code: "connector::list_type",
                message: format!("azure connectors list `blob-container` resources, not `{t}`"),
                help: "use --resource-type blob-container, or leave it out".into(),
            });
        }
        let found = list_containers(connector).await.map_err(key_refused)?;
        Ok(crate::connected::reached(
            found
                .into_iter()
                .map(|uri| ("blob-container".to_owned(), uri))
                .collect(),
        ))
    }

    async fn docker_login(
        &self,
        connector: &Resolved,
        registry: Option<&str>,
    ) -> Result<DockerLogin, ConnectorFailure> {
        Ok(acr_login(connector, registry).await?)
    }

    async fn cluster(
        &self,
        connector: &Resolved,
        cluster: &str,
    ) -> Result<ClusterAccess, ConnectorFailure> {
        Ok(aks_cluster(connector, cluster).await?)
    }

    /// An Entra ID token for AKS's server application, whatever the cluster.
    async fn token(&self, connector: &Resolved, _cluster: &str) -> Result<Token, ConnectorFailure> {
        Ok(aks_token(connector).await?)
    }

    /// A key reaches `az://CONTAINER` in its account only; an Entra ID connector also
    /// registries and AKS clusters, looked up in its subscription ([`ConnectorKind::find`]).
    fn claim(
        &self,
        connector: &Connector,
        component: &str,
        given: &str,
    ) -> Result<Claim, ConnectorFailure> {
        let key_only = shared_key(connector);
        let (type_name, key) = match component {
            "artifact_store" if key_only => (
                "azure.storage.container",
                crate::connected::artifact_store(
                    given,
                    "az://",
                    "a az:// URI, which a azure connector reaches",
                    "az://ml-artifacts",
                )?,
            ),
            _ if key_only => {
                return Err(ConnectorFailure::Unsupported(Some(
                    "a storage-shared-key azure connector registers an artifact store (az://CONTAINER) only; a service-principal or implicit one registers ACR registries and AKS clusters too".into(),
                )));
            }
            "artifact_store" => (
                "azure.storage.blob_container",
                crate::connected::artifact_store(
                    given,
                    "az://",
                    "an az:// URI, which an azure connector reaches",
                    "az://ml-artifacts",
                )?,
            ),
            "container_registry" => ("azure.containerregistry.registry", given.to_owned()),
            _ => ("azure.containerservice.managed_cluster", given.to_owned()),
        };
        Ok(Claim {
            type_name: type_name.into(),
            key,
        })
    }

    fn looks_up(&self, connector: &Connector) -> bool {
        !shared_key(connector)
    }

    async fn find(
        &self,
        connector: &Resolved,
        component: &str,
        claim: &Claim,
    ) -> Result<Option<String>, ConnectorFailure> {
        Ok(find_arm(connector, component, &claim.key).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbac_wildcards_cover_what_azure_says_they_do() {
        assert!(covers("*", "Microsoft.Storage/storageAccounts/write"));
        assert!(covers(
            "Microsoft.Storage/*",
            "microsoft.storage/storageAccounts/write"
        ));
        assert!(covers(
            "Microsoft.Storage/*/read",
            "Microsoft.Storage/storageAccounts/read"
        ));
        assert!(!covers(
            "Microsoft.Storage/*/read",
            "Microsoft.Storage/storageAccounts/write"
        ));
        assert!(!covers(
            "Microsoft.ContainerService/*",
            "Microsoft.Storage/storageAccounts/write"
        ));
        let reader = Permission {
            actions: vec!["*".into()],
            not_actions: vec!["Microsoft.Authorization/*/Write".into()],
            data_actions: vec![],
            not_data_actions: vec![],
        };
        assert!(reader.allows("Microsoft.Resources/subscriptions/resourceGroups/write"));
        assert!(!reader.allows("Microsoft.Authorization/roleAssignments/write"));
        // `*` in actions grants no data actions.
        assert!(
            !reader.allows("Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read")
        );
    }
}
