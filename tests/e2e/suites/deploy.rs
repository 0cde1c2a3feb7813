//! `deploy`, `destroy`, `stack` and `state` through the binary: the everyday path.

use crate::harness::{Home, sim_dag};

#[test]
fn local_stack_deploys_describes_and_destroys() {
    let home = Home::new();
    let run = home.run(&["deploy", "local", "--name", "dev", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let artifacts = home.path("stacks/dev/artifacts");
    assert!(artifacts.is_dir(), "the artifact store directory exists");

    let json = home
        .run(&["stack", "describe", "dev", "--output", "json"])
        .json();
    let stack = &json["stack"];
    assert_eq!(stack["status"], "ok");
    let components = stack["components"].as_array().unwrap();
    assert_eq!(components[0]["type"], "artifact_store");
    assert_eq!(components[0]["flavor"], "local");
    assert_eq!(
        components[0]["configuration"]["path"],
        artifacts.to_str().unwrap()
    );
    assert_eq!(components[1]["type"], "orchestrator");
    assert_eq!(
        stack["outputs"]["artifact_uri"],
        format!("file://{}", artifacts.display())
    );

    let list = home.run(&["stack", "list", "--output", "json"]).json();
    assert_eq!(list["stacks"][0]["name"], "dev");
    assert_eq!(list["stacks"][0]["resources"], 1);

    // A second deploy changes nothing.
    let again = home.run(&["deploy", "local", "--name", "dev", "--yes"]);
    assert_eq!(again.code(), 0, "{}", again.transcript());
    assert!(again.stderr().contains("No changes"), "{}", again.stderr());

    let destroy = home.run(&["destroy", "dev", "--yes"]);
    assert_eq!(destroy.code(), 0, "{}", destroy.transcript());
    assert!(!artifacts.exists(), "destroy removed the directory");
    assert!(!home.path("stacks/dev/state.json").exists());
    let list = home.run(&["stack", "list", "--output", "json"]).json();
    assert_eq!(list["stacks"], serde_json::json!([]));
    // Destroying what is gone is a clear error, not a crash.
    let gone = home.run(&["destroy", "dev", "--yes"]);
    assert_eq!(gone.code(), 2);
    assert!(
        gone.stderr().contains("there is no stack named `dev`"),
        "{}",
        gone.stderr()
    );
}

#[test]
fn without_a_terminal_and_without_yes_nothing_happens() {
    let home = Home::new();
    let run = home.run(&["deploy", "local", "--name", "dev"]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(run.stderr().contains("--yes"), "{}", run.stderr());
    assert!(!home.path("stacks/dev/state.json").exists());
}

#[test]
fn sim_stack_deploy_updates_in_place_replaces_and_deletes() {
    let home = Home::new();
    let t1 = home.write(
        "t.yaml",
        "name: t\nresources:\n  a:\n    type: sim.resource\n    properties: { name: a-one, size: 1 }\n  b:\n    type: sim.store\n    properties: { size: 1, tags: { a: \"${a.arn}\" } }\n  c:\n    type: sim.resource\n",
    );
    let run = home.run(&["deploy", &t1, "--name", "ss", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    home.assert_state_matches_world("ss");
    let b_id = home.state("ss")["resources"]["b"]["physical_id"].clone();

    // size changes in place; a's name forces a replacement, which changes b's tag in place; c goes.
    let t2 = home.write(
        "t.yaml",
        "name: t\nresources:\n  a:\n    type: sim.resource\n    properties: { name: a-two, size: 2 }\n  b:\n    type: sim.store\n    properties: { size: 1, tags: { a: \"${a.arn}\" } }\n",
    );
    let json = home.run(&["deploy", &t2, "--name", "ss", "--yes", "--output", "json"]);
    assert_eq!(json.code(), 0, "{}", json.transcript());
    let summary = &json.json()["deploy"]["plan"]["summary"];
    assert_eq!(summary["replace"], 1);
    assert_eq!(summary["change"], 1);
    assert_eq!(summary["destroy"], 1);
    home.assert_state_matches_world("ss");
    let state = home.state("ss");
    assert_eq!(state["resources"]["a"]["physical_id"], "a-two");
    assert_eq!(
        state["resources"]["b"]["physical_id"], b_id,
        "b was updated, not replaced"
    );
    assert_eq!(
        state["resources"]["b"]["properties"]["tags"]["a"],
        "sim:a-two"
    );
    assert!(state["resources"]["c"].is_null());

    let destroy = home.run(&["destroy", "ss", "--yes"]);
    assert_eq!(destroy.code(), 0, "{}", destroy.transcript());
    assert!(home.world().is_empty(), "{:?}", home.world());
}

#[test]
fn independent_branches_do_not_wait_for_each_other() {
    // a1 -> a2 -> a3 takes 3 x 150 ms; b takes 1200 ms. Walking level by level would finish a3
    // after b; a ready queue finishes the whole chain first.
    let home = Home::new();
    let t = home.write(
        "t.yaml",
        "name: t\nresources:\n  b:\n    type: sim.resource\n    properties: { latency_ms: 1200 }\n  a1:\n    type: sim.resource\n    properties: { latency_ms: 150 }\n  a2:\n    type: sim.resource\n    properties: { latency_ms: 150, data: \"${a1.arn}\" }\n  a3:\n    type: sim.resource\n    properties: { latency_ms: 150, data: \"${a2.arn}\" }\n",
    );
    let run = home.run(&["deploy", &t, "--name", "qq", "--yes", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let finished: Vec<String> = run
        .stderr()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "finished")
        .map(|e| e["address"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(finished, ["a1", "a2", "a3", "b"]);
}

#[test]
fn long_operations_are_polled_to_completion() {
    let home = Home::new();
    let t = home.write(
        "t.yaml",
        &sim_dag(6, |_| "      polls: 3\n      latency_ms: 5\n".into()),
    );
    let run = home.run(&["deploy", &t, "--name", "pp", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(run.stderr().contains("creating"), "{}", run.stderr());
    home.assert_state_matches_world("pp");
    let destroy = home.run(&["destroy", "pp", "--yes"]);
    assert_eq!(destroy.code(), 0, "{}", destroy.transcript());
    assert!(home.world().is_empty());
}

#[test]
fn protected_resources_and_their_dependencies_survive_destroy() {
    let home = Home::new();
    let t = home.write(
        "t.yaml",
        "name: t\nresources:\n  net:\n    type: sim.resource\n  db:\n    type: sim.store\n    protect: true\n    properties: { data: \"${net.arn}\" }\n  app:\n    type: sim.resource\n    properties: { data: \"${db.arn}\" }\n",
    );
    assert_eq!(
        home.run(&["deploy", &t, "--name", "prod", "--yes"]).code(),
        0
    );
    let run = home.run(&["destroy", "prod", "--yes"]);
    assert_eq!(run.code(), 3, "{}", run.transcript());
    assert!(run.stderr().contains("Kept on purpose"), "{}", run.stderr());
    let left: Vec<String> = home.world().into_iter().map(|w| w.address).collect();
    assert_eq!(left, ["db", "net"]);
    home.assert_state_matches_world("prod");
    let list = home.run(&["stack", "list", "--output", "json"]).json();
    assert_eq!(
        list["stacks"][0]["name"], "prod",
        "the stack is still listed"
    );
}

#[test]
fn a_saved_plan_is_applied_only_against_the_state_it_was_made_for() {
    let home = Home::new();
    let t = home.write("t.yaml", &sim_dag(3, |_| String::new()));
    let plan = home.path("p.plan");
    let plan = plan.to_str().unwrap();
    assert_eq!(
        home.run(&["plan", &t, "--name", "sp", "--out", plan])
            .code(),
        0
    );
    let run = home.run(&["deploy", "--name", "sp", "--plan", plan, "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    home.assert_state_matches_world("sp");
    // The same file again: the state has moved on.
    let stale = home.run(&["deploy", "--name", "sp", "--plan", plan, "--yes"]);
    assert_eq!(stale.code(), 4, "{}", stale.transcript());
    assert!(stale.stderr().contains("serial"), "{}", stale.stderr());
}

#[test]
fn every_operation_run_twice_gives_the_same_result() {
    let home = Home::new();
    let t = home.write("t.yaml", &sim_dag(10, |_| String::new()));
    assert_eq!(home.run(&["deploy", &t, "--name", "tw", "--yes"]).code(), 0);
    let world = home.world();
    let state = home.state("tw");
    let again = home.run(&["deploy", &t, "--name", "tw", "--yes", "--output", "json"]);
    assert_eq!(again.code(), 0, "{}", again.transcript());
    assert_eq!(again.json()["deploy"]["done"], serde_json::json!([]));
    assert_eq!(home.world(), world, "a second deploy touched the world");
    assert_eq!(home.state("tw")["resources"], state["resources"]);

    assert_eq!(home.run(&["destroy", "tw", "--yes"]).code(), 0);
    assert!(home.world().is_empty());
    let twice = home.run(&["destroy", "tw", "--yes"]);
    assert_eq!(twice.code(), 2, "{}", twice.transcript());
    assert!(home.world().is_empty());
}

#[test]
fn state_unlock_reports_a_free_lock() {
    let home = Home::new();
    assert_eq!(
        home.run(&["deploy", "local", "--name", "un", "--yes"])
            .code(),
        0
    );
    let run = home.run(&["state", "unlock", "un", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(run.json()["unlock"]["status"], "free");
}

#[test]
fn provider_settings_are_recorded_and_cannot_move_under_existing_resources() {
    let home = Home::new();
    let t = home.write(
        "t.yaml",
        "name: t\ninputs:\n  zone: { type: string, default: a }\nproviders:\n  sim: { zone: \"${inputs.zone}\" }\nresources:\n  r:\n    type: sim.resource\n",
    );
    assert_eq!(home.run(&["deploy", &t, "--name", "mv", "--yes"]).code(), 0);
    assert_eq!(home.state("mv")["providers"]["sim"]["zone"], "a");
    let moved = home.run(&["deploy", &t, "--name", "mv", "--yes", "--var", "zone=b"]);
    assert_eq!(moved.code(), 2, "{}", moved.transcript());
    assert!(
        moved
            .stderr()
            .contains("`providers.sim.zone` would change from \"a\" to \"b\""),
        "{}",
        moved.stderr()
    );
    assert_eq!(home.state("mv")["providers"]["sim"]["zone"], "a");
    // Once nothing exists under the old setting, the stack may move.
    assert_eq!(home.run(&["destroy", "mv", "--yes"]).code(), 0);
    assert_eq!(
        home.run(&["deploy", &t, "--name", "mv", "--yes", "--var", "zone=b"])
            .code(),
        0
    );
    assert_eq!(home.state("mv")["providers"]["sim"]["zone"], "b");
}
