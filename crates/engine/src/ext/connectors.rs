//! Service connectors: named credentials to a cloud that stacks use by name.
//!
//! A connector record (`$STACKFORM_HOME/connectors/NAME.json`, mode 0600) holds the cloud, the
//! auth method, the settings that are not secret (region, profile, role ARN, external id) and
//! the environments it may serve. Key material lives in the secret store as secret
//! `connector-NAME`, never in the record, the stack or its state: a stack records only the
//! connector's name.
//!
//! Which types of connector there are, and the auth methods each accepts, is the registry's:
//! every connector kind (`provider::connector`) says its own.

use std::path::{Path, PathBuf};

use crate::ext::secrets::{SecretStore, SecretValues};
use crate::provider::Registry;

pub use crate::provider::connector::{AuthMethod, Connector, Resolved};

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("there is no connector named `{0}`")]
    NotFound(String),
    #[error("a connector named `{0}` exists already")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "`{0}` is not a valid connector name: letters, digits, `_` and `-`, starting with a letter, at most 64 characters"
    )]
    BadName(String),
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
            ConnectorError::BadName(_) => {
                "e.g. `aws-staging`; `stackform connector list` shows the registered ones".into()
            }
            ConnectorError::InUse { stacks, .. } => format!(
                "destroy those stacks first (`stackform destroy {}`)",
                stacks.first().cloned().unwrap_or_default()
            ),
            ConnectorError::Io { .. } => "check the permissions of STACKFORM_HOME".into(),
            ConnectorError::Secret(e) => e.help(),
        }
    }
}

/// Connector names follow the rule of secret names (a connector's key material is kept in a
/// secret of its name), but a bad one is reported as a connector name.
pub fn validate_name(name: &str) -> Result<(), ConnectorError> {
    crate::ext::secrets::validate_name(name).map_err(|_| ConnectorError::BadName(name.to_owned()))
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
        validate_name(name)?;
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

    /// Checks and records a connector (its type and auth method as `registry`'s connector kinds
    /// have them); its key material goes to `secrets`.
    pub async fn register(
        &self,
        mut connector: Connector,
        registry: &Registry,
        material: SecretValues,
        secrets: &dyn SecretStore,
    ) -> Result<Connector, ConnectorError> {
        validate_name(&connector.name)?;
        if self.path(&connector.name).exists() {
            return Err(ConnectorError::Exists(connector.name));
        }
        let method = method(registry, &connector.kind, &connector.auth_method)?;
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
        if let Some(key) = method
            .required
            .iter()
            .find(|k| !connector.settings.contains_key(**k))
        {
            return Err(ConnectorError::Invalid(format!(
                "auth method `{}` needs --{}",
                connector.auth_method,
                key.replace('_', "-")
            )));
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

/// The auth method `method` of connector type `kind`, as `registry`'s connector kinds have them.
pub fn method(registry: &Registry, kind: &str, method: &str) -> Result<AuthMethod, ConnectorError> {
    let Some(found) = registry.connector_kind(kind) else {
        return Err(ConnectorError::Invalid(format!(
            "unknown connector type `{kind}` (known: {})",
            registry
                .connector_kinds()
                .map(|k| k.name().to_owned())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let methods = found.auth_methods();
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
