//! Running the binary in an isolated STACKFORM_HOME and reading what it printed and wrote
//! (states, components, the sim world, docker logins); the repository's fixtures, a generated
//! sim template, and the snapshot settings.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// No extra environment variables, for the `env` argument of [`Home`]'s methods.
pub const NO_ENV: &[(&str, &str)] = &[];

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
        self.run_with(args, NO_ENV)
    }

    /// The command, ready to run, for tests that need to control the process.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_of(Path::new(env!("CARGO_BIN_EXE_stackform")), args)
    }

    /// Another stackform binary (one built with extensions) with the same isolation.
    pub fn command_of(&self, binary: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary);
        cmd.args(args)
            .current_dir(repo_root())
            .env("STACKFORM_HOME", &self.dir)
            .env("NO_COLOR", "1")
            // Never the instance metadata service: tests talk to loopback only.
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("RUST_LOG")
            .env_remove("STACKFORM_SIM_DIR")
            .env_remove("STACKFORM_TEST_CRASH_AT")
            .env_remove("STACKFORM_STATE_BACKEND")
            .env_remove("STACKFORM_LOCK_LEASE")
            .env_remove("KUBECONFIG")
            .stdin(std::process::Stdio::null());
        // Nothing from the machine's own cloud settings: tests reach only their emulators.
        for var in [
            "AZURE_STORAGE_CONNECTION_STRING",
            "AZURE_STORAGE_ACCOUNT",
            "AZURE_STORAGE_KEY",
            "AZURE_STORAGE_BLOB_ENDPOINT",
            "STORAGE_EMULATOR_HOST",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "GOOGLE_CLOUD_PROJECT",
            "STACKFORM_GCP_ENDPOINT",
            "STACKFORM_AZURE_ARM_ENDPOINT",
            "STACKFORM_AZURE_CA_FILE",
            "AZURE_SUBSCRIPTION_ID",
            "AZURE_AUTHORITY_HOST",
            "STACKFORM_AZURE_ACR_ENDPOINT",
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// Runs with extra environment variables (the emulators' `env()` as it is, or pairs of
    /// strings).
    pub fn run_with<V: AsRef<OsStr>>(&self, args: &[&str], env: &[(&str, V)]) -> Run {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run {
            output: cmd.output().expect("the stackform binary runs"),
        }
    }

    /// Runs with `input` on stdin.
    pub fn run_input(&self, args: &[&str], input: &str) -> Run {
        self.run_stdin(args, input, NO_ENV)
    }

    /// Runs with `input` on stdin and extra environment variables.
    pub fn run_stdin<V: AsRef<OsStr>>(&self, args: &[&str], input: &str, env: &[(&str, V)]) -> Run {
        use std::io::Write;
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the stackform binary runs");
        // A command may stop reading before the end (an input too large): a closed pipe then.
        if let Err(e) = child.stdin.take().unwrap().write_all(input.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
        Run {
            output: child.wait_with_output().unwrap(),
        }
    }

    /// `connector register NAME --type KIND ARGS...`, with `secrets` (key material as
    /// `key=value` lines, empty for none) on stdin and extra environment variables.
    pub fn register_connector<V: AsRef<OsStr>>(
        &self,
        name: &str,
        kind: &str,
        args: &[&str],
        secrets: &str,
        env: &[(&str, V)],
    ) -> Run {
        let mut all = vec!["connector", "register", name, "--type", kind];
        all.extend_from_slice(args);
        self.run_stdin(&all, secrets, env)
    }

    /// `stack register NAME --connector CONNECTOR ARGS...` with extra environment variables.
    pub fn register_stack<V: AsRef<OsStr>>(
        &self,
        name: &str,
        connector: &str,
        args: &[&str],
        env: &[(&str, V)],
    ) -> Run {
        let mut all = vec!["stack", "register", name, "--connector", connector];
        all.extend_from_slice(args);
        self.run_with(&all, env)
    }

    /// Writes a file into the home and returns its path as a string.
    pub fn write(&self, rel: &str, text: &str) -> String {
        let path = self.dir.join(rel);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// Every resource of the sim world, as (address, stack id, id).
    pub fn world(&self) -> Vec<WorldEntry> {
        let dir = self.dir.join("sim/resources");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut out: Vec<WorldEntry> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .map(|e| {
                let v: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
                WorldEntry {
                    address: v["address"].as_str().unwrap().to_owned(),
                    stack_id: v["stack_id"].as_str().unwrap().to_owned(),
                    id: v["id"].as_str().unwrap().to_owned(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.address.cmp(&b.address).then(a.id.cmp(&b.id)));
        out
    }

    /// The stack's state as `state show --output json` prints it.
    pub fn state(&self, name: &str) -> serde_json::Value {
        let run = self.run(&["state", "show", name, "--output", "json"]);
        assert_eq!(run.code(), 0, "{}", run.transcript());
        run.json()["state"].clone()
    }

    /// The stack's id, from its state.
    pub fn stack_id(&self, name: &str) -> String {
        self.state(name)["stack"]["id"].as_str().unwrap().to_owned()
    }

    /// Asserts that the state records exactly what the sim world holds for this stack, once each.
    pub fn assert_state_matches_world(&self, name: &str) {
        let state = self.state(name);
        let stack_id = state["stack"]["id"].as_str().unwrap();
        assert!(
            state["pending"].as_object().is_none_or(|p| p.is_empty()),
            "pending operations remain: {}",
            state["pending"]
        );
        let mut recorded: Vec<(String, String)> = state["resources"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(a, r)| (a.clone(), r["physical_id"].as_str().unwrap().to_owned()))
            .collect();
        recorded.sort();
        let mut world: Vec<(String, String)> = self
            .world()
            .into_iter()
            .filter(|w| w.stack_id == stack_id)
            .map(|w| (w.address, w.id))
            .collect();
        world.sort();
        assert_eq!(recorded, world, "state and sim world disagree");
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

#[derive(Debug, Clone, PartialEq)]
pub struct WorldEntry {
    pub address: String,
    pub stack_id: String,
    pub id: String,
}

/// A sim template of `n` resources in a random-looking but fixed DAG: resource i depends on
/// resources i/2 and i/3 when those differ from i.
pub fn sim_dag(n: usize, extra: impl Fn(usize) -> String) -> String {
    let mut t = String::from("name: dag\nresources:\n");
    for i in 0..n {
        t.push_str(&format!(
            "  r{i}:\n    type: sim.resource\n    properties:\n      size: {i}\n{}",
            extra(i)
        ));
        let deps: std::collections::BTreeSet<usize> =
            [i / 2, i / 3].into_iter().filter(|d| *d != i).collect();
        if !deps.is_empty() {
            t.push_str("      tags:\n");
            for d in deps {
                t.push_str(&format!("        d{d}: \"${{r{d}.arn}}\"\n"));
            }
        }
    }
    t
}

/// The physical id a stack's state records for the resource at `address`.
pub fn physical_id(state: &serde_json::Value, address: &str) -> String {
    state["resources"][address]["physical_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no physical id at {address}: {}", state["resources"]))
        .to_owned()
}

/// A plan's (add, change, replace, destroy), from what `plan --output json` prints.
pub fn summary(plan: &serde_json::Value) -> (u64, u64, u64, u64) {
    let s = &plan["plan"]["summary"];
    (
        s["add"].as_u64().unwrap(),
        s["change"].as_u64().unwrap(),
        s["replace"].as_u64().unwrap(),
        s["destroy"].as_u64().unwrap(),
    )
}

/// The component of `kind` (`artifact_store`, `orchestrator`, ...) among a stack's
/// `components`, as `state show` and `stack describe` print them; fails naming what is there.
pub fn component<'a>(stack: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    stack["components"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} component in {}", stack["components"]))
}

/// The user and password a docker config (`config.json`, as `docker login` writes it) holds for
/// `registry`.
pub fn docker_auth(config: &serde_json::Value, registry: &str) -> (String, String) {
    use base64::Engine as _;
    let auth = config["auths"][registry]["auth"]
        .as_str()
        .unwrap_or_else(|| panic!("{config}"));
    let auth = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(auth)
            .unwrap(),
    )
    .unwrap();
    let (user, password) = auth.split_once(':').unwrap();
    (user.to_owned(), password.to_owned())
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
