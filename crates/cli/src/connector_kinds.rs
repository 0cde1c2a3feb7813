//! Connector kinds as the commands use them: looked up in the registry by a connector's type
//! (so that no command names a cloud), listed by what they can do in the messages that say which
//! kinds would, and their failures turned into CLI errors. `connector` and `stack register` both
//! come here, not to each other.

use stackform_engine::ext::connectors::{Connector, Resolved};
use stackform_engine::provider::{
    Ability, ConnectorFailure, ConnectorKind, ErrorKind, ProviderError, Reached, Registry,
};

use crate::error::CliError;

/// The connector kinds of this build: the built-in providers' and the extensions' (plugins
/// and integrations add none, and are not read or started for this).
pub fn registry() -> Result<Registry, CliError> {
    Ok(stackform_providers::builtin_registry(
        &stackform_providers::Config {
            sim_dir: crate::home::home()?.join("sim"),
            connectors: None,
            plugin_dirs: Vec::new(),
            integrations: Vec::new(),
        },
    ))
}

/// The kind of `connector`, if this build has it.
pub fn kind_of<'r>(
    registry: &'r Registry,
    connector: &Connector,
) -> Option<&'r std::sync::Arc<dyn ConnectorKind>> {
    registry.connector_kind(&connector.kind)
}

/// `a, b and c` (or `a, b or c`, with `or`).
fn listed(names: &[&str], last: &str) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., end] => format!("{} {last} {end}", rest.join(", ")),
    }
}

/// `an` before a vowel, `a` otherwise (`an aws connector`, `a gcp connector`).
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// The names of the kinds `which` accepts, in registration order.
fn names(registry: &Registry, which: impl Fn(&dyn ConnectorKind) -> bool) -> Vec<&str> {
    registry
        .connector_kinds()
        .filter(|k| which(k.as_ref()))
        .map(|k| k.name())
        .collect()
}

/// `aws, gcp and azure` (`last`: `and` or `or`): the kinds `which` accepts.
pub fn phrase(
    registry: &Registry,
    which: impl Fn(&dyn ConnectorKind) -> bool,
    last: &str,
) -> String {
    listed(&names(registry, which), last)
}

/// `use an aws, gcp or azure connector`: the advice to use a kind `which` accepts.
pub fn use_one(registry: &Registry, which: impl Fn(&dyn ConnectorKind) -> bool) -> String {
    let kinds = names(registry, which);
    let first = kinds.first().copied().unwrap_or_default();
    format!("{} {} connector", article(first), listed(&kinds, "or"))
}

/// The kinds that do `ability`.
pub fn able(ability: Ability) -> impl Fn(&dyn ConnectorKind) -> bool {
    move |k| k.can(ability)
}

/// The kinds whose connectors a provider's resource types take credentials from.
pub fn deploys(k: &dyn ConnectorKind) -> bool {
    k.provider().is_some()
}

/// A failure as a CLI error: `usual` says what a provider's error means for this command,
/// `unsupported` what the kind's "cannot" does (with the kind's advice, if it has some).
pub fn failure(
    f: ConnectorFailure,
    usual: impl FnOnce(ProviderError) -> CliError,
    unsupported: impl FnOnce(Option<String>) -> CliError,
) -> CliError {
    match f {
        ConnectorFailure::Provider(e) => usual(e),
        ConnectorFailure::Advised {
            usage: true,
            code,
            message,
            help,
        } => CliError::usage(code, message, help),
        ConnectorFailure::Advised {
            code,
            message,
            help,
            ..
        } => CliError::failed(code, message, help),
        ConnectorFailure::Unsupported(help) => unsupported(help),
    }
}

/// A connector check's failure: settings the check cannot work with are a usage error, a
/// refusal by the cloud is a failure naming the connector.
pub fn refused(name: &str, e: ProviderError) -> CliError {
    if e.kind == ErrorKind::Invalid {
        return CliError::usage(
            "connector::invalid",
            e.message,
            format!(
                "`stackform connector describe {name}` shows its settings; register it again to change them"
            ),
        );
    }
    CliError::failed(
        "connector::refused",
        e.message,
        format!(
            "check the credentials of connector `{name}` (`stackform connector describe {name}`), or register it again"
        ),
    )
}

/// What a connector reaches, of `resource_type` if given, through its kind's own listing.
pub async fn list_resources(
    registry: &Registry,
    resolved: &Resolved,
    resource_type: Option<&str>,
) -> Result<Vec<Reached>, CliError> {
    let name = resolved.connector.name.as_str();
    let unsupported = || {
        CliError::usage(
            "connector::list_unsupported",
            format!(
                "this stackform lists what {} connectors reach; `{name}` is a {} connector",
                phrase(registry, able(Ability::List), "and"),
                resolved.connector.kind
            ),
            format!("use {}", use_one(registry, able(Ability::List))),
        )
    };
    let Some(kind) = kind_of(registry, &resolved.connector).filter(|k| k.can(Ability::List)) else {
        return Err(unsupported());
    };
    kind.list(resolved, resource_type)
        .await
        .map_err(|f| failure(f, |e| refused(name, e), |_| unsupported()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_as_english() {
        assert_eq!(listed(&["owl", "yak", "emu"], "and"), "owl, yak and emu");
        assert_eq!(listed(&["owl", "yak"], "or"), "owl or yak");
        assert_eq!(listed(&["owl"], "or"), "owl");
        assert_eq!(article("owl"), "an");
        assert_eq!(article("yak"), "a");
    }
}
