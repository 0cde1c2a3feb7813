//! Reliability: failures at every node, crashes at every boundary, unknown outcomes, two
//! deploys at once, and Ctrl-C. After each, the next run converges: the state records exactly
//! what the (on-disk) sim world holds, nothing is created twice, and destroy leaves nothing.

use std::time::{Duration, Instant};

use crate::harness::{Home, sim_dag};

const NODES: usize = 12;

#[test]
fn a_failure_at_any_node_stops_only_its_dependents_and_the_rerun_converges() {
    for k in 0..NODES {
        let home = Home::new();
        let t = home.write(
            "t.yaml",
            &sim_dag(NODES, |i| {
                if i == k {
                    "      fail: [\"create:1:fatal\"]\n".into()
                } else {
                    String::new()
                }
            }),
        );
        let run = home.run(&["deploy", &t, "--name", "ff", "--yes", "--output", "json"]);
        assert_eq!(run.code(), 1, "node {k}: {}", run.transcript());
        let result = &run.json()["deploy"];
        assert_eq!(result["failed"][0]["address"], format!("r{k}"));
        assert!(
            result["failed"][0]["request_id"]
                .as_str()
                .unwrap()
                .starts_with("sim-req-")
        );
        // Dependents of the failed node were not started; everything else finished.
        let skipped: Vec<&str> = result["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["address"].as_str().unwrap())
            .collect();
        for s in &skipped {
            let i: usize = s[1..].parse().unwrap();
            assert!(depends_on(i, k), "r{i} skipped but does not depend on r{k}");
        }
        let done = result["done"].as_array().unwrap().len();
        assert_eq!(done + skipped.len() + 1, NODES);
        home.assert_state_matches_world("ff");

        let rerun = home.run(&["deploy", &t, "--name", "ff", "--yes"]);
        assert_eq!(rerun.code(), 0, "node {k} rerun: {}", rerun.transcript());
        home.assert_state_matches_world("ff");
        assert_eq!(home.world().len(), NODES);
    }
}

/// Whether r{i} depends on r{k} in `sim_dag` (edges i -> i/2 and i -> i/3).
fn depends_on(i: usize, k: usize) -> bool {
    if i == k {
        return false;
    }
    [i / 2, i / 3]
        .into_iter()
        .filter(|d| *d != i)
        .any(|d| d == k || depends_on(d, k))
}

#[test]
fn retryable_errors_are_retried_and_unknown_outcomes_are_looked_up_not_repeated() {
    let home = Home::new();
    let t = home.write(
        "t.yaml",
        &sim_dag(6, |i| match i {
            1 => "      fail: [\"create:1:retryable\", \"create:2:retryable\"]\n".into(),
            2 => "      fail: [\"create:1:unknown\"]\n".into(),
            3 => "      fail: [\"create:1:lost\"]\n".into(),
            4 => "      name: named-four\n      fail: [\"create:1:unknown\"]\n".into(),
            _ => String::new(),
        }),
    );
    let run = home.run(&["deploy", &t, "--name", "uu", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(run.stderr().contains("retrying"), "{}", run.stderr());
    home.assert_state_matches_world("uu");
    // One resource per address: the unknown outcomes were found, not created again.
    let world = home.world();
    assert_eq!(world.len(), 6, "{world:?}");
}

#[test]
fn an_unknown_outcome_left_pending_is_resolved_by_the_next_run() {
    // The create "succeeds" but the answer is lost on every attempt... and then the process dies
    // right after recording the intent of another node: the next run must adopt, not duplicate.
    let home = Home::new();
    let t = home.write("t.yaml", &sim_dag(4, |_| String::new()));
    let crashed = home.run_with(
        &["deploy", &t, "--name", "pend", "--yes"],
        &[("STACKFORM_TEST_CRASH_AT", "call:2")],
    );
    assert_eq!(crashed.code(), -1, "killed: {}", crashed.transcript());
    let state = home.state("pend");
    assert_eq!(
        state["pending"].as_object().unwrap().len(),
        1,
        "{}",
        state["pending"]
    );
    let rerun = home.run(&["deploy", &t, "--name", "pend", "--yes"]);
    assert_eq!(rerun.code(), 0, "{}", rerun.transcript());
    assert!(rerun.stderr().contains("adopted"), "{}", rerun.stderr());
    home.assert_state_matches_world("pend");
    assert_eq!(home.world().len(), 4);
}

/// Runs deploy (or destroy) with a crash at `spec`, then without, and checks convergence.
fn crash_and_converge(home: &Home, template: &str, spec: &str, destroy: bool) {
    let args: Vec<&str> = if destroy {
        vec!["destroy", "cc", "--yes"]
    } else {
        vec!["deploy", template, "--name", "cc", "--yes"]
    };
    let crashed = home.run_with(&args, &[("STACKFORM_TEST_CRASH_AT", spec)]);
    assert_eq!(
        crashed.code(),
        -1,
        "{spec}: the process should have been killed: {}",
        crashed.transcript()
    );
    if home.path("stacks/cc/state.json").exists() {
        // The state is readable after any crash.
        let show = home.run(&["state", "show", "cc", "--output", "json"]);
        assert_eq!(show.code(), 0, "{spec}: {}", show.transcript());
    }
    let rerun = home.run(&args);
    assert_eq!(rerun.code(), 0, "{spec}: rerun: {}", rerun.transcript());
    if destroy {
        assert!(
            home.world().is_empty(),
            "{spec}: left behind {:?}",
            home.world()
        );
        assert!(!home.path("stacks/cc/state.json").exists());
    } else {
        home.assert_state_matches_world("cc");
        let world = home.world();
        assert_eq!(
            world.len(),
            54,
            "{spec}: duplicates or missing: {}",
            world.len()
        );
    }
}

fn crash_points(boundary: &str, points: &[u64]) {
    let home = Home::new();
    let t = home.write("t.yaml", &sim_dag(54, |_| String::new()));
    for n in points {
        let spec = format!("{boundary}:{n}");
        crash_and_converge(&home, &t, &spec, false);
        crash_and_converge(&home, &t, &spec, true);
    }
}

#[test]
fn crashes_after_an_intent_is_recorded() {
    crash_points("intent", &[1, 2, 5, 7, 13, 19, 33, 54]);
}

#[test]
fn crashes_after_a_provider_call_returns() {
    crash_points("call", &[1, 3, 8, 11, 17, 26, 40, 53]);
}

#[test]
fn crashes_in_the_middle_of_a_snapshot_write() {
    // Deploy writes a snapshot first (the new stack) and last (compaction); destroy compacts
    // only when something is kept, so its crash point is the first snapshot it writes... none:
    // destroy of a fully deleted stack removes the files instead. Both deploy snapshots are hit.
    let home = Home::new();
    let t = home.write("t.yaml", &sim_dag(54, |_| String::new()));
    for n in [1, 2] {
        let spec = format!("snapshot:{n}");
        let crashed = home.run_with(
            &["deploy", &t, "--name", "cc", "--yes"],
            &[("STACKFORM_TEST_CRASH_AT", &spec)],
        );
        assert_eq!(crashed.code(), -1, "{spec}: {}", crashed.transcript());
        let rerun = home.run(&["deploy", &t, "--name", "cc", "--yes"]);
        assert_eq!(rerun.code(), 0, "{spec}: {}", rerun.transcript());
        home.assert_state_matches_world("cc");
        assert_eq!(home.world().len(), 54);
        assert_eq!(home.run(&["destroy", "cc", "--yes"]).code(), 0);
        assert!(home.world().is_empty());
    }
}

#[test]
fn a_second_deploy_of_a_locked_stack_exits_4_naming_the_holder() {
    let home = Home::new();
    let t = home.write("t.yaml", &sim_dag(3, |_| "      latency_ms: 1500\n".into()));
    let mut first = home
        .command(&["deploy", &t, "--name", "ll", "--yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first holds the lock (its record names it).
    let lock = home.path("stacks/ll/lock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.contains("\"deploy\"")) {
        assert!(
            Instant::now() < deadline,
            "the first deploy never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = home.run(&["deploy", &t, "--name", "ll", "--yes"]);
    assert_eq!(second.code(), 4, "{}", second.transcript());
    let pid = first.id().to_string();
    assert!(
        second.stderr().contains(&format!("pid {pid}")),
        "{}",
        second.stderr()
    );
    assert!(
        second.stderr().contains("--lock-timeout"),
        "{}",
        second.stderr()
    );
    assert!(first.wait().unwrap().success());
    home.assert_state_matches_world("ll");
    // With a lock timeout, a command waits for the holder instead of giving up.
    let mut holder = home
        .command(&["destroy", "ll", "--yes"])
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.contains("\"destroy\"")) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let waiter = home.run(&[
        "deploy",
        &t,
        "--name",
        "ll",
        "--yes",
        "--lock-timeout",
        "60s",
    ]);
    assert!(holder.wait().unwrap().success());
    assert_eq!(waiter.code(), 0, "{}", waiter.transcript());
    home.assert_state_matches_world("ll");
    assert_eq!(home.world().len(), 3);
}

#[test]
fn ctrl_c_finishes_what_is_in_flight_and_the_next_run_converges() {
    let home = Home::new();
    // A chain: each waits for the previous, so at any moment one is in flight.
    let mut t = String::from("name: chain\nresources:\n");
    for i in 0..8 {
        t.push_str(&format!(
            "  r{i}:\n    type: sim.resource\n    properties:\n      latency_ms: 300\n"
        ));
        if i > 0 {
            t.push_str(&format!("      data: \"${{r{}.arn}}\"\n", i - 1));
        }
    }
    let t = home.write("t.yaml", &t);
    let child = home
        .command(&["deploy", &t, "--name", "int", "--yes"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the third resource has started.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let journal =
            std::fs::read_to_string(home.path("stacks/int/journal.ndjson")).unwrap_or_default();
        if journal.contains("\"address\":\"r2\"") {
            break;
        }
        assert!(Instant::now() < deadline, "the deploy never reached r2");
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: sending SIGINT to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Interrupted"), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    // What was in flight finished and was recorded; nothing is pending.
    home.assert_state_matches_world("int");
    let created = home.world().len();
    assert!((3..8).contains(&created), "{created} of 8 created");
    let rerun = home.run(&["deploy", &t, "--name", "int", "--yes"]);
    assert_eq!(rerun.code(), 0, "{}", rerun.transcript());
    home.assert_state_matches_world("int");
    assert_eq!(home.world().len(), 8);
}

/// Replaces every journal line that records an intent with bytes that are no JSON, as a disk
/// error or an edit by hand would: the record of what those creates were about is lost.
fn damage_intents(home: &Home, stack: &str) -> usize {
    let path = home.path(&format!("stacks/{stack}/journal.ndjson"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut damaged = 0;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.contains("\"entry\":\"intent\"") {
            damaged += 1;
            out.extend_from_slice(b"\xff\x00 lost\n");
        } else {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
    }
    std::fs::write(&path, out).unwrap();
    damaged
}

/// Two roots (one named, so a second create of it conflicts; one found only by its tags) and a
/// dependent that waits for both.
const TWO_ROOTS: &str = "name: roots\nresources:\n  named:\n    type: sim.resource\n    properties:\n      name: kept-name\n  tagged:\n    type: sim.resource\n    properties:\n      size: 1\n  after:\n    type: sim.resource\n    properties:\n      tags:\n        a: ${named.arn}\n        b: ${tagged.arn}\n";

#[test]
fn a_damaged_journal_line_is_skipped_reported_and_the_next_deploy_adopts_instead_of_duplicating() {
    let home = Home::new();
    let t = home.write("t.yaml", TWO_ROOTS);
    // Killed when the second create has returned: both roots exist, at most one is recorded.
    let crashed = home.run_with(
        &["deploy", &t, "--name", "dj", "--yes"],
        &[("STACKFORM_TEST_CRASH_AT", "call:2")],
    );
    assert_eq!(crashed.code(), -1, "{}", crashed.transcript());
    assert_eq!(home.world().len(), 2);
    assert!(damage_intents(&home, "dj") >= 2);

    // Every command still reads the stack, and says what is damaged and where.
    let show = home.run(&["state", "show", "dj"]);
    assert_eq!(show.code(), 0, "{}", show.transcript());
    assert!(
        show.stderr().contains("journal.ndjson: line 1"),
        "{}",
        show.stderr()
    );
    assert!(show.stderr().contains("damaged"), "{}", show.stderr());
    assert!(!show.stderr().contains("permissions"), "{}", show.stderr());
    let list = home.run(&["stack", "list", "--output", "json"]);
    assert_eq!(list.code(), 0, "{}", list.transcript());

    // The deploy finds both roots by the stack's marks: nothing is made twice.
    let rerun = home.run(&["deploy", &t, "--name", "dj", "--yes"]);
    assert_eq!(rerun.code(), 0, "{}", rerun.transcript());
    assert!(rerun.stderr().contains("adopted"), "{}", rerun.stderr());
    home.assert_state_matches_world("dj");
    let world = home.world();
    assert_eq!(world.len(), 3, "duplicates: {world:?}");
    // The damaged journal is kept for inspection; the state no longer needs reconciling.
    let kept = std::fs::read_dir(home.path("stacks/dj"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("damaged"))
        .count();
    assert_eq!(kept, 1);
    assert!(home.state("dj").get("reconcile").is_none());
    let again = home.run(&["deploy", &t, "--name", "dj", "--yes"]);
    assert_eq!(again.code(), 0, "{}", again.transcript());
    assert!(!again.stderr().contains("damaged"), "{}", again.stderr());
    assert_eq!(home.run(&["destroy", "dj", "--yes"]).code(), 0);
    assert!(home.world().is_empty(), "{:?}", home.world());
}

#[test]
fn destroy_proceeds_past_a_damaged_journal_and_removes_what_the_lost_lines_recorded() {
    let home = Home::new();
    let t = home.write("t.yaml", TWO_ROOTS);
    let crashed = home.run_with(
        &["deploy", &t, "--name", "dd", "--yes"],
        &[("STACKFORM_TEST_CRASH_AT", "call:2")],
    );
    assert_eq!(crashed.code(), -1, "{}", crashed.transcript());
    damage_intents(&home, "dd");
    let destroy = home.run(&["destroy", "dd", "--yes"]);
    assert_eq!(destroy.code(), 0, "{}", destroy.transcript());
    assert!(destroy.stderr().contains("damaged"), "{}", destroy.stderr());
    assert!(home.world().is_empty(), "left behind: {:?}", home.world());
}

#[test]
fn an_emptied_journal_does_not_leave_deploy_failing_with_already_exists() {
    let home = Home::new();
    let t = home.write(
        "t.yaml",
        "name: one\nresources:\n  named:\n    type: sim.resource\n    properties:\n      name: only-one\n",
    );
    let crashed = home.run_with(
        &["deploy", &t, "--name", "ej", "--yes"],
        &[("STACKFORM_TEST_CRASH_AT", "call:1")],
    );
    assert_eq!(crashed.code(), -1, "{}", crashed.transcript());
    assert_eq!(home.world().len(), 1);
    // The journal is emptied (a restore from an older copy, a careless truncate): nothing says
    // the create was ever started.
    std::fs::write(home.path("stacks/ej/journal.ndjson"), b"").unwrap();
    for _ in 0..2 {
        let rerun = home.run(&["deploy", &t, "--name", "ej", "--yes"]);
        assert_eq!(rerun.code(), 0, "{}", rerun.transcript());
        home.assert_state_matches_world("ej");
        assert_eq!(home.world().len(), 1);
    }
}
