//! The simulated world on disk: `resources/<id>.json` per resource, `calls/` for call counts.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stackform_engine::base::value::Value;
use stackform_engine::provider::{ErrorKind, ProviderError};

/// A simulated resource as the world holds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WorldResource {
    pub id: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub stack: String,
    pub stack_id: String,
    pub address: String,
    pub properties: std::collections::BTreeMap<String, Value>,
}

pub struct World {
    dir: PathBuf,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> ProviderError {
    ProviderError::new(
        ErrorKind::Other,
        format!("sim world: cannot {what} {}: {e}", path.display()),
    )
}

impl World {
    pub fn new(dir: &Path) -> World {
        World {
            dir: dir.to_owned(),
        }
    }

    fn resources(&self) -> PathBuf {
        self.dir.join("resources")
    }

    fn path(&self, id: &str) -> PathBuf {
        self.resources().join(format!("{id}.json"))
    }

    /// Creates a resource file; an existing one with the same id is a conflict.
    pub fn insert(&self, r: &WorldResource) -> Result<(), ProviderError> {
        let dir = self.resources();
        std::fs::create_dir_all(&dir).map_err(|e| io("create", &dir, e))?;
        let path = self.path(&r.id);
        let mut f = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!("a sim resource with id `{}` already exists", r.id),
                ));
            }
            Err(e) => return Err(io("create", &path, e)),
        };
        let bytes = serde_json::to_vec_pretty(r).unwrap_or_default();
        f.write_all(&bytes).map_err(|e| io("write", &path, e))
    }

    /// Replaces a resource file atomically.
    pub fn replace(&self, r: &WorldResource) -> Result<(), ProviderError> {
        let path = self.path(&r.id);
        let tmp = self
            .resources()
            .join(format!(".{}.tmp-{}", r.id, std::process::id()));
        let bytes = serde_json::to_vec_pretty(r).unwrap_or_default();
        std::fs::write(&tmp, bytes).map_err(|e| io("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io("write", &path, e))
    }

    pub fn get(&self, id: &str) -> Option<WorldResource> {
        serde_json::from_slice(&std::fs::read(self.path(id)).ok()?).ok()
    }

    /// Removes a resource; `false` if there was none.
    pub fn remove(&self, id: &str) -> Result<bool, ProviderError> {
        let path = self.path(id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io("delete", &path, e)),
        }
    }

    /// Every resource in the world.
    pub fn all(&self) -> Vec<WorldResource> {
        let Ok(entries) = std::fs::read_dir(self.resources()) else {
            return Vec::new();
        };
        let mut out: Vec<WorldResource> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// Counts a call and returns its number (1 for the first), across processes.
    pub fn count_call(&self, key: &str) -> u64 {
        let dir = self.dir.join("calls");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(key);
        let n = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        let _ = std::fs::write(&path, n.to_string());
        n
    }
}
