//! External providers: resource types served by an executable, in any language, over a
//! versioned JSON protocol (README.md, "Provider plugins").
//!
//! A plugin is an executable named `stackform-provider-NAME`, found in `$STACKFORM_HOME/plugins/`
//! or on `PATH`. stackform runs it once per call with one JSON request on stdin and reads one JSON
//! answer from stdout: `describe` (its resource types and their schemas) when the registry is
//! built, then `create`, `read`, `update`, `delete` and `find` (the resource carrying the given
//! ownership marks, for an interrupted create), and `list` for sweep and the census. A process per call keeps every failure local: a
//! plugin that crashes, hangs past its timeout (it is killed) or answers malformed JSON fails that
//! one call with an error naming it, and the intent recorded before the call lets the next run
//! resolve it like any interrupted operation.

mod inventory;
mod protocol;
mod types;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use stackform_engine::provider::Registry;

pub use protocol::PROTOCOL;

/// Every `stackform-provider-*` executable in `dirs` then on `PATH` (the first of a name wins).
pub fn discover(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut seen = std::collections::BTreeSet::new();
    let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for dir in dirs.iter().chain(path_dirs.iter()) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| is_plugin(p))
            .collect();
        found.sort();
        for p in found {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if seen.insert(name) {
                out.push(p);
            }
        }
    }
    out
}

fn is_plugin(p: &Path) -> bool {
    let named = p
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("stackform-provider-") && n.len() > 19);
    #[cfg(unix)]
    let runnable = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    #[cfg(not(unix))]
    let runnable = p.is_file();
    named && runnable
}

/// Runs one plugin's `describe`: the provider it serves and its resource type names, or why it
/// could not answer (for `integration add`, which refuses a plugin that does not work).
pub fn describe(path: &Path) -> Result<(String, Vec<String>), String> {
    let plugin = protocol::Plugin::new(path.to_path_buf());
    let described = plugin.describe().map_err(|e| e.to_string())?;
    Ok((
        described.provider,
        described.types.into_iter().map(|t| t.type_name).collect(),
    ))
}

/// Adds every plugin's resource types; a plugin that cannot describe itself is reported and left
/// out (its types are then unknown, and a template using them says so).
pub fn register(registry: &mut Registry, plugins: &[PathBuf]) {
    for path in plugins {
        let plugin = Arc::new(protocol::Plugin::new(path.clone()));
        match plugin.describe() {
            Ok(described) => {
                if described.lists {
                    registry.add_inventory(
                        &described.provider,
                        Arc::new(inventory::Listed::new(Arc::clone(&plugin))),
                    );
                }
                for schema in described.types {
                    registry.add(Arc::new(types::PluginType::new(
                        Arc::clone(&plugin),
                        schema,
                    )));
                }
                registry.set_limit(&described.provider, described.parallelism.max(1));
            }
            Err(e) => tracing::warn!("{e}"),
        }
    }
}
