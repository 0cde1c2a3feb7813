//! Remote state on S3 (moto): a team shares a stack's state, one holder at a time under a leased
//! lock; a killed holder is taken over once its lease expires; a holder whose lease was taken
//! over writes nothing more; `state migrate` moves a state between backends unchanged.
//!
//! moto checks S3 preconditions without a lock (two simultaneous creators can both win: see
//! ../shared/EMULATORS.md), so contention here is sequenced: the holder first, then the
//! contender. Simultaneous races run on the local backend (reliability.rs).

use std::time::{Duration, Instant};

use crate::moto::Moto;
use crate::support::{Home, sim_dag};

/// What a command needs to reach moto, plus a sim world shared by every home of the test.
struct Team {
    moto: Moto,
    sim: Home,
    bucket: String,
}

impl Team {
    fn new(bucket: &str) -> Team {
        let moto = crate::moto::start();
        crate::aws::rt().block_on(moto.create_bucket(bucket));
        Team {
            moto,
            sim: Home::new(),
            bucket: bucket.to_owned(),
        }
    }

    fn url(&self) -> String {
        format!("s3://{}/stacks", self.bucket)
    }

    fn env(&self, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        let mut env = self.moto.env();
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
    ) -> crate::support::Run {
        let env = self.env(extra);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
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

    /// The object at `stacks/KEY`, if there is one.
    fn object(&self, key: &str) -> Option<Vec<u8>> {
        let bucket = self.bucket.clone();
        let key = format!("stacks/{key}");
        crate::aws::rt().block_on(async {
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

    fn state(&self, name: &str) -> Option<serde_json::Value> {
        self.object(&format!("{name}/state.json"))
            .map(|b| serde_json::from_slice(&b).unwrap())
    }

    /// Every key under `stacks/PREFIX`.
    fn keys(&self, prefix: &str) -> Vec<String> {
        let bucket = self.bucket.clone();
        let prefix = format!("stacks/{prefix}");
        crate::aws::rt().block_on(async {
            let out = self
                .moto
                .s3()
                .await
                .list_objects_v2()
                .bucket(&bucket)
                .prefix(&prefix)
                .send()
                .await
                .unwrap();
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned))
                .collect()
        })
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

#[test]
fn a_team_shares_a_stack_state_in_s3() {
    let team = Team::new("team-state");
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

#[test]
fn a_remote_holder_makes_a_contender_exit_4_or_wait() {
    let team = Team::new("lock-state");
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

#[test]
fn a_killed_holder_is_taken_over_once_its_lease_expires() {
    let team = Team::new("crash-state");
    let url = team.url();
    let home = Home::new();
    let t = home.write("t.yaml", &sim_dag(6, |_| "      latency_ms: 700\n".into()));
    let lease = [("STACKFORM_LOCK_LEASE", "3")];
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
        &lease,
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
        &lease,
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

#[test]
fn a_holder_whose_lease_was_taken_over_writes_nothing_more() {
    let team = Team::new("fence-state");
    let url = team.url();
    let home = Home::new();
    let t = home.write("t.yaml", &sim_dag(8, |_| "      latency_ms: 600\n".into()));
    let lease = [("STACKFORM_LOCK_LEASE", "2")];
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
    std::thread::sleep(Duration::from_secs(3));
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
        &lease,
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

#[test]
fn migrate_moves_a_state_between_backends_unchanged() {
    let team = Team::new("migrate-state");
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
    let team = Team::new("auth-state");
    let url = team.url();
    let home = Home::new();
    let t = home.write("t.yaml", &sim_dag(2, |_| String::new()));
    team.moto.enforce_auth(true);
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
    team.moto.enforce_auth(false);
    assert_eq!(run.code(), 1, "{}", run.transcript());
    assert!(run.stderr().contains("credentials"), "{}", run.stderr());
    assert!(!run.stderr().contains("testing"), "{}", run.stderr());
    assert!(
        team.sim.world().is_empty(),
        "nothing was created without a lock"
    );
}
