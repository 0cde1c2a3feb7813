//! Secret references: `{{ <secret_name>.<key> }}` in component configuration and as the value
//! of a sensitive input, never interpreted by the expression language.
//!
//! Every reference is checked before a plan is shown (a missing secret or key is a diagnostic
//! naming the reference, where it is, and what to create). Values are resolved only where they
//! are used: a sensitive input's value goes to the resources that read it (their state seals
//! it); component configuration keeps the reference as written. What outlives the process (the
//! state, saved plans) holds the reference and a keyed hash ([`fingerprint`]), so a changed
//! secret shows as a change, never the value.

use std::collections::BTreeMap;

use crate::base::diagnostic::{Diagnostic, Diagnostics};
use crate::base::source::Located;
use crate::base::value::Value;
use crate::lang::expr::Part;
use crate::lang::template::{TValue, Template, file_span};
use crate::plan::resolve::InputValues;

/// A secret's keys and values.
pub type SecretValues = BTreeMap<String, String>;

/// Why a secret store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot use the secret store at {path}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("secret `{name}` cannot be decrypted with this key")]
    Decrypt { name: String },
    #[error("the secret store key is not usable: {detail}")]
    Key { detail: String },
    #[error(
        "the secret store key {} is missing, and {} secret(s) were sealed with it ({})",
        key_file.display(), sealed.len(), sealed.join(", ")
    )]
    KeyMissing {
        key_file: std::path::PathBuf,
        sealed: Vec<String>,
    },
    #[error("a secret named `{0}` exists already")]
    Exists(String),
    #[error("there is no secret named `{0}`")]
    NoSuchSecret(String),
    #[error(
        "`{0}` is not a valid secret name: letters, digits, `_` and `-`, starting with a letter"
    )]
    BadName(String),
    #[error("{what}: {message}")]
    Backend { what: String, message: String },
}

impl SecretError {
    /// What the user can do about it.
    pub fn help(&self) -> String {
        match self {
            SecretError::Io { .. } => {
                "check the permissions of STACKFORM_HOME and its `secrets` directory".into()
            }
            SecretError::Decrypt { .. } => "the store's key changed: set STACKFORM_SECRETS_KEY (or restore STACKFORM_HOME/secrets.key) to the key the secret was written with".into(),
            SecretError::Key { .. } => "STACKFORM_SECRETS_KEY must be 64 hexadecimal characters (32 bytes); unset it to use the key file in STACKFORM_HOME".into(),
            SecretError::KeyMissing { key_file, sealed } => format!(
                "restore {} from a backup, or set STACKFORM_SECRETS_KEY to the key the secrets were sealed with; \
                 a new key would make them unreadable. If the key is lost for good, delete them \
                 (`stackform secret delete {}`) and create them again",
                key_file.display(),
                sealed.first().map(String::as_str).unwrap_or("NAME")
            ),
            SecretError::Exists(name) => format!("change it with `stackform secret update {name}`"),
            SecretError::NoSuchSecret(name) => format!("create it with `stackform secret create {name}` (KEY=VALUE lines on stdin)"),
            SecretError::BadName(_) => "e.g. `mlflow` or `db-prod`".into(),
            SecretError::Backend { .. } => "check the backend's credentials and reachability, then try again".into(),
        }
    }
}

/// Where secrets live: the local encrypted store, or a cloud secret manager.
#[async_trait::async_trait]
pub trait SecretStore: Send + Sync {
    /// Where, for messages: "the local store in ~/.local/share/stackform/secrets".
    fn describe(&self) -> String;
    async fn get(&self, name: &str) -> Result<Option<SecretValues>, SecretError>;
    async fn names(&self) -> Result<Vec<String>, SecretError>;
    /// Creates or replaces a secret.
    async fn put(&self, name: &str, values: &SecretValues) -> Result<(), SecretError>;
    /// `false` when there was none.
    async fn delete(&self, name: &str) -> Result<bool, SecretError>;
}

/// Secret names: what `{{ name.key }}` can refer to and a file or ARN can hold.
pub fn validate_name(name: &str) -> Result<(), SecretError> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(SecretError::BadName(name.to_owned()))
    }
}

/// One `{{ name.key }}` and where it is used.
#[derive(Debug, Clone)]
pub struct Ref {
    pub name: String,
    pub key: String,
    /// `component experiment_tracker, tracking_token`, `input api_token`.
    pub used_in: String,
    pub location: Option<Located>,
}

impl Ref {
    pub fn text(&self) -> String {
        format!("{{{{ {}.{} }}}}", self.name, self.key)
    }
}

/// `(name, key)` if `text` is exactly one secret reference.
pub fn parse_ref(text: &str) -> Option<(String, String)> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let (name, key) = inner.split_once('.')?;
    let word = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    (word(name) && word(key)).then(|| (name.to_owned(), key.to_owned()))
}

/// Every secret reference in the template's component configuration.
pub fn template_refs(template: &Template) -> Vec<Ref> {
    fn walk(t: &Template, v: &TValue, used_in: &str, out: &mut Vec<Ref>) {
        match v {
            TValue::Text {
                template: text,
                span,
                direct,
            } => {
                for p in &text.parts {
                    if let Part::Secret {
                        name,
                        key,
                        span: at,
                    } = p
                    {
                        out.push(Ref {
                            name: name.clone(),
                            key: key.clone(),
                            used_in: used_in.to_owned(),
                            location: Some(t.locate(file_span(*direct, *span, at))),
                        });
                    }
                }
            }
            TValue::List { items, .. } => items.iter().for_each(|i| walk(t, i, used_in, out)),
            TValue::Map { entries, .. } => entries
                .iter()
                .for_each(|(_, _, v)| walk(t, v, used_in, out)),
            TValue::Literal { .. } => {}
        }
    }
    let mut out = Vec::new();
    for c in &template.components {
        for p in &c.configuration {
            walk(
                template,
                &p.value,
                &format!("component `{}`, `{}`", c.kind, p.name),
                &mut out,
            );
        }
    }
    out
}

/// The sensitive inputs whose value is given as a secret reference, and the references.
pub fn input_refs(template: &Template, inputs: &InputValues) -> Vec<Ref> {
    let given = inputs
        .file
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .chain(inputs.vars.iter().cloned());
    let mut out: BTreeMap<String, Ref> = BTreeMap::new();
    for (input, raw) in given {
        let Some(def) = template.input(&input) else {
            continue;
        };
        let Some((name, key)) = parse_ref(&raw) else {
            out.remove(&input);
            continue;
        };
        if def.sensitive {
            out.insert(
                input.clone(),
                Ref {
                    name,
                    key,
                    used_in: format!("input `{input}`"),
                    location: Some(template.locate(def.span)),
                },
            );
        }
    }
    out.into_values().collect()
}

/// A diagnostic for each input that is not sensitive but is given a secret reference: it would
/// be used as the literal text `{{ name.key }}`, in the cloud and in state.
pub fn plain_input_refs(template: &Template, inputs: &InputValues) -> Diagnostics {
    let given = inputs
        .file
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .chain(inputs.vars.iter().cloned());
    let mut diags = Diagnostics::default();
    let mut seen = std::collections::BTreeSet::new();
    for (input, raw) in given {
        let Some(def) = template.input(&input) else {
            continue;
        };
        if def.sensitive || parse_ref(&raw).is_none() || !seen.insert(input.clone()) {
            continue;
        }
        diags.push(
            Diagnostic::new(
                "input::secret_in_plain_input",
                format!(
                    "input `{input}` is given the secret reference {}, but it is not sensitive: the reference would be used as literal text",
                    raw.trim()
                ),
            )
            .at(template.locate(def.span))
            .help(format!(
                "declare input `{input}` with `sensitive: true` in the template, so the secret's value is used and never shown; or give the value itself"
            )),
        );
    }
    diags
}

/// The values of `refs` by `(name, key)`, or a diagnostic for every reference that cannot be
/// resolved. Each secret is read once.
pub async fn resolve(
    refs: &[Ref],
    store: &dyn SecretStore,
) -> Result<Result<BTreeMap<(String, String), String>, Diagnostics>, SecretError> {
    let mut secrets: BTreeMap<String, Option<SecretValues>> = BTreeMap::new();
    for r in refs {
        if !secrets.contains_key(&r.name) {
            secrets.insert(r.name.clone(), store.get(&r.name).await?);
        }
    }
    let mut diags = Diagnostics::default();
    let mut out = BTreeMap::new();
    for r in refs {
        let problem = match &secrets[&r.name] {
            None => Some((
                format!(
                    "{} in {} names secret `{}`, which {} does not hold",
                    r.text(),
                    r.used_in,
                    r.name,
                    store.describe()
                ),
                format!(
                    "create it with `stackform secret create {}` (KEY=VALUE lines on stdin)",
                    r.name
                ),
            )),
            Some(values) => match values.get(&r.key) {
                Some(v) => {
                    out.insert((r.name.clone(), r.key.clone()), v.clone());
                    None
                }
                None => Some((
                    format!(
                        "{} in {}: secret `{}` has no key `{}`",
                        r.text(),
                        r.used_in,
                        r.name,
                        r.key
                    ),
                    format!(
                        "its keys are {}; add it with `stackform secret update {}`",
                        values
                            .keys()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        r.name
                    ),
                )),
            },
        };
        if let Some((message, help)) = problem {
            let mut d = Diagnostic::new("secret::missing", message).help(help);
            if let Some(l) = &r.location {
                d = d.at(l.clone());
            }
            diags.push(d);
        }
    }
    Ok(if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    })
}

/// `inputs` with every sensitive input given as a reference replaced by its value.
pub fn substitute(
    inputs: &InputValues,
    refs: &[Ref],
    values: &BTreeMap<(String, String), String>,
) -> InputValues {
    let value_of = |input: &str| {
        let r = refs
            .iter()
            .find(|r| r.used_in == format!("input `{input}`"))?;
        values.get(&(r.name.clone(), r.key.clone())).cloned()
    };
    InputValues {
        vars: inputs
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), value_of(k).unwrap_or_else(|| v.clone())))
            .collect(),
        file: inputs
            .file
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    value_of(k).map_or_else(|| v.clone(), Value::String),
                )
            })
            .collect(),
    }
}

/// A keyed hash of a secret's value: HMAC-SHA256 under the stack's id, so equal values in two
/// stacks do not look alike and nobody can test a guess without the id.
pub fn fingerprint(stack_id: &uuid::Uuid, value: &str) -> String {
    use hmac::{Mac, SimpleHmac};
    let mut mac = SimpleHmac::<sha2::Sha256>::new_from_slice(stack_id.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(value.as_bytes());
    format!("hmac-sha256:{}", hex::encode(mac.finalize().into_bytes()))
}

/// The fingerprint of every secret a text refers to (in order), or `None` if it refers to none.
pub fn fingerprint_text(
    stack_id: &uuid::Uuid,
    text: &str,
    values: &BTreeMap<(String, String), String>,
) -> Option<String> {
    let mut joined = String::new();
    let mut any = false;
    let Ok(t) = crate::lang::expr::parse_template(text) else {
        return None;
    };
    for p in &t.parts {
        if let Part::Secret { name, key, .. } = p {
            any = true;
            joined.push_str(values.get(&(name.clone(), key.clone()))?);
            joined.push('\0');
        }
    }
    any.then(|| fingerprint(stack_id, &joined))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_only_when_whole() {
        assert_eq!(
            parse_ref("{{ mlflow.token }}"),
            Some(("mlflow".into(), "token".into()))
        );
        assert_eq!(
            parse_ref("{{mlflow.token}}"),
            Some(("mlflow".into(), "token".into()))
        );
        assert_eq!(parse_ref("x {{ mlflow.token }}"), None);
        assert_eq!(parse_ref("{{ mlflow }}"), None);
    }

    #[test]
    fn fingerprints_depend_on_the_stack_and_the_value() {
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        assert_eq!(fingerprint(&a, "s3cret"), fingerprint(&a, "s3cret"));
        assert_ne!(fingerprint(&a, "s3cret"), fingerprint(&b, "s3cret"));
        assert_ne!(fingerprint(&a, "s3cret"), fingerprint(&a, "s3cre7"));
        assert!(!fingerprint(&a, "s3cret").contains("s3cret"));
    }
}
