//! Service connectors: named credentials to a cloud that stacks use by name.
//!
//! A connector record (`$STACKFORM_HOME/connectors/NAME.json`, mode 0600) holds the cloud, the
//! auth method, the settings that are not secret (region, profile, role ARN, external id) and
//! the environments it may serve. Key material lives in the secret store as secret
//! `connector-NAME`, never in the record, the stack or its state: a stack records only the
//! connector's name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ext::secrets::{SecretStore, SecretValues};

/// The clouds and tools a connector can reach, each with its auth methods and, per method, the
/// secret keys it needs (read from stdin or files) and the settings it takes.
pub const TYPES: &[(&str, &[AuthMethod])] = &[
    (
        "aws",
        &[
            AuthMethod::new("implicit", &[], &["region"]),
            AuthMethod::new("profile", &[], &["region", "profile"]),
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
            ),
        ],
    ),
    (
        "gcp",
        &[
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
        ],
    ),
    (
        "azure",
        &[
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
        ],
    ),
    (
        "kubernetes",
        &[
            AuthMethod::new("token", &["token"], &["server", "certificate_authority"]),
            AuthMethod::new("kubeconfig", &["kubeconfig"], &["context"]),
        ],
    ),
    (
        "docker",
        &[AuthMethod::new(
            "username-password",
            &["username", "password"],
            &["registry"],
        )],
    ),
];

/// One auth method of a connector type.
#[derive(Debug, Clone, Copy)]
pub struct AuthMethod {
    pub name: &'static str,
    /// Secret keys it needs.
    pub secrets: &'static [&'static str],
    /// Settings it takes (all optional but those `verify` names).
    pub settings: &'static [&'static str],
}

impl AuthMethod {
    const fn new(
        name: &'static str,
        secrets: &'static [&'static str],
        settings: &'static [&'static str],
    ) -> AuthMethod {
        AuthMethod {
            name,
            secrets,
            settings,
        }
    }
}

/// A registered connector.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Connector {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub auth_method: String,
    /// Settings that are not secret: region, profile, role ARN, external id, ...
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// The secret holding its key material (its keys, never the values, are listed here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default)]
    pub secret_keys: Vec<String>,
    /// The environments it may serve; empty: any.
    #[serde(default)]
    pub environments: Vec<String>,
    pub created_at: String,
}

impl Connector {
    /// Whether it may serve a stack of `environment` (`None`: a stack with no environment).
    pub fn serves(&self, environment: Option<&str>) -> bool {
        self.environments.is_empty()
            || environment.is_some_and(|e| self.environments.iter().any(|x| x == e))
    }

    /// The secret store name of a connector's key material.
    pub fn secret_name(name: &str) -> String {
        format!("connector-{name}")
    }
}

/// A connector with its key material, for the provider that uses it.
#[derive(Clone)]
pub struct Resolved {
    pub connector: Connector,
    pub secrets: SecretValues,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("connector", &self.connector)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("there is no connector named `{0}`")]
    NotFound(String),
    #[error("a connector named `{0}` exists already")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("connector `{name}` is used by stack(s) {}", stacks.join(", "))]
    InUse { name: String, stacks: Vec<String> },
    #[error("cannot use the connector store at {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Secret(#[from] crate::ext::secrets::SecretError),
}

impl ConnectorError {
    pub fn help(&self) -> String {
        match self {
            ConnectorError::NotFound(_) => "see `stackform connector list`".into(),
            ConnectorError::Exists(n) => {
                format!("pick another name, or `stackform connector delete {n}` first")
            }
            ConnectorError::Invalid(_) => "see `stackform connector register --help`".into(),
            ConnectorError::InUse { stacks, .. } => format!(
                "destroy those stacks first (`stackform destroy {}`)",
                stacks.first().cloned().unwrap_or_default()
            ),
            ConnectorError::Io { .. } => "check the permissions of STACKFORM_HOME".into(),
            ConnectorError::Secret(e) => e.help(),
        }
    }
}

/// The connectors of a stackform home.
pub struct Connectors {
    dir: PathBuf,
}

impl Connectors {
    pub fn new(home: &Path) -> Connectors {
        Connectors {
            dir: home.join("connectors"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    pub fn get(&self, name: &str) -> Result<Connector, ConnectorError> {
        crate::ext::secrets::validate_name(name)?;
        let path = self.path(name);
        let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => ConnectorError::NotFound(name.to_owned()),
            _ => ConnectorError::Io {
                path: path.clone(),
                source,
            },
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            ConnectorError::Invalid(format!("{} is not a connector record: {e}", path.display()))
        })
    }

    pub fn list(&self) -> Result<Vec<Connector>, ConnectorError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(ConnectorError::Io {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            if let Some(name) = e.file_name().to_str().and_then(|n| n.strip_suffix(".json")) {
                out.push(self.get(name)?);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Checks and records a connector; its key material goes to `secrets`.
    pub async fn register(
        &self,
        mut connector: Connector,
        material: SecretValues,
        secrets: &dyn SecretStore,
    ) -> Result<Connector, ConnectorError> {
        crate::ext::secrets::validate_name(&connector.name)?;
        if self.path(&connector.name).exists() {
            return Err(ConnectorError::Exists(connector.name));
        }
        let method = method(&connector.kind, &connector.auth_method)?;
        for key in connector.settings.keys() {
            if !method.settings.contains(&key.as_str()) {
                return Err(ConnectorError::Invalid(format!(
                    "{} connectors with auth method `{}` take no setting `{key}` (they take: {})",
                    connector.kind,
                    connector.auth_method,
                    method.settings.join(", ")
                )));
            }
        }
        if connector.auth_method == "assume-role" && !connector.settings.contains_key("role_arn") {
            return Err(ConnectorError::Invalid(
                "auth method `assume-role` needs --role-arn".into(),
            ));
        }
        if connector.auth_method == "profile" && !connector.settings.contains_key("profile") {
            return Err(ConnectorError::Invalid(
                "auth method `profile` needs --profile".into(),
            ));
        }
        let missing: Vec<&str> = method
            .secrets
            .iter()
            .filter(|k| !material.contains_key(**k))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(ConnectorError::Invalid(format!(
                "auth method `{}` needs {} (KEY=VALUE lines on stdin, or --from-file KEY=PATH)",
                connector.auth_method,
                missing.join(", ")
            )));
        }
        if let Some(extra) = material
            .keys()
            .find(|k| !method.secrets.contains(&k.as_str()))
        {
            return Err(ConnectorError::Invalid(format!(
                "auth method `{}` takes no secret key `{extra}` (it takes: {})",
                connector.auth_method,
                method.secrets.join(", ")
            )));
        }
        if !material.is_empty() {
            let secret = Connector::secret_name(&connector.name);
            secrets.put(&secret, &material).await?;
            connector.secret = Some(secret);
            connector.secret_keys = material.keys().cloned().collect();
        }
        crate::base::fsio::create_private_dir(&self.dir).map_err(|source| ConnectorError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let path = self.path(&connector.name);
        crate::base::fsio::write_atomic(
            &path,
            &serde_json::to_vec_pretty(&connector).expect("serializes"),
        )
        .map_err(|source| ConnectorError::Io { path, source })?;
        Ok(connector)
    }

    /// Deletes a connector that no stack in `states` uses, and its key material.
    pub async fn delete(
        &self,
        name: &str,
        states: &[crate::state::State],
        secrets: &dyn SecretStore,
    ) -> Result<(), ConnectorError> {
        let connector = self.get(name)?;
        let stacks: Vec<String> = states
            .iter()
            .filter(|s| s.connectors().iter().any(|c| c == name))
            .map(|s| s.stack.name.clone())
            .collect();
        if !stacks.is_empty() {
            return Err(ConnectorError::InUse {
                name: name.to_owned(),
                stacks,
            });
        }
        if let Some(secret) = &connector.secret {
            secrets.delete(secret).await?;
        }
        let path = self.path(name);
        std::fs::remove_file(&path).map_err(|source| ConnectorError::Io { path, source })
    }

    /// The connector with its key material.
    pub async fn resolve(
        &self,
        name: &str,
        secrets: &dyn SecretStore,
    ) -> Result<Resolved, ConnectorError> {
        let connector = self.get(name)?;
        let values = match &connector.secret {
            Some(secret) => secrets.get(secret).await?.ok_or_else(|| {
                ConnectorError::Invalid(format!(
                    "the key material of connector `{name}` (secret `{secret}`) is gone from the secret store; register the connector again"
                ))
            })?,
            None => SecretValues::new(),
        };
        Ok(Resolved {
            connector,
            secrets: values,
        })
    }
}

/// The auth method `method` of connector type `kind`.
pub fn method(kind: &str, method: &str) -> Result<AuthMethod, ConnectorError> {
    let Some((_, methods)) = TYPES.iter().find(|(t, _)| *t == kind) else {
        return Err(ConnectorError::Invalid(format!(
            "unknown connector type `{kind}` (known: {})",
            TYPES.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")
        )));
    };
    methods
        .iter()
        .find(|m| m.name == method)
        .copied()
        .ok_or_else(|| {
            ConnectorError::Invalid(format!(
                "{kind} connectors have no auth method `{method}` (they have: {})",
                methods
                    .iter()
                    .map(|m| m.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// Resolves connectors by name for the providers that use them.
#[async_trait::async_trait]
pub trait ConnectorSource: Send + Sync {
    async fn resolve(&self, name: &str) -> Result<Resolved, ConnectorError>;
}

/// The connectors of a home, with the secret store that holds their key material.
pub struct HomeConnectors {
    pub connectors: Connectors,
    pub secrets: Box<dyn SecretStore>,
}

#[async_trait::async_trait]
impl ConnectorSource for HomeConnectors {
    async fn resolve(&self, name: &str) -> Result<Resolved, ConnectorError> {
        self.connectors.resolve(name, self.secrets.as_ref()).await
    }
}
