//! Running the binary in an isolated STACKFORM_HOME and reading what it printed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// An isolated stackform home, removed when dropped.
pub struct Home {
    pub dir: PathBuf,
}

impl Home {
    pub fn new() -> Home {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "stackform-e2e-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Home { dir }
    }

    /// Runs `stackform ARGS` from the repository root with this home.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_stackform"))
            .args(args)
            .current_dir(repo_root())
            .env("STACKFORM_HOME", &self.dir)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .output()
            .expect("the stackform binary runs");
        Run { output }
    }

    /// Puts a state file in place for stack `name`.
    pub fn put_state(&self, name: &str, json: &str) {
        let dir = self.dir.join("stacks").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("state.json"), json).unwrap();
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixture(rel: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/fixtures").join(rel)).unwrap()
}

pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.output.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            )
        })
    }

    /// Exit code, stdout and stderr together, as a snapshot shows them.
    pub fn transcript(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code(),
            self.stdout(),
            self.stderr()
        )
    }
}

/// Redactions for snapshots: random suffixes and hashes change from run to run.
pub fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"suffix [a-z0-9]{6}", "suffix [SUFFIX]");
    s.add_filter(r"sha256:[0-9a-f]{64}", "sha256:[HASH]");
    s.add_filter(r#""suffix": "[a-z0-9]{6}""#, r#""suffix": "[SUFFIX]""#);
    s.add_filter(r"artifacts-[a-z0-9]{6}", "artifacts-[SUFFIX]");
    s.set_snapshot_path(repo_root().join("tests/e2e/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s
}
