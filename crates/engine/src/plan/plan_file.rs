//! Saved plans (`plan --out FILE`): what `deploy --plan FILE` will apply, and what it was made
//! against.
//!
//! A saved plan holds the template's source and hash, the inputs (sensitive ones only as a
//! salted hash, so they must be given again and are checked), the stack's suffix, and the
//! lineage and serial of the state it was computed from. Apply re-plans from these and refuses
//! the file if the state has moved on or the result differs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::Digest;
use uuid::Uuid;

use crate::base::value::Value;
use crate::lang::template::Template;
use crate::plan::Plan;
use crate::state::StoredInput;

pub const PLAN_FILE_SCHEMA: &str = "stackform/plan-file/v1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedPlan {
    pub schema: String,
    pub stack: SavedStack,
    pub template: SavedTemplate,
    pub inputs: BTreeMap<String, StoredInput>,
    pub state: SavedState,
    /// The plan as `plan --output json` shows it.
    pub plan: serde_json::Value,
    /// The plan's `--target`s: `deploy --plan` applies the same subset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// The plan's `--replace`s: `deploy --plan` replaces the same resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replace: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedStack {
    pub name: String,
    pub suffix: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedTemplate {
    pub name: String,
    pub hash: String,
    pub source: String,
    /// Where it came from: a path or `builtin:<name>`.
    pub origin: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedState {
    pub lineage: Option<Uuid>,
    pub serial: u64,
}

impl SavedPlan {
    pub fn new(
        plan: &Plan,
        template: &Template,
        inputs: &BTreeMap<String, Value>,
        name: &str,
        suffix: &str,
    ) -> SavedPlan {
        let inputs = inputs
            .iter()
            .map(|(k, v)| {
                let sensitive = template.input(k).is_some_and(|d| d.sensitive);
                let stored = if sensitive {
                    StoredInput::sensitive(v)
                } else {
                    StoredInput::Value(v.clone())
                };
                (k.clone(), stored)
            })
            .collect();
        SavedPlan {
            schema: PLAN_FILE_SCHEMA.to_owned(),
            stack: SavedStack {
                name: name.to_owned(),
                suffix: suffix.to_owned(),
            },
            template: SavedTemplate {
                name: template.name.clone(),
                hash: plan.template.hash.clone(),
                source: template.source.text.clone(),
                origin: template.source.name.clone(),
            },
            inputs,
            state: SavedState {
                lineage: plan.state.lineage,
                serial: plan.state.serial,
            },
            plan: serde_json::to_value(plan).unwrap_or(serde_json::Value::Null),
            targets: Vec::new(),
            replace: Vec::new(),
        }
    }
}

impl StoredInput {
    /// A salted SHA-256 of a sensitive value: shows that it changed, never what it is.
    pub fn sensitive(value: &Value) -> StoredInput {
        let salt: [u8; 16] = rand::random();
        let salt = hex::encode(salt);
        let hash = salted_hash(&salt, value);
        StoredInput::Sensitive { salt, hash }
    }

    /// Whether `value` is the value stored.
    pub fn matches(&self, value: &Value) -> bool {
        match self {
            StoredInput::Value(v) => v == value,
            StoredInput::Sensitive { salt, hash } => salted_hash(salt, value) == *hash,
            // Plan files never hold these: a saved plan's sensitive inputs are salted hashes.
            StoredInput::Secret { .. } => false,
        }
    }
}

fn salted_hash(salt: &str, value: &Value) -> String {
    let mut h = sha2::Sha256::new();
    h.update(salt.as_bytes());
    h.update(value.to_json().to_string().as_bytes());
    format!("sha256:{}", hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_inputs_are_stored_as_salted_hashes() {
        let secret = Value::from("hunter2");
        let stored = StoredInput::sensitive(&secret);
        let json = serde_json::to_string(&stored).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert!(stored.matches(&secret));
        assert!(!stored.matches(&Value::from("hunter3")));
        // The salt makes two hashes of the same value differ.
        assert_ne!(
            json,
            serde_json::to_string(&StoredInput::sensitive(&secret)).unwrap()
        );
    }
}
