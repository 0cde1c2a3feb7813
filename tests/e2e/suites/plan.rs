//! `stackform plan`: the plan a user reviews, in human and JSON form, against empty and existing
//! state, with saved plan files and `--detailed-exitcode`.

use crate::harness::{Home, fixture, settings};

const STACK: &str = "tests/fixtures/templates/stack.yaml";

#[test]
fn local_template_plans_without_any_cloud() {
    let home = Home::new();
    let run = home.run(&["plan", "local", "--name", "dev"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(
        run.stdout()
            .contains("Plan: 1 to add, 0 to change, 0 to replace, 0 to destroy.")
    );
    settings().bind(|| insta::assert_snapshot!("plan_local", run.transcript()));
    // Planning writes nothing: no state appears.
    assert!(!home.path("stacks/dev/state.json").exists());
}

#[test]
fn empty_state_means_everything_is_created() {
    let home = Home::new();
    let run = home.run(&["plan", STACK, "--name", "exp-42"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    settings().bind(|| insta::assert_snapshot!("plan_sim_create", run.transcript()));

    let json = home
        .run(&["plan", STACK, "--name", "exp-42", "--output", "json"])
        .json();
    assert_eq!(json["schema"], "stackform/v1");
    let plan = &json["plan"];
    assert_eq!(plan["format_version"], 1);
    assert_eq!(
        plan["summary"],
        serde_json::json!({"add": 3, "change": 0, "replace": 0, "destroy": 0, "unchanged": 0})
    );
    let actions: Vec<(&str, &str)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["address"].as_str().unwrap(),
                c["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("artifacts", "create"),
            ("registry", "create"),
            ("cluster", "create")
        ]
    );
    // The cluster waits for the registry whose endpoint it reads.
    assert_eq!(
        plan["changes"][2]["depends_on"],
        serde_json::json!(["registry"])
    );
    let suffix = plan["stack"]["suffix"].as_str().unwrap();
    assert_eq!(
        plan["components"][0]["configuration"]["path"]["value"],
        format!("s3://exp-42-artifacts-{suffix}")
    );
    assert_eq!(
        plan["components"][1]["configuration"]["uri"],
        serde_json::json!({"unknown": true})
    );
}

#[test]
fn when_drops_a_resource_and_its_component() {
    let home = Home::new();
    let json = home
        .run(&[
            "plan",
            STACK,
            "--name",
            "cheap",
            "--var",
            "orchestrator=none",
            "--output",
            "json",
        ])
        .json();
    let plan = &json["plan"];
    assert_eq!(plan["summary"]["add"], 2);
    let kinds: Vec<&str> = plan["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["artifact_store", "container_registry"]);
}

#[test]
fn existing_state_gives_updates_replacements_and_deletes() {
    let home = Home::new();
    home.put_state("staging", &fixture("states/sim-stack.json"));
    // A state written by hand, of resources no sim world holds: planned as recorded, unrefreshed.
    let run = home.run(&[
        "plan",
        STACK,
        "--name",
        "staging",
        "--refresh=false",
        "--var",
        "node_count=3",
        "--var",
        "registry_name=shared",
    ]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let out = run.stdout();
    assert!(
        out.contains("Plan: 0 to add, 1 to change, 1 to replace, 1 to destroy."),
        "{out}"
    );
    // The suffix comes from the state, not a new random one.
    assert!(out.contains("(suffix k3x9z2)"), "{out}");
    settings().bind(|| insta::assert_snapshot!("plan_sim_changes", run.transcript()));
}

#[test]
fn detailed_exitcode_tells_ci_whether_anything_would_change() {
    let home = Home::new();
    let mut state: serde_json::Value =
        serde_json::from_str(&fixture("states/sim-stack.json")).unwrap();
    state["resources"]
        .as_object_mut()
        .unwrap()
        .remove("old-cache");
    home.put_state("staging", &state.to_string());
    // A state written by hand, of resources no sim world holds: planned as recorded, unrefreshed.
    let same = home.run(&[
        "plan",
        STACK,
        "--name",
        "staging",
        "--refresh=false",
        "--detailed-exitcode",
    ]);
    assert_eq!(same.code(), 0, "{}", same.transcript());
    assert!(same.stdout().contains("No changes"), "{}", same.stdout());
    let changed = home.run(&[
        "plan",
        STACK,
        "--name",
        "staging",
        "--var",
        "node_count=4",
        "--refresh=false",
        "--detailed-exitcode",
    ]);
    assert_eq!(changed.code(), 5, "{}", changed.transcript());
    let plain = home.run(&[
        "plan",
        STACK,
        "--name",
        "staging",
        "--var",
        "node_count=4",
        "--refresh=false",
    ]);
    assert_eq!(plain.code(), 0);
}

#[test]
fn saved_plan_records_what_it_was_made_against_and_hides_secrets() {
    let home = Home::new();
    home.put_state("staging", &fixture("states/sim-stack.json"));
    let out = home.path("staging.plan");
    let secret = "s3cr3t-token-value";
    let run = home.run(&[
        "plan",
        STACK,
        "--name",
        "staging",
        "--var",
        &format!("token={secret}"),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(!run.stdout().contains(secret) && !run.stderr().contains(secret));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        !text.contains(secret),
        "the plan file holds the secret in plain text"
    );
    let saved: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(saved["schema"], "stackform/plan-file/v1");
    assert_eq!(
        saved["state"]["lineage"],
        "5b0e6f7a-4a59-4c2e-9a53-1c0e4b8f2d11"
    );
    assert_eq!(saved["state"]["serial"], 7);
    let source = fixture("templates/stack.yaml");
    assert_eq!(saved["template"]["source"], source.as_str());
    assert!(
        saved["template"]["hash"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(saved["inputs"]["token"]["sensitive"]["hash"].is_string());
    assert_eq!(saved["inputs"]["node_count"]["value"], 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn var_files_set_typed_inputs_and_vars_override_them() {
    let home = Home::new();
    let vars = home.path("vars.yaml");
    std::fs::write(&vars, "node_count: 7\norchestrator: kubernetes\n").unwrap();
    let args = [
        "plan",
        STACK,
        "--name",
        "dev",
        "--var-file",
        vars.to_str().unwrap(),
        "--output",
        "json",
    ];
    // The cluster's planned size.
    let size = |args: &[&str]| {
        let json = home.run(args).json();
        json["plan"]["changes"][2]["properties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "size")
            .unwrap()["after"]["value"]
            .clone()
    };
    assert_eq!(size(&args), 7);

    let mut with_var = args.to_vec();
    with_var.extend(["--var", "node_count=9"]);
    assert_eq!(size(&with_var), 9);

    std::fs::write(&vars, "node_count: seven\n").unwrap();
    let run = home.run(&args);
    assert_eq!(run.code(), 2);
    assert_eq!(run.json()["error"]["code"], "input::invalid");
}
