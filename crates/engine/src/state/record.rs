//! The state file's types: the one serde boundary of the engine that outlives a process.
//!
//! A state records what exists for one stack: lineage (which history this is), serial (how many
//! writes), the stack's id and suffix, the template's source and hash, the inputs, and every
//! resource with its physical id, properties, outputs and dependencies. Plans are computed
//! against it. Writing it durably (journal, atomic snapshots, lock) is the executor's concern;
//! this module only defines the format and reads it, refusing formats it does not know.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::base::value::Value;
use crate::provider::RecoveryKey;

/// The state format this build writes. A newer one is refused; older ones are migrated.
/// 2: inputs may be stored as secret references (`StoredInput::Secret`).
pub const STATE_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub version: u32,
    /// Identifies one stack's history; a plan made against another lineage is refused.
    pub lineage: Uuid,
    /// Incremented by every write.
    pub serial: u64,
    pub stack: StackRecord,
    pub template: TemplateRecord,
    /// Input values; sensitive ones as a salted hash, never the value.
    #[serde(default)]
    pub inputs: BTreeMap<String, StoredInput>,
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceState>,
    /// The stack's components with their configuration resolved at the last deploy.
    #[serde(default)]
    pub components: Vec<ComponentRecord>,
    /// Each provider's settings (`providers:` in the template, evaluated), so that refresh and
    /// destroy reach the same region and account without the template.
    #[serde(default)]
    pub providers: BTreeMap<String, BTreeMap<String, Value>>,
    /// The template's outputs at the last deploy (sensitive ones are left out).
    #[serde(default)]
    pub outputs: BTreeMap<String, Value>,
    /// Operations recorded as started and not known to have finished: resolved on the next run.
    #[serde(default)]
    pub pending: BTreeMap<u64, PendingOperation>,
    /// The id the next operation gets.
    #[serde(default)]
    pub next_op: u64,
    /// The last journal entry folded into this snapshot; replay skips up to it.
    #[serde(default)]
    pub journal_seq: u64,
    /// When the stack was last changed (RFC 3339).
    #[serde(default)]
    pub updated_at: String,
    /// Resources let go with `state rm`: still in the cloud with the stack's tags, no longer
    /// managed. The census reports them as unmanaged instead of deleting them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub forgotten: BTreeMap<String, Forgotten>,
    /// Set when journal lines could not be read (see [`crate::state::store::load`]): an intent
    /// among them may stand for a resource that exists and is recorded nowhere else. Until a full
    /// deploy has finished, every create first looks for its resource by the stack's ownership
    /// marks and adopts it, so that the lost record never becomes a duplicate.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reconcile: bool,
}

/// A resource `state rm` let go.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Forgotten {
    #[serde(rename = "type")]
    pub type_name: String,
    pub physical_id: String,
    pub at: String,
}

/// A component of the registered stack.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ComponentRecord {
    #[serde(rename = "type")]
    pub kind: String,
    pub flavor: String,
    /// Secret references stay as written (`{{ mlflow.token }}`).
    pub configuration: BTreeMap<String, Value>,
    /// For configuration that refers to secrets: a keyed hash of the values it referred to at
    /// the last deploy, so a changed secret shows in the next plan.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
}

/// What a pending operation is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OpAction {
    Create,
    Update,
    Delete,
}

/// An operation recorded before its provider call, with what is needed to resolve it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingOperation {
    pub op: u64,
    pub action: OpAction,
    pub address: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub recovery: RecoveryKey,
    /// For updates and deletes: the resource's id.
    pub physical_id: Option<String>,
    /// The properties the call was given (sealed where sensitive).
    pub properties: BTreeMap<String, Value>,
    /// The addresses the resource depends on.
    #[serde(default)]
    pub dependencies: Vec<String>,
    pub started_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StackRecord {
    pub name: String,
    pub id: Uuid,
    /// Short random text fixed per stack, for globally unique cloud names.
    pub suffix: String,
    /// When the stack may be reaped (`deploy --ttl`), RFC 3339; tagged on every resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// `dev`, `staging` or `production` (`deploy --environment`): a production stack's
    /// resources are protected from the moment they exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

/// The environment whose resources are protected by default.
pub const PRODUCTION: &str = "production";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TemplateRecord {
    pub name: String,
    /// `sha256:<hex>` of the source text.
    pub hash: String,
    /// The source the stack was deployed from, so an upgraded built-in template never silently
    /// changes an existing stack's plan.
    pub source: String,
}

/// An input as stored: plain, or for a sensitive input a salted hash that shows a change.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum StoredInput {
    Value(Value),
    Sensitive {
        salt: String,
        hash: String,
    },
    /// A sensitive input given as a secret reference: the reference, and a keyed hash of the
    /// value it had (`secrets::fingerprint`).
    Secret {
        reference: String,
        hash: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResourceState {
    #[serde(rename = "type")]
    pub type_name: String,
    /// The cloud's identifier (an ARN, a path, a name).
    pub physical_id: String,
    #[serde(default)]
    pub properties: BTreeMap<String, Value>,
    #[serde(default)]
    pub outputs: BTreeMap<String, Value>,
    /// Addresses this resource depended on when it was last written; destroy walks them in reverse.
    #[serde(default)]
    pub dependencies: Vec<String>,
    #[serde(default)]
    pub protect: bool,
    #[serde(default)]
    pub created_at: String,
    /// Set for resources stackform did not create but found (Kubernetes' leftovers in a cluster,
    /// a census hit): deleted by destroy, left alone by deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found: Option<FoundRecord>,
}

impl ResourceState {
    /// What a provider is shown of this record.
    pub fn recorded(&self) -> crate::provider::Recorded<'_> {
        crate::provider::Recorded {
            physical_id: &self.physical_id,
            properties: &self.properties,
            outputs: &self.outputs,
        }
    }
}

/// How a resource that stackform did not create came into the state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FoundRecord {
    /// `tag kubernetes.io/cluster/NAME`, `census: tag stackform:stack-id`, ...
    pub by: String,
    /// Addresses deleted before this one (the cluster whose controllers made it).
    #[serde(default)]
    pub after: Vec<String>,
    /// Kept on purpose (`--retain-volumes`): reported, not deleted.
    #[serde(default)]
    pub retain: bool,
    /// Registered from what already existed (`stack register`): refreshed and described like
    /// any other resource, never deleted; destroying its stack deregisters it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
}

/// Why a state file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read state file {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {path} is corrupt or truncated: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "state file {path} has format version {found}, newer than this stackform understands ({supported})"
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// The stack's remote state could not be read or written (`denied`: credentials or access).
    #[error("remote state {at}: {detail}")]
    Remote {
        at: String,
        detail: String,
        denied: bool,
    },
}

impl StateError {
    /// A state file or journal that could not be read: too large to be one is corrupt.
    pub fn from_read(e: crate::base::fsio::ReadError) -> StateError {
        use crate::base::fsio::ReadError;
        match e {
            ReadError::TooLarge { ref path, .. } => StateError::Corrupt {
                path: path.clone(),
                detail: e.to_string(),
            },
            ReadError::Io { path, source } => StateError::Io { path, source },
        }
    }

    /// What the user can do about it.
    pub fn help(&self) -> String {
        match self {
            StateError::Io { .. } => {
                "check the file's permissions and that STACKFORM_HOME is right".into()
            }
            // Not the backup: it is one command behind, and what was made since would be made
            // again. The cloud's ownership tags know every resource.
            StateError::Corrupt { path, .. } => {
                let name = path
                    .parent()
                    .and_then(|d| d.file_name())
                    .map_or_else(|| "NAME".to_owned(), |n| n.to_string_lossy().into_owned());
                format!(
                    "nothing was changed; rebuild the state from the resources tagged with the stack's id: `stackform state rebuild {name}` (it sets the corrupt file aside). Do not copy {}.backup over it: the backup is one command behind, and a deploy would create again what was made since",
                    path.display()
                )
            }
            StateError::TooNew { .. } => {
                "upgrade stackform to the version that wrote this state".into()
            }
            StateError::Remote { denied: true, .. } => "check that the credentials in the environment may read and write the state backend's bucket or container, and that it exists; nothing was changed".into(),
            StateError::Remote { .. } => "run the command again: what was recorded before it stopped is resolved automatically".into(),
        }
    }
}

/// The prefix of a sealed (hashed) sensitive value.
const SEALED: &str = "sealed:sha256:";

/// Hides a sensitive value behind a hash keyed by the stack's id, so a state file shows that a
/// secret changed without holding it.
pub fn seal(stack_id: &Uuid, value: &Value) -> Value {
    use sha2::Digest;
    if is_sealed(value) || matches!(value, Value::Null | Value::Unknown) {
        return value.clone();
    }
    let mut h = sha2::Sha256::new();
    h.update(stack_id.as_bytes());
    h.update(value.to_json().to_string().as_bytes());
    Value::String(format!("{SEALED}{}", hex::encode(h.finalize())))
}

pub fn is_sealed(value: &Value) -> bool {
    matches!(value, Value::String(s) if s.starts_with(SEALED))
}

impl State {
    /// A new, empty state for a stack about to be deployed for the first time.
    pub fn new(name: &str, suffix: &str, template: TemplateRecord) -> State {
        State {
            version: STATE_VERSION,
            lineage: Uuid::new_v4(),
            serial: 0,
            stack: StackRecord {
                name: name.to_owned(),
                id: Uuid::new_v4(),
                suffix: suffix.to_owned(),
                expires_at: None,
                environment: None,
            },
            template,
            inputs: BTreeMap::new(),
            resources: BTreeMap::new(),
            components: Vec::new(),
            providers: BTreeMap::new(),
            outputs: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_op: 1,
            journal_seq: 0,
            updated_at: now_rfc3339(),
            forgotten: BTreeMap::new(),
            reconcile: false,
        }
    }

    /// Reads a state file; `Ok(None)` if there is none.
    pub fn load(path: &Path) -> Result<Option<State>, StateError> {
        use crate::base::fsio::{self, ReadError};
        let bytes = match fsio::read_bounded(path, "state file", fsio::MAX_STATE_BYTES) {
            Ok(b) => b,
            Err(ReadError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None);
            }
            Err(e) => return Err(StateError::from_read(e)),
        };
        Self::from_bytes(path, &bytes).map(Some)
    }

    /// Parses a state, checking the version before anything else so a newer format gets the
    /// right message rather than a confusing field error.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<State, StateError> {
        let corrupt = |detail: String| StateError::Corrupt {
            path: path.to_owned(),
            detail,
        };
        let json: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        let version = json
            .get("version")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| corrupt("no `version` field".into()))?;
        let version = u32::try_from(version).unwrap_or(u32::MAX);
        if version > STATE_VERSION {
            return Err(StateError::TooNew {
                path: path.to_owned(),
                found: version,
                supported: STATE_VERSION,
            });
        }
        let mut state: State = serde_json::from_value(json).map_err(|e| corrupt(e.to_string()))?;
        // Version 1 is a subset of version 2: it reads as it is and is written back as 2.
        state.version = STATE_VERSION;
        Ok(state)
    }

    /// The connectors its providers reach the cloud through (`providers.<p>.connector`).
    pub fn connectors(&self) -> Vec<String> {
        self.providers
            .values()
            .filter_map(|p| p.get("connector")?.as_str().map(str::to_owned))
            .collect()
    }

    pub fn is_production(&self) -> bool {
        self.stack.environment.as_deref() == Some(PRODUCTION)
    }

    /// The stack's ownership marks for the resource at `address`.
    pub fn ownership(&self, address: &str) -> crate::provider::Ownership {
        crate::provider::Ownership {
            stack: self.stack.name.clone(),
            stack_id: self.stack.id,
            address: address.to_owned(),
            suffix: self.stack.suffix.clone(),
            expires_at: self.stack.expires_at.clone(),
        }
    }
}

/// The current time as RFC 3339, for records people read.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_versions_are_refused_before_field_errors() {
        let err =
            State::from_bytes(Path::new("s.json"), br#"{"version": 99, "x": 1}"#).unwrap_err();
        assert!(matches!(err, StateError::TooNew { found: 99, .. }), "{err}");
    }

    #[test]
    fn a_version_1_state_reads_and_is_written_back_as_the_current_version() {
        let v1 = br#"{"version": 1, "lineage": "6f1c7d2e-8a3b-4c5d-9e0f-1a2b3c4d5e6f", "serial": 3,
            "stack": {"name": "old", "id": "0e1d2c3b-4a59-4687-9a8b-7c6d5e4f3a2b", "suffix": "abc123"},
            "template": {"name": "t", "hash": "sha256:00", "source": ""},
            "inputs": {"token": {"sensitive": {"salt": "00", "hash": "sha256:11"}}}}"#;
        let state = State::from_bytes(Path::new("s.json"), v1).unwrap();
        assert_eq!(state.version, STATE_VERSION);
        assert_eq!(state.serial, 3);
        assert!(matches!(
            state.inputs["token"],
            StoredInput::Sensitive { .. }
        ));
    }

    #[test]
    fn truncated_state_is_corrupt_and_names_the_backup() {
        let err = State::from_bytes(Path::new("s.json"), br#"{"version": 1, "lin"#).unwrap_err();
        assert!(matches!(err, StateError::Corrupt { .. }));
        assert!(
            err.help().contains("stackform state rebuild"),
            "{}",
            err.help()
        );
    }
}
