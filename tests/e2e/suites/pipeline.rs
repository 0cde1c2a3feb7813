//! One planning pipeline, seen through the binary: `plan` refreshes as `deploy` does (and
//! `--refresh=false` skips it), the suffix a plan shows is the one the deploy creates, recorded
//! inputs are kept unless given again (and the plan says so), `plan --name` plans from the
//! recorded template, `stack describe` shows the inputs, and `stack list` survives a damaged
//! stack.

use crate::harness::{Home, summary};

const STACK: &str = "tests/fixtures/templates/stack.yaml";

/// The sim world's file of the resource at `address`.
fn world_file(home: &Home, address: &str) -> std::path::PathBuf {
    std::fs::read_dir(home.path("sim/resources"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            v["address"] == address
        })
        .unwrap_or_else(|| panic!("no sim resource at `{address}`"))
}

#[test]
fn plan_refreshes_first_and_sees_a_resource_deleted_outside_stackform() {
    let home = Home::new();
    let t = STACK.to_owned();
    let run = home.run(&["deploy", &t, "--name", "drift", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    std::fs::remove_file(world_file(&home, "registry")).unwrap();

    // As Terraform's plan does by default: the cloud is read before planning.
    let plan = home.run(&[
        "plan",
        &t,
        "--name",
        "drift",
        "--detailed-exitcode",
        "--output",
        "json",
    ]);
    assert_eq!(plan.code(), 5, "{}", plan.transcript());
    let json = plan.json();
    assert_eq!(summary(&json).0, 1, "the registry is created again: {json}");
    let registry = json["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "registry")
        .unwrap();
    assert_eq!(registry["action"], "create");
    // Planning recorded nothing: the state still holds the registry.
    assert!(home.state("drift")["resources"]["registry"].is_object());

    // Without the refresh, the plan is made against the state as recorded.
    let stale = home.run(&[
        "plan",
        &t,
        "--name",
        "drift",
        "--refresh=false",
        "--detailed-exitcode",
    ]);
    assert_eq!(stale.code(), 0, "{}", stale.transcript());

    let run = home.run(&["deploy", &t, "--name", "drift", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    home.assert_state_matches_world("drift");
    assert_eq!(
        home.run(&["plan", &t, "--name", "drift", "--detailed-exitcode"])
            .code(),
        0
    );
}

#[test]
fn the_suffix_a_plan_shows_is_the_one_the_deploy_creates() {
    let home = Home::new();
    let t = STACK.to_owned();
    let suffix_of = |home: &Home| {
        let plan = home
            .run(&["plan", &t, "--name", "fresh", "--output", "json"])
            .json();
        plan["plan"]["stack"]["suffix"].as_str().unwrap().to_owned()
    };
    let first = suffix_of(&home);
    assert_eq!(
        suffix_of(&home),
        first,
        "every plan of a new stack shows the same names"
    );
    // A planned name is no stack yet.
    let list = home.run(&["stack", "list", "--output", "json"]).json();
    assert_eq!(list["stacks"], serde_json::json!([]), "{list}");

    let run = home.run(&["deploy", &t, "--name", "fresh", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let state = home.state("fresh");
    assert_eq!(state["stack"]["suffix"], first.as_str());
    let bucket = state["outputs"]["bucket"].as_str().unwrap();
    assert!(bucket.ends_with(&first), "{bucket} was named with {first}");

    // Once destroyed, the name is free and a new stack of that name draws a new suffix.
    assert_eq!(home.run(&["destroy", "fresh", "--yes"]).code(), 0);
    assert!(!home.path("stacks/fresh").exists(), "nothing of it is left");
}

#[test]
fn recorded_inputs_are_kept_unless_given_again_and_the_plan_says_which() {
    let home = Home::new();
    let t = STACK.to_owned();
    let run = home.run(&[
        "deploy",
        &t,
        "--name",
        "keep",
        "--var",
        "node_count=3",
        "--yes",
    ]);
    assert_eq!(run.code(), 0, "{}", run.transcript());

    // The same template again, without the input: nothing changes, and the plan says why.
    let plan = home.run(&["plan", &t, "--name", "keep", "--detailed-exitcode"]);
    assert_eq!(plan.code(), 0, "{}", plan.transcript());
    assert!(
        plan.stdout().contains("Inputs kept from the last deploy")
            && plan.stdout().contains("node_count = 3"),
        "{}",
        plan.stdout()
    );
    let json = home
        .run(&["plan", &t, "--name", "keep", "--output", "json"])
        .json();
    assert_eq!(
        json["plan"]["inputs"]["node_count"],
        serde_json::json!({"value": 3, "origin": "kept"}),
        "{json}"
    );
    assert_eq!(json["plan"]["inputs"]["orchestrator"]["origin"], "kept");

    // Without a template, plan uses the recorded one, as deploy does.
    let bare = home.run(&["plan", "--name", "keep", "--detailed-exitcode"]);
    assert_eq!(bare.code(), 0, "{}", bare.transcript());
    for args in [
        vec!["deploy", "--name", "keep", "--yes"],
        vec!["deploy", t.as_str(), "--name", "keep", "--yes"],
    ] {
        let run = home.run(&args);
        assert_eq!(run.code(), 0, "{}", run.transcript());
        let state = home.state("keep");
        assert_eq!(
            state["resources"]["cluster"]["properties"]["size"], 3,
            "{args:?} kept the node count"
        );
    }

    // Given again, it changes, and the plan says it was given.
    let json = home
        .run(&[
            "plan",
            &t,
            "--name",
            "keep",
            "--var",
            "node_count=4",
            "--output",
            "json",
        ])
        .json();
    assert_eq!(summary(&json), (0, 1, 0, 0), "{json}");
    assert_eq!(json["plan"]["inputs"]["node_count"]["origin"], "given");

    // The recorded inputs are part of the stack's description.
    let describe = home.run(&["stack", "describe", "keep"]);
    assert!(
        describe.stdout().contains("Inputs") && describe.stdout().contains("node_count = 3"),
        "{}",
        describe.stdout()
    );
    let json = home
        .run(&["stack", "describe", "keep", "--output", "json"])
        .json();
    assert_eq!(
        json["stack"]["inputs"]["node_count"],
        serde_json::json!({"value": 3})
    );
}

#[test]
fn a_sensitive_input_recorded_as_a_hash_must_be_given_again() {
    let home = Home::new();
    let t = STACK.to_owned();
    let run = home.run(&[
        "deploy",
        &t,
        "--name",
        "tok",
        "--var",
        "token=hunter2",
        "--yes",
    ]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let json = home
        .run(&["stack", "describe", "tok", "--output", "json"])
        .json();
    assert_eq!(
        json["stack"]["inputs"]["token"],
        serde_json::json!({"sensitive": true})
    );

    // Falling back to the default would change the registry's secret without anyone asking.
    let plan = home.run(&["plan", &t, "--name", "tok", "--output", "json"]);
    assert_eq!(plan.code(), 2, "{}", plan.transcript());
    let error = &plan.json()["error"];
    assert_eq!(error["code"], "input::sensitive_not_kept", "{error}");
    assert!(error["help"].as_str().unwrap().contains("--var token="));
    assert!(!plan.transcript().contains("hunter2"));

    let again = home.run(&[
        "plan",
        &t,
        "--name",
        "tok",
        "--var",
        "token=hunter2",
        "--detailed-exitcode",
    ]);
    assert_eq!(again.code(), 0, "{}", again.transcript());
}

#[test]
fn a_saved_plan_of_a_new_stack_applies_with_the_names_it_showed() {
    let home = Home::new();
    let t = STACK.to_owned();
    let out = home.path("plan.json");
    let out = out.to_str().unwrap();
    let plan = home.run(&[
        "plan", &t, "--name", "saved", "--out", out, "--output", "json",
    ]);
    assert_eq!(plan.code(), 0, "{}", plan.transcript());
    let suffix = plan.json()["plan"]["stack"]["suffix"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = home.run(&["deploy", "--name", "saved", "--plan", out, "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(home.state("saved")["stack"]["suffix"], suffix.as_str());
}

#[test]
fn stack_list_shows_a_damaged_stack_as_one_row_and_lists_the_others() {
    let home = Home::new();
    assert_eq!(
        home.run(&["deploy", "local", "--name", "good", "--yes"])
            .code(),
        0
    );
    home.put_state("bad", "{ this is not a state");
    let run = home.run(&["stack", "list"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(run.stdout().contains("good"), "{}", run.stdout());
    assert!(
        run.stdout().contains("Stack `bad` is damaged"),
        "{}",
        run.stdout()
    );
    let json = home.run(&["stack", "list", "--output", "json"]).json();
    let rows = json["stacks"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{json}");
    assert_eq!(rows[0]["name"], "bad");
    assert!(rows[0]["damaged"]["message"].is_string(), "{json}");
    assert_eq!(rows[1]["name"], "good");
    assert!(rows[1].get("damaged").is_none());

    // The index follows every change: a new stack, a redeploy, a destroy.
    assert_eq!(
        home.run(&["deploy", "local", "--name", "second", "--yes"])
            .code(),
        0
    );
    assert_eq!(home.run(&["destroy", "good", "--yes"]).code(), 0);
    let json = home.run(&["stack", "list", "--output", "json"]).json();
    let names: Vec<&str> = json["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bad", "second"]);
}
