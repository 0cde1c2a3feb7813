//! stackform's resource types and built-in templates.
//!
//! One module per provider (`local`, `sim`, and the clouds behind cargo features), one file per
//! resource type. Each type implements the engine's `ResourceType`; `registry` gathers them,
//! with each cloud's census and connector kind (and the `kubernetes` and `docker` connector
//! kinds of `connector_checks`). The engine never depends on this crate.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "azure")]
pub mod azure;
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
mod connected;
#[cfg(feature = "http-connectors")]
pub mod connector_checks;
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
mod drain;
#[cfg(feature = "gcp")]
pub mod gcp;
#[cfg(feature = "kubernetes")]
pub mod kubernetes;
pub mod local;
pub mod marks;
pub mod plugin;
pub mod props;
pub mod sim;
pub mod templates;
pub mod time;
#[cfg(any(feature = "gcp", feature = "azure", feature = "http-connectors"))]
mod tls;

use std::path::PathBuf;

use stackform_engine::lang::schema::Catalog;
use stackform_engine::provider::Registry;

/// Where providers keep their files, and how they find connectors.
#[derive(Clone)]
pub struct Config {
    /// The simulated world of the `sim` provider (`$STACKFORM_SIM_DIR`, else `<home>/sim`).
    pub sim_dir: PathBuf,
    /// The connectors that `providers.<p>.connector` settings name.
    pub connectors: Option<std::sync::Arc<dyn stackform_engine::ext::connectors::ConnectorSource>>,
    /// Where provider plugins are looked for before `PATH` (`<home>/plugins`).
    pub plugin_dirs: Vec<PathBuf>,
    /// The installed integrations: their plugins come first, their flavors join the catalog.
    pub integrations: Vec<stackform_engine::ext::integration::Integration>,
}

impl Config {
    /// The configuration for a stackform home directory, honouring `STACKFORM_SIM_DIR`.
    pub fn for_home(home: &std::path::Path) -> Config {
        let sim_dir = std::env::var_os("STACKFORM_SIM_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("sim"));
        let connectors = secret_store(home).ok().map(|secrets| {
            std::sync::Arc::new(stackform_engine::ext::connectors::HomeConnectors {
                connectors: stackform_engine::ext::connectors::Connectors::new(home),
                secrets,
            }) as std::sync::Arc<dyn stackform_engine::ext::connectors::ConnectorSource>
        });
        Config {
            sim_dir,
            connectors,
            plugin_dirs: vec![home.join("plugins")],
            integrations: installed_integrations(home),
        }
    }
}

/// The integrations installed in `home`. One that no longer reads is left out with a warning
/// here; `stackform integration list` reports it as an error.
fn installed_integrations(
    home: &std::path::Path,
) -> Vec<stackform_engine::ext::integration::Integration> {
    stackform_engine::ext::integration::Integrations::new(home)
        .list()
        .unwrap_or_else(|e| {
            tracing::warn!("installed integrations cannot be read: {e}");
            Vec::new()
        })
}

/// Every resource type and data source of this build, the plugins found and the integrations'
/// flavors.
pub fn registry(config: &Config) -> Registry {
    let mut registry = builtin_registry(config);
    add_plugins_and_flavors(&mut registry, config);
    registry
}

/// Resource types, data sources, inventories, connector kinds and flavors added from Rust: each built-in provider
/// is one, and another crate adds its own with [`extend`] before running the CLI
/// (`stackform_cli::main`), making a stackform binary of its own with them built in. Its types
/// then take part in plans, intent records, state, destroy and sweep exactly like the built-in
/// ones, because they are added to the same [`Registry`] the same way.
pub trait Extension: Send + Sync {
    /// Adds what it provides to a registry being built (once per registry the process builds).
    fn register(&self, registry: &mut Registry, config: &Config);
}

impl<F: Fn(&mut Registry, &Config) + Send + Sync> Extension for F {
    fn register(&self, registry: &mut Registry, config: &Config) {
        self(registry, config)
    }
}

static EXTENSIONS: std::sync::Mutex<Vec<std::sync::Arc<dyn Extension>>> =
    std::sync::Mutex::new(Vec::new());

/// Adds `extension` to every registry this process builds from now on. A type named like a
/// built-in one replaces it (the extension is added last).
pub fn extend(extension: impl Extension + 'static) {
    EXTENSIONS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(std::sync::Arc::new(extension));
}

/// The built-in providers, as extensions like any other.
fn builtin_extensions() -> Vec<Box<dyn Extension>> {
    let mut out: Vec<Box<dyn Extension>> =
        vec![Box::new(|r: &mut Registry, _: &Config| local::register(r))];
    #[cfg(feature = "aws")]
    out.push(Box::new(|r: &mut Registry, c: &Config| {
        aws::register(r, c.connectors.clone())
    }));
    #[cfg(feature = "gcp")]
    out.push(Box::new(|r: &mut Registry, c: &Config| {
        gcp::register(r, c.connectors.clone())
    }));
    #[cfg(feature = "azure")]
    out.push(Box::new(|r: &mut Registry, c: &Config| {
        azure::register(r, c.connectors.clone())
    }));
    #[cfg(feature = "kubernetes")]
    out.push(Box::new(|r: &mut Registry, c: &Config| {
        kubernetes::register(r, c.connectors.clone())
    }));
    #[cfg(feature = "http-connectors")]
    out.push(Box::new(|r: &mut Registry, _: &Config| {
        r.add_connector_kind(std::sync::Arc::new(connector_checks::Kubernetes));
        r.add_connector_kind(std::sync::Arc::new(connector_checks::Docker));
    }));
    out.push(Box::new(|r: &mut Registry, c: &Config| {
        sim::register(r, &c.sim_dir)
    }));
    out
}

/// The types built into this binary alone (the built-in providers and the extensions added with
/// [`extend`]): no plugins, no integrations. What the connector commands look connector kinds
/// up in (plugins add none), without starting any plugin.
pub fn builtin_registry(config: &Config) -> Registry {
    let mut registry = Registry::new();
    for e in builtin_extensions() {
        e.register(&mut registry, config);
    }
    let extensions = EXTENSIONS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for e in extensions {
        e.register(&mut registry, config);
    }
    for (type_name, minutes) in SLOW_TYPES {
        registry.set_expected_duration(type_name, std::time::Duration::from_secs(minutes * 60));
    }
    registry
}

/// The types whose operations take minutes rather than seconds (typical creates, as the clouds
/// document them), so that the executor starts the chains through them first. Until the clouds'
/// modules are reorganized, kept here rather than in each type's schema.
const SLOW_TYPES: [(&str, u64); 5] = [
    ("aws.eks.cluster", 12),
    ("aws.eks.nodegroup", 5),
    ("gcp.container.cluster", 8),
    ("gcp.container.node_pool", 4),
    ("azure.containerservice.managed_cluster", 8),
];

/// The providers built into this binary (`aws`, `local`, ...), which plugins may not replace.
pub fn builtin_providers() -> Vec<String> {
    builtin_registry(&Config {
        sim_dir: PathBuf::from("sim"),
        connectors: None,
        plugin_dirs: Vec::new(),
        integrations: Vec::new(),
    })
    .catalog()
    .providers()
    .into_iter()
    .map(str::to_owned)
    .collect()
}

fn add_plugins_and_flavors(registry: &mut Registry, config: &Config) {
    // An integration's own plugin serves its provider, whatever else is on PATH.
    let mut plugins: Vec<PathBuf> = config
        .integrations
        .iter()
        .flat_map(|i| i.plugins().map(std::path::Path::to_path_buf))
        .collect();
    for found in plugin::discover(&config.plugin_dirs) {
        if !plugins.iter().any(|p| p.file_name() == found.file_name()) {
            plugins.push(found);
        }
    }
    plugin::register(registry, &plugins);
    for flavor in stackform_engine::ext::integration::flavors(&config.integrations) {
        registry.add_flavor(flavor);
    }
}

/// The secret store `STACKFORM_SECRETS_BACKEND` names: `local` (the default; encrypted files in
/// `home`) or `aws` (AWS Secrets Manager in `STACKFORM_SECRETS_REGION`, else the chain's region).
pub fn secret_store(
    home: &std::path::Path,
) -> Result<Box<dyn stackform_engine::ext::secrets::SecretStore>, String> {
    match std::env::var("STACKFORM_SECRETS_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("local") => Ok(Box::new(
            stackform_engine::ext::secret_store::LocalStore::new(home),
        )),
        #[cfg(feature = "aws")]
        Ok("aws") => Ok(Box::new(aws::secrets_manager::SecretsManager::new(
            std::env::var("STACKFORM_SECRETS_REGION")
                .ok()
                .filter(|r| !r.is_empty()),
        ))),
        Ok(other) => Err(format!(
            "STACKFORM_SECRETS_BACKEND is `{other}`; this stackform knows `local` and `aws`"
        )),
    }
}

/// The object storage a remote state backend URL names. `local` and `file://` need none (the
/// engine keeps those as files).
pub fn state_store(
    url: &stackform_engine::state::remote::BackendUrl,
) -> Result<std::sync::Arc<dyn stackform_engine::state::remote::ObjectStore>, String> {
    use stackform_engine::state::remote::BackendUrl;
    match url {
        #[cfg(feature = "aws")]
        BackendUrl::S3 { bucket, prefix } => Ok(std::sync::Arc::new(
            aws::state_store::S3Store::new(bucket, prefix),
        )),
        BackendUrl::Local | BackendUrl::File(_) => {
            Err(format!("{url} is kept as files, not in object storage"))
        }
        #[cfg(feature = "gcp")]
        BackendUrl::Gcs { bucket, prefix } => Ok(std::sync::Arc::new(
            gcp::state_store::GcsStore::new(bucket, prefix),
        )),
        #[cfg(feature = "azure")]
        BackendUrl::AzureBlob {
            account,
            container,
            prefix,
        } => Ok(std::sync::Arc::new(azure::state_store::AzureStore::new(
            account, container, prefix,
        ))),
        #[allow(unreachable_patterns)]
        other => Err(format!(
            "this build of stackform cannot keep state in {other}: use s3://, gs://, file:// or local"
        )),
    }
}

/// What an identity of `provider` (a cloud) needs, beyond the cloud resources themselves, to
/// make and drain the objects of a cluster it reaches (`providers.kubernetes.credentials_from`),
/// as the cloud's IAM names it: AWS asks EKS for the cluster (its access entry grants the rest,
/// and the cluster's creator has one); GKE's IAM governs Kubernetes objects too
/// (https://cloud.google.com/kubernetes-engine/docs/how-to/iam#predefined); AKS hands out its
/// user kubeconfig by an action of its own.
pub fn cluster_access_actions(provider: &str) -> &'static [&'static str] {
    match provider {
        "aws" => &["eks:DescribeCluster"],
        "gcp" => &[
            "container.clusters.get",
            "container.namespaces.create",
            "container.namespaces.get",
            "container.namespaces.update",
            "container.namespaces.delete",
            "container.serviceAccounts.create",
            "container.serviceAccounts.get",
            "container.serviceAccounts.update",
            "container.serviceAccounts.delete",
            "container.services.list",
            "container.services.delete",
            "container.ingresses.list",
            "container.ingresses.delete",
            "container.persistentVolumeClaims.list",
            "container.persistentVolumeClaims.delete",
        ],
        "azure" => &["Microsoft.ContainerService/managedClusters/listClusterUserCredential/action"],
        _ => &[],
    }
}

/// The schemas alone, for commands that only validate and plan: every built-in type, the
/// plugins and the integrations of `home`.
pub fn catalog(home: &std::path::Path) -> Catalog {
    registry(&Config {
        sim_dir: PathBuf::from("sim"),
        connectors: None,
        plugin_dirs: vec![home.join("plugins")],
        integrations: installed_integrations(home),
    })
    .catalog()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use stackform_engine::ext::connectors::Resolved;
    use stackform_engine::provider::{AuthMethod, ConnectorFailure, ConnectorKind, Identity};

    struct Vault;

    #[async_trait::async_trait]
    impl ConnectorKind for Vault {
        fn name(&self) -> &str {
            "vault"
        }

        fn auth_methods(&self) -> &[AuthMethod] {
            const METHODS: &[AuthMethod] = &[AuthMethod::new("token", &["token"], &["address"])];
            METHODS
        }

        async fn identify(&self, _: &Resolved) -> Result<Identity, ConnectorFailure> {
            Ok(Identity {
                scope: "vault".into(),
                identity: "root".into(),
            })
        }
    }

    /// The built-in kinds come in the order messages list them, and an extension adds its own.
    #[test]
    fn connector_kinds_are_registered_and_an_extension_adds_one() {
        super::extend(
            |r: &mut stackform_engine::provider::Registry, _: &super::Config| {
                r.add_connector_kind(Arc::new(Vault))
            },
        );
        let registry = super::builtin_registry(&super::Config {
            sim_dir: "sim".into(),
            connectors: None,
            plugin_dirs: Vec::new(),
            integrations: Vec::new(),
        });
        let names: Vec<&str> = registry.connector_kinds().map(|k| k.name()).collect();
        assert_eq!(
            names,
            ["aws", "gcp", "azure", "kubernetes", "docker", "vault"]
        );
        let vault = registry.connector_kind("vault").expect("registered");
        assert_eq!(vault.auth_methods()[0].name, "token");
        assert_eq!(
            registry.connector_kind("aws").and_then(|k| k.provider()),
            Some("aws")
        );
    }
}
