//! Connector kinds: what a kind of service connector (`aws`, `gcp`, `azure`, `kubernetes`,
//! `docker`, or one an extension adds) does for the commands that use connectors. A kind is
//! registered in the [`Registry`](crate::provider::Registry) like an inventory, and looked up
//! there by the connector's type, so that no command names a cloud.
//!
//! A kind says which auth methods it accepts (and, per method, the key material and settings
//! each takes), which provider's resource types take their credentials from it, who a
//! connector's credentials are and whether they may do what a template's types declare,
//! what it reaches, the logins and tokens it makes, and how `stack register` names the
//! resources it reaches. What a kind cannot do answers [`ConnectorFailure::Unsupported`].
//!
//! The connector record and its resolved form live here too, so that the contract does not
//! depend on where connectors are kept (`ext::connectors` keeps them and re-exports these).

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::provider::ProviderError;

/// One auth method of a connector kind.
#[derive(Debug, Clone, Copy)]
pub struct AuthMethod {
    pub name: &'static str,
    /// Secret keys it needs.
    pub secrets: &'static [&'static str],
    /// Settings it takes (all optional but those in `required`).
    pub settings: &'static [&'static str],
    /// Settings it cannot do without (`role_arn` for an assumed role), given as `--role-arn`.
    pub required: &'static [&'static str],
}

impl AuthMethod {
    pub const fn new(
        name: &'static str,
        secrets: &'static [&'static str],
        settings: &'static [&'static str],
    ) -> AuthMethod {
        AuthMethod {
            name,
            secrets,
            settings,
            required: &[],
        }
    }

    /// The same method, refusing a connector without `settings`.
    pub const fn requires(self, settings: &'static [&'static str]) -> AuthMethod {
        AuthMethod {
            required: settings,
            ..self
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
    /// Its key material by key (never shown).
    pub secrets: BTreeMap<String, String>,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("connector", &self.connector)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a connector kind could not do what was asked.
#[derive(Debug, Clone)]
pub enum ConnectorFailure {
    /// The cloud's answer, or settings the kind cannot work with (`ErrorKind::Invalid`): the
    /// command gives its usual advice for it.
    Provider(ProviderError),
    /// A failure with the kind's own code and advice; `usage`: the connector cannot be used
    /// this way (rather than refused by the cloud).
    Advised {
        usage: bool,
        code: &'static str,
        message: String,
        help: String,
    },
    /// This kind cannot do that (here): with its own advice, else the command's.
    Unsupported(Option<String>),
}

impl From<ProviderError> for ConnectorFailure {
    fn from(e: ProviderError) -> Self {
        ConnectorFailure::Provider(e)
    }
}

/// Who a connector's credentials are: where they act (an account, project, subscription or
/// endpoint) and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub scope: String,
    pub identity: String,
}

/// What `connector verify` weighs a connector's permissions against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checks {
    /// The actions a template's resource types of `provider` declare.
    Actions { provider: String },
    /// Nothing, and why (a key that may do everything, a kind no resource type uses).
    Nothing(String),
}

/// The declared actions a connector's identity may not perform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    pub missing: Vec<String>,
    /// Why they could not be checked, if they could not (then `missing` is empty).
    pub unchecked: Option<String>,
}

/// Something a connector reaches, as `connector list-resources` prints it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reached {
    /// The ZenML resource type: `s3-bucket`, `docker-registry`, `kubernetes-cluster`, ...
    pub resource_type: String,
    /// What `stack register` takes for it (a URI, a login server, a cluster name).
    pub id: String,
    /// The stack component it can be (`artifact_store`, `container_registry`, `orchestrator`).
    pub component: Option<&'static str>,
}

/// A docker login: the registry host, the `auth` value docker keeps, and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerLogin {
    pub host: String,
    pub auth: String,
    pub expires_at: Option<String>,
}

/// What a kubeconfig needs of a cluster: its context name, API server and CA (base64 PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAccess {
    pub name: String,
    pub server: String,
    pub certificate_authority: String,
}

/// A bearer token for a cluster and until when it is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub token: String,
    pub expires: SystemTime,
}

/// A resource `stack register` was given, as the kind understands it: its resource type and
/// its physical id, or (for kinds that look resources up) the key to look it up by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub type_name: String,
    pub key: String,
}

/// What the commands ask of a connector kind besides its auth methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ability {
    /// `connector list-resources`, and `stack register --discover`.
    List,
    /// `connector login` and `connector token`.
    Login,
    /// `stack register` through it.
    Register,
}

/// One kind of service connector.
#[async_trait::async_trait]
pub trait ConnectorKind: Send + Sync {
    /// The connector type (`--type`), e.g. `aws`.
    fn name(&self) -> &str;

    /// The auth methods it accepts.
    fn auth_methods(&self) -> &[AuthMethod];

    /// The provider whose resource types take their credentials from it
    /// (`providers.<provider>.connector`, `deploy --connector`); none for a kind that reaches
    /// one cluster or registry.
    fn provider(&self) -> Option<&str> {
        None
    }

    /// The built-in template `connector verify` checks against when none is given; none for a
    /// kind no template uses.
    fn template(&self) -> Option<&str> {
        None
    }

    /// Whether it does what `ability` names.
    fn can(&self, _ability: Ability) -> bool {
        false
    }

    /// Who the connector's credentials are, as the service it reaches answers (or, where
    /// asking costs nothing, as its record says).
    async fn identify(&self, connector: &Resolved) -> Result<Identity, ConnectorFailure>;

    /// What `connector verify` weighs this connector's permissions against.
    fn checks(&self, _connector: &Connector) -> Checks {
        Checks::Nothing(
            "no stackform resource type uses this kind of connector, so there are no declared actions to check"
                .into(),
        )
    }

    /// The actions of `needed` that `identity` may not perform.
    async fn missing(
        &self,
        _connector: &Resolved,
        _identity: &Identity,
        _needed: &BTreeSet<String>,
    ) -> Result<Checked, ConnectorFailure> {
        Ok(Checked::default())
    }

    /// What it reaches, of `resource_type` if given.
    async fn list(
        &self,
        _connector: &Resolved,
        _resource_type: Option<&str>,
    ) -> Result<Vec<Reached>, ConnectorFailure> {
        Err(ConnectorFailure::Unsupported(None))
    }

    /// A docker login for `registry` (a host), else the one the connector reaches.
    async fn docker_login(
        &self,
        _connector: &Resolved,
        _registry: Option<&str>,
    ) -> Result<DockerLogin, ConnectorFailure> {
        Err(ConnectorFailure::Unsupported(None))
    }

    /// What a kubeconfig needs of `cluster`.
    async fn cluster(
        &self,
        _connector: &Resolved,
        _cluster: &str,
    ) -> Result<ClusterAccess, ConnectorFailure> {
        Err(ConnectorFailure::Unsupported(None))
    }

    /// A fresh token for `cluster`.
    async fn token(
        &self,
        _connector: &Resolved,
        _cluster: &str,
    ) -> Result<Token, ConnectorFailure> {
        Err(ConnectorFailure::Unsupported(None))
    }

    /// What `stack register` was given for `component` (`artifact_store`,
    /// `container_registry`, `orchestrator`: the cluster's name), as a resource of this kind's
    /// cloud.
    fn claim(
        &self,
        _connector: &Connector,
        _component: &str,
        _given: &str,
    ) -> Result<Claim, ConnectorFailure> {
        Err(ConnectorFailure::Unsupported(None))
    }

    /// Whether claims are looked up through the connector ([`ConnectorKind::find`]) rather
    /// than being ids already.
    fn looks_up(&self, _connector: &Connector) -> bool {
        false
    }

    /// The physical id of a claimed resource; `None` when the connector reaches none such.
    async fn find(
        &self,
        _connector: &Resolved,
        _component: &str,
        claim: &Claim,
    ) -> Result<Option<String>, ConnectorFailure> {
        Ok(Some(claim.key.clone()))
    }
}
