//! Remote state on S3 (moto), GCS (fake-gcs-server), Azure Blob (Azurite) and a shared
//! directory: a team shares a stack's state, one holder at a time under a leased
//! lock; a killed holder is taken over once its lease expires; a holder whose lease was taken
//! over writes nothing more; `state migrate` moves a state between backends unchanged.
//!
//! moto checks S3 preconditions without a lock (two simultaneous creators can both win: see
//! ../shared/EMULATORS.md), so contention here is sequenced: the holder first, then the
//! contender. Simultaneous races run on the local backend (`suites/reliability.rs`).

use std::time::{Duration, Instant};

use crate::harness::{Home, sim_dag};

/// Where a team's state lives, seen from outside stackform: the emulator behind one backend.
pub trait Storage {
    /// The `--state-backend` URL (its prefix is `stacks`).
    fn url(&self) -> String;
    /// What a command needs to reach it.
    fn env(&self) -> Vec<(&'static str, String)>;
    /// The object at `stacks/KEY`, if there is one.
    fn object(&self, key: &str) -> Option<Vec<u8>>;
    /// Every key in the bucket or container.
    fn names(&self) -> Vec<String>;
    /// Every key under `stacks/PREFIX`.
    fn keys(&self, prefix: &str) -> Vec<String> {
        let prefix = format!("stacks/{prefix}");
        self.names()
            .into_iter()
            .filter(|k| k.starts_with(&prefix))
            .collect()
    }
}

/// S3 on moto.
pub struct S3 {
    pub moto: crate::harness::moto::Moto,
    bucket: String,
}

impl S3 {
    pub fn start(bucket: &str) -> S3 {
        let moto = crate::harness::moto::start();
        crate::harness::rt().block_on(moto.create_bucket(bucket));
        S3 {
            moto,
            bucket: bucket.to_owned(),
        }
    }
}

impl Storage for S3 {
    fn url(&self) -> String {
        format!("s3://{}/stacks", self.bucket)
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        self.moto.env()
    }

    fn object(&self, key: &str) -> Option<Vec<u8>> {
        let (bucket, key) = (self.bucket.clone(), format!("stacks/{key}"));
        crate::harness::rt().block_on(async {
            let out = self
                .moto
                .s3()
                .await
                .get_object()
                .bucket(&bucket)
                .key(&key)
                .send()
                .await
                .ok()?;
            Some(out.body.collect().await.unwrap().into_bytes().to_vec())
        })
    }

    fn names(&self) -> Vec<String> {
        let bucket = self.bucket.clone();
        crate::harness::rt().block_on(async {
            let out = self
                .moto
                .s3()
                .await
                .list_objects_v2()
                .bucket(&bucket)
                .send()
                .await
                .unwrap();
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned))
                .collect()
        })
    }
}

/// GCS on fake-gcs-server.
pub struct Gcs {
    gcs: crate::harness::gcs::FakeGcs,
    bucket: String,
}

impl Gcs {
    pub fn start(bucket: &str) -> Gcs {
        let gcs = crate::harness::gcs::start();
        gcs.create_bucket(bucket);
        Gcs {
            gcs,
            bucket: bucket.to_owned(),
        }
    }
}

impl Storage for Gcs {
    fn url(&self) -> String {
        format!("gs://{}/stacks", self.bucket)
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        self.gcs.env()
    }

    fn object(&self, key: &str) -> Option<Vec<u8>> {
        self.gcs.object(&self.bucket, &format!("stacks/{key}"))
    }

    fn names(&self) -> Vec<String> {
        self.gcs.objects(&self.bucket)
    }
}

/// Blob Storage on Azurite.
pub struct Blob {
    azurite: crate::harness::azurite::Azurite,
    container: String,
}

impl Blob {
    pub fn start(container: &str) -> Blob {
        let azurite = crate::harness::azurite::start();
        azurite.create_container(container);
        Blob {
            azurite,
            container: container.to_owned(),
        }
    }
}

impl Storage for Blob {
    fn url(&self) -> String {
        format!(
            "azblob://{}/{}/stacks",
            crate::harness::azurite::ACCOUNT,
            self.container
        )
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        self.azurite.env()
    }

    fn object(&self, key: &str) -> Option<Vec<u8>> {
        self.azurite.get(&self.container, &format!("stacks/{key}"))
    }

    fn names(&self) -> Vec<String> {
        self.azurite.blobs(&self.container)
    }
}

/// A shared directory (`file://`).
pub struct Files {
    dir: Home,
}

impl Files {
    pub fn new() -> Files {
        Files { dir: Home::new() }
    }
}

impl Storage for Files {
    fn url(&self) -> String {
        format!("file://{}", self.dir.path("stacks").display())
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    fn object(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.dir.path("stacks").join(key)).ok()
    }

    fn names(&self) -> Vec<String> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    walk(&e.path(), out);
                } else {
                    out.push(e.path());
                }
            }
        }
        let mut paths = Vec::new();
        walk(&self.dir.dir, &mut paths);
        paths
            .iter()
            .filter_map(|p| p.strip_prefix(&self.dir.dir).ok())
            .map(|p| p.display().to_string())
            .collect()
    }
}

/// A team's storage, plus a sim world shared by every home of the test.
struct Team {
    storage: Box<dyn Storage>,
    sim: Home,
}

impl Team {
    fn new(storage: impl Storage + 'static) -> Team {
        Team {
            storage: Box::new(storage),
            sim: Home::new(),
        }
    }

    fn url(&self) -> String {
        self.storage.url()
    }

    fn env(&self, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        let mut env = self.storage.env();
        env.push((
            "STACKFORM_SIM_DIR",
            self.sim.dir.join("sim").display().to_string(),
        ));
        env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        env
    }

    fn run(
        &self,
        home: &Home,
        args: &[&str],
        extra: &[(&'static str, &str)],
    ) -> crate::harness::Run {
        let env = self.env(extra);
        home.run_with(args, &env)
    }

    fn spawn(
        &self,
        home: &Home,
        args: &[&str],
        extra: &[(&'static str, &str)],
    ) -> std::process::Child {
        let mut cmd = home.command(args);
        for (k, v) in self.env(extra) {
            cmd.env(k, v);
        }
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn object(&self, key: &str) -> Option<Vec<u8>> {
        self.storage.object(key)
    }

    fn state(&self, name: &str) -> Option<serde_json::Value> {
        self.object(&format!("{name}/state.json"))
            .map(|b| serde_json::from_slice(&b).unwrap())
    }

    fn keys(&self, prefix: &str) -> Vec<String> {
        self.storage.keys(prefix)
    }

    fn wait_for(&self, what: &str, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn stderr_of(child: std::process::Child) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn shares(team: Team) {
    let url = team.url();
    let alice = Home::new();
    let t = alice.write("t.yaml", &sim_dag(5, |_| String::new()));
    let run = team.run(
        &alice,
        &[
            "deploy",
            &t,
            "--name",
            "shared",
            "--yes",
            "--state-backend",
            &url,
        ],
        &[],
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    // The state is in the bucket, compacted: no journal objects and no lock left behind.
    let state = team.state("shared").expect("state.json in the bucket");
    assert_eq!(state["resources"].as_object().unwrap().len(), 5);
    assert_eq!(team.keys("shared/journal/"), Vec::<String>::new());
    assert!(team.object("shared/lock.json").is_none());
    assert!(team.object("shared/state.json.backup").is_some());

    // A teammate with nothing local sees the same stack: the plan changes nothing.
    let bob = Home::new();
    let t_bob = bob.write("t.yaml", &sim_dag(5, |_| String::new()));
    let run = team.run(
        &bob,
        &[
            "plan",
            &t_bob,
            "--name",
            "shared",
            "--state-backend",
            &url,
            "--detailed-exitcode",
        ],
        &[],
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    // Bob changes it; Alice (no flag: her stack remembers its backend) sees his change.
    let bigger = bob.write("t.yaml", &sim_dag(6, |_| String::new()));
    let run = team.run(&bob, &["deploy", &bigger, "--name", "shared", "--yes"], &[]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let run = team.run(
        &alice,
        &["stack", "describe", "shared", "--output", "json"],
        &[],
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(
        team.state("shared").unwrap()["resources"]
            .as_object()
            .unwrap()
            .len(),
        6
    );
    let working: serde_json::Value =
        serde_json::from_slice(&std::fs::read(alice.path("stacks/shared/state.json")).unwrap())
            .unwrap();
    assert_eq!(
        working["resources"].as_object().unwrap().len(),
        6,
        "Alice's working copy was refreshed from the bucket"
    );
    let serial = team.state("shared").unwrap()["serial"].clone();
    let run = team.run(
        &alice,
        &[
            "plan",
            &bigger_for(&alice),
            "--name",
            "shared",
            "--detailed-exitcode",
        ],
        &[],
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());

    // A flag that contradicts where the state is, is refused.
    let run = team.run(
        &alice,
        &["plan", &t, "--name", "shared", "--state-backend", "local"],
        &[],
    );
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(run.stderr().contains("state migrate"), "{}", run.stderr());
    assert_eq!(team.state("shared").unwrap()["serial"], serial);

    // Destroy removes the remote state with the resources.
    let run = team.run(&alice, &["destroy", "shared", "--yes"], &[]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(team.state("shared").is_none());
    assert_eq!(team.keys("shared/"), Vec::<String>::new());
    assert!(team.sim.world().is_empty());
}

fn bigger_for(home: &Home) -> String {
    home.write("bigger.yaml", &sim_dag(6, |_| String::new()))
}

fn contender(team: Team) {
    let url = team.url();
    let home = Home::new();
    let t = home.write("t.yaml", &sim_dag(3, |_| "      latency_ms: 1500\n".into()));
    let holder = team.spawn(
        &home,
        &[
            "deploy",
            &t,
            "--name",
            "held",
            "--yes",
            "--state-backend",
            &url,
        ],
        &[],
    );
    let pid = holder.id();
    team.wait_for("the holder's lease", || {
        team.object("held/lock.json").is_some()
    });
    let record: serde_json::Value =
        serde_json::from_slice(&team.object("held/lock.json").unwrap()).unwrap();
    assert_eq!(record["holder"]["pid"], pid);
    assert!(record["nonce"].as_str().is_some_and(|n| n.len() == 32));

    // Another machine (another home) is refused at once, told who holds it...
    let other = Home::new();
    let t2 = other.write("t.yaml", &sim_dag(3, |_| "      latency_ms: 1500\n".into()));
    let run = team.run(
        &other,
        &[
            "deploy",
            &t2,
            "--name",
            "held",
            "--yes",
            "--state-backend",
            &url,
        ],
        &[],
    );
    assert_eq!(run.code(), 4, "{}", run.transcript());
    assert!(
        run.stderr().contains(&format!("pid {pid}")),
        "{}",
        run.stderr()
    );
    // ...or waits for it with --lock-timeout, and then finds the holder's work done.
    let waiter = team.spawn(
        &other,
        &[
            "deploy",
            &t2,
            "--name",
            "held",
            "--yes",
            "--state-backend",
            &url,
            "--lock-timeout",
            "60s",
            "--output",
            "json",
        ],
        &[],
    );
    let (code, err) = stderr_of(holder);
    assert_eq!(code, 0, "{err}");
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["deploy"]["done"], serde_json::json!([]), "{doc}");
    assert_eq!(team.sim.world().len(), 3);
    assert!(
        team.object("held/lock.json").is_none(),
        "the lock was released"
    );
}

fn killed(team: Team) {
    let url = team.url();
    let home = Home::new();
    let t = home.write("t.yaml", &sim_dag(6, |_| "      latency_ms: 700\n".into()));
    let lease = [("STACKFORM_LOCK_LEASE", "4")];
    let mut holder = team.spawn(
        &home,
        &[
            "deploy",
            &t,
            "--name",
            "kill",
            "--yes",
            "--state-backend",
            &url,
        ],
        &lease,
    );
    // Kill it once it has recorded an operation in flight in the bucket.
    team.wait_for("an operation in flight", || {
        !team.keys("kill/journal/").is_empty()
    });
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(
        team.object("kill/lock.json").is_some(),
        "a killed holder cannot release"
    );

    // While the lease runs, a contender is refused; once it expires, one that waits takes over.
    // (Expiry follows the lease the holder recorded; the contenders keep the default one, so a
    // loaded machine cannot starve their own heartbeat.)
    let other = Home::new();
    let run = team.run(
        &other,
        &[
            "deploy",
            &t,
            "--name",
            "kill",
            "--yes",
            "--state-backend",
            &url,
        ],
        &[],
    );
    assert_eq!(run.code(), 4, "{}", run.transcript());
    let run = team.run(
        &other,
        &[
            "deploy",
            &t,
            "--name",
            "kill",
            "--yes",
            "--state-backend",
            &url,
            "--lock-timeout",
            "30s",
        ],
        &[],
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    // The pending operations were resolved and nothing is missing or doubled.
    let state = team.state("kill").unwrap();
    assert_eq!(state["pending"], serde_json::json!({}));
    assert_eq!(state["resources"].as_object().unwrap().len(), 6);
    let mut world: Vec<String> = team.sim.world().into_iter().map(|w| w.address).collect();
    world.sort();
    let mut recorded: Vec<String> = state["resources"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    recorded.sort();
    assert_eq!(world, recorded);
    assert!(team.object("kill/lock.json").is_none());
}

fn fenced(team: Team) {
    let url = team.url();
    let home = Home::new();
    let t = home.write("t.yaml", &sim_dag(8, |_| "      latency_ms: 600\n".into()));
    let lease = [("STACKFORM_LOCK_LEASE", "4")];
    let holder = team.spawn(
        &home,
        &[
            "deploy",
            &t,
            "--name",
            "fence",
            "--yes",
            "--state-backend",
            &url,
        ],
        &lease,
    );
    team.wait_for("an operation in flight", || {
        !team.keys("fence/journal/").is_empty()
    });
    // The holder stalls (a laptop lid closed) for longer than its lease...
    let pid = holder.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_secs(5));
    // ...so another takes over and finishes the deploy.
    let other = Home::new();
    let run = team.run(
        &other,
        &[
            "deploy",
            &t,
            "--name",
            "fence",
            "--yes",
            "--state-backend",
            &url,
            "--lock-timeout",
            "30s",
        ],
        &[],
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let after = team.object("fence/state.json").unwrap();
    // The first holder wakes up: it finds its lease gone and stops, writing nothing.
    assert!(
        std::process::Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let (code, err) = stderr_of(holder);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("lease"), "{err}");
    assert_eq!(
        team.object("fence/state.json").unwrap(),
        after,
        "the state was written after the takeover"
    );
    assert_eq!(team.keys("fence/journal/"), Vec::<String>::new());
}

fn migrates(team: Team) {
    let url = team.url();
    let home = Home::new();
    let t = home.write("t.yaml", &sim_dag(4, |_| String::new()));
    let run = team.run(&home, &["deploy", &t, "--name", "mig", "--yes"], &[]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let identity = |s: &serde_json::Value| {
        (
            s["lineage"].clone(),
            s["serial"].clone(),
            s["resources"].clone(),
        )
    };
    let original = identity(&home.state("mig"));
    let shared = home.path("shared");
    let file_url = format!("file://{}", shared.display());

    // local -> s3
    let run = team.run(&home, &["state", "migrate", "mig", "--to", &url], &[]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(identity(&team.state("mig").unwrap()), original);
    let plan = ["plan", t.as_str(), "--name", "mig", "--detailed-exitcode"];
    let run = team.run(&home, &plan, &[]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    // s3 -> file://: the bucket no longer has it
    let run = team.run(&home, &["state", "migrate", "mig", "--to", &file_url], &[]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(team.state("mig").is_none());
    let on_file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shared.join("mig/state.json")).unwrap()).unwrap();
    assert_eq!(identity(&on_file), original);
    let run = team.run(&home, &plan, &[]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    // file:// -> local
    let run = team.run(&home, &["state", "migrate", "mig", "--to", "local"], &[]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(!shared.join("mig/state.json").exists());
    assert_eq!(identity(&home.state("mig")), original);
    let run = team.run(&home, &plan, &[]);
    assert_eq!(run.code(), 0, "{}", run.transcript());

    // Migrating onto a state that is already there is refused, and nothing changes.
    let other = Home::new();
    let t2 = other.write("t.yaml", &sim_dag(1, |_| String::new()));
    let run = team.run(
        &other,
        &[
            "deploy",
            &t2,
            "--name",
            "mig",
            "--yes",
            "--state-backend",
            &url,
        ],
        &[],
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let run = team.run(&home, &["state", "migrate", "mig", "--to", &url], &[]);
    assert_eq!(run.code(), 1, "{}", run.transcript());
    assert!(run.stderr().contains("already there"), "{}", run.stderr());
    assert_eq!(identity(&home.state("mig")), original);
}

#[test]
fn wrong_credentials_for_the_state_bucket_are_a_clear_error() {
    let s3 = S3::start("auth-state");
    s3.moto.enforce_auth(true);
    let team = Team::new(s3);
    let url = team.url();
    let home = Home::new();
    let t = home.write("t.yaml", &sim_dag(2, |_| String::new()));
    let run = team.run(
        &home,
        &[
            "deploy",
            &t,
            "--name",
            "auth",
            "--yes",
            "--state-backend",
            &url,
        ],
        &[],
    );
    assert_eq!(run.code(), 1, "{}", run.transcript());
    assert!(run.stderr().contains("credentials"), "{}", run.stderr());
    assert!(!run.stderr().contains("testing"), "{}", run.stderr());
    assert!(
        team.sim.world().is_empty(),
        "nothing was created without a lock"
    );
}

#[test]
fn s3_shares() {
    shares(Team::new(S3::start("team-state")));
}

#[test]
fn gcs_shares() {
    shares(Team::new(Gcs::start("team-state")));
}

#[test]
fn s3_contender() {
    contender(Team::new(S3::start("lock-state")));
}

#[test]
fn gcs_contender() {
    contender(Team::new(Gcs::start("lock-state")));
}

#[test]
fn s3_killed() {
    killed(Team::new(S3::start("crash-state")));
}

#[test]
fn gcs_killed() {
    killed(Team::new(Gcs::start("crash-state")));
}

#[test]
fn s3_fenced() {
    fenced(Team::new(S3::start("fence-state")));
}

#[test]
fn gcs_fenced() {
    fenced(Team::new(Gcs::start("fence-state")));
}

#[test]
fn s3_migrates() {
    migrates(Team::new(S3::start("migrate-state")));
}

#[test]
fn gcs_migrates() {
    migrates(Team::new(Gcs::start("migrate-state")));
}

/// Two machines deploy one stack at the same moment: one proceeds, the other exits 4 naming it;
/// the state records every resource once.
fn races(team: Team) {
    let url = team.url();
    let (a, b) = (Home::new(), Home::new());
    let slow = |_| "      latency_ms: 1500\n".to_owned();
    let (ta, tb) = (
        a.write("t.yaml", &sim_dag(3, slow)),
        b.write("t.yaml", &sim_dag(3, slow)),
    );
    let deploy = |t: &str| {
        vec![
            "deploy".to_owned(),
            t.to_owned(),
            "--name".into(),
            "race".into(),
            "--yes".into(),
            "--state-backend".into(),
            url.clone(),
        ]
    };
    let (da, db) = (deploy(&ta), deploy(&tb));
    let da: Vec<&str> = da.iter().map(String::as_str).collect();
    let db: Vec<&str> = db.iter().map(String::as_str).collect();
    let first = team.spawn(&a, &da, &[]);
    let second = team.spawn(&b, &db, &[]);
    let (c1, e1) = stderr_of(first);
    let (c2, e2) = stderr_of(second);
    let mut codes = [c1, c2];
    codes.sort();
    assert_eq!(codes, [0, 4], "first:\n{e1}\nsecond:\n{e2}");
    let loser = if c1 == 4 { &e1 } else { &e2 };
    assert!(loser.contains("is locked by"), "{loser}");
    let state = team.state("race").expect("the winner's state");
    assert_eq!(state["resources"].as_object().unwrap().len(), 3);
    assert_eq!(team.sim.world().len(), 3, "nothing was created twice");
}

#[test]
fn gcs_races() {
    races(Team::new(Gcs::start("race-state")));
}

#[test]
fn file_races() {
    races(Team::new(Files::new()));
}

#[test]
fn azure_shares() {
    shares(Team::new(Blob::start("team-state")));
}

#[test]
fn azure_contender() {
    contender(Team::new(Blob::start("lock-state")));
}

#[test]
fn azure_killed() {
    killed(Team::new(Blob::start("crash-state")));
}

#[test]
fn azure_fenced() {
    fenced(Team::new(Blob::start("fence-state")));
}

#[test]
fn azure_migrates() {
    migrates(Team::new(Blob::start("migrate-state")));
}

#[test]
fn azure_races() {
    races(Team::new(Blob::start("race-state")));
}

#[test]
fn the_user_config_names_the_backend_of_new_stacks() {
    let team = Team::new(Files::new());
    let home = Home::new();
    let t = home.write("t.yaml", &sim_dag(2, |_| String::new()));
    // A stack made before the config keeps its local state.
    let run = team.run(&home, &["deploy", &t, "--name", "before", "--yes"], &[]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    std::fs::write(
        home.path("config.yaml"),
        format!("# the team's state\nstate_backend: {}\n", team.url()),
    )
    .unwrap();
    let run = team.run(&home, &["deploy", &t, "--name", "after", "--yes"], &[]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(
        team.state("after").is_some(),
        "the new stack's state is in the shared directory"
    );
    assert!(!home.path("stacks/after/state.json").exists());
    let run = team.run(&home, &["deploy", &t, "--name", "before", "--yes"], &[]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(team.state("before").is_none());
    assert!(home.path("stacks/before/state.json").exists());
    // A config that names no backend stackform knows is a clear error.
    std::fs::write(home.path("config.yaml"), "state_backend: ftp://x/y\n").unwrap();
    let run = team.run(&home, &["deploy", &t, "--name", "third", "--yes"], &[]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(run.stderr().contains("config.yaml"), "{}", run.stderr());
}
