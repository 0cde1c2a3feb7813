//! Every class of bad input gets a clear message naming the file, line and column, quoting the
//! line and saying what to do, and exits 2. Snapshots hold the exact text users see.

use crate::harness::{Home, settings};

fn validate(file: &str, extra: &[&str]) -> String {
    let home = Home::new();
    let path = format!("tests/fixtures/templates/{file}");
    let mut args = vec!["plan", path.as_str(), "--name", "dev"];
    args.extend_from_slice(extra);
    let run = home.run(&args);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(run.stdout().is_empty(), "errors go to stderr in human mode");
    run.transcript()
}

#[test]
fn malformed_yaml() {
    let t = validate("malformed.yaml", &[]);
    assert!(t.contains("malformed.yaml:"), "{t}");
    settings().bind(|| insta::assert_snapshot!("error_malformed_yaml", t));
}

#[test]
fn unknown_resource_type() {
    let t = validate("unknown_type.yaml", &[]);
    assert!(t.contains("unknown_type.yaml:4:11"), "{t}");
    assert!(t.contains("did you mean `sim.resource`?"), "{t}");
    settings().bind(|| insta::assert_snapshot!("error_unknown_type", t));
}

#[test]
fn unknown_property() {
    let t = validate("unknown_property.yaml", &[]);
    assert!(t.contains("unknown_property.yaml:7:7"), "{t}");
    assert!(t.contains("did you mean `size`?"), "{t}");
    settings().bind(|| insta::assert_snapshot!("error_unknown_property", t));
}

#[test]
fn unknown_reference() {
    let t = validate("unknown_reference.yaml", &[]);
    assert!(t.contains("unknown_reference.yaml:10:18"), "{t}");
    assert!(t.contains("did you mean `registry`?"), "{t}");
    settings().bind(|| insta::assert_snapshot!("error_unknown_reference", t));
}

#[test]
fn dependency_cycle() {
    let t = validate("cycle.yaml", &[]);
    assert!(t.contains("network -> role -> cluster -> network"), "{t}");
    settings().bind(|| insta::assert_snapshot!("error_cycle", t));
}

#[test]
fn reference_to_a_resource_dropped_by_when() {
    let t = validate("dropped_reference.yaml", &[]);
    assert!(t.contains("dropped by its `when`"), "{t}");
    settings().bind(|| insta::assert_snapshot!("error_dropped_reference", t));
}

#[test]
fn wrong_input_type_and_missing_required_input() {
    let t = validate("inputs.yaml", &["--var", "node_count=many"]);
    assert!(t.contains("expected an integer"), "{t}");
    settings().bind(|| insta::assert_snapshot!("error_input_type", t));
    let t = validate("inputs.yaml", &[]);
    assert!(t.contains("--var node_count=<integer>"), "{t}");
    settings().bind(|| insta::assert_snapshot!("error_missing_input", t));
}

#[test]
fn bad_stack_name_and_unknown_template() {
    let home = Home::new();
    let run = home.run(&["plan", "local", "--name", "Dev_1"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("not a valid stack name"),
        "{}",
        run.stderr()
    );
    let run = home.run(&["plan", "nosuch", "--name", "dev"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr()
            .contains("built-in templates: aws, azure, gcp, local"),
        "{}",
        run.stderr()
    );
}

#[test]
fn errors_in_json_mode_are_json_on_stdout() {
    let home = Home::new();
    let run = home.run(&[
        "plan",
        "tests/fixtures/templates/unknown_property.yaml",
        "--name",
        "dev",
        "--output",
        "json",
    ]);
    assert_eq!(run.code(), 2);
    let json = run.json();
    assert_eq!(json["schema"], "stackform/v1");
    assert_eq!(json["error"]["code"], "template::unknown_property");
    assert_eq!(json["error"]["help"], "did you mean `size`?");
    let d = &json["error"]["diagnostics"][0];
    assert_eq!(d["file"], "tests/fixtures/templates/unknown_property.yaml");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(7), Some(7))
    );
}

#[test]
fn a_corrupt_state_is_refused_and_left_untouched() {
    let home = Home::new();
    home.put_state("staging", "{\"version\": 1, \"lineage\": \"trunc");
    let run = home.run(&[
        "plan",
        "tests/fixtures/templates/stack.yaml",
        "--name",
        "staging",
    ]);
    assert_eq!(run.code(), 1, "{}", run.transcript());
    assert!(
        run.stderr().contains("corrupt or truncated"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("state.json.backup"),
        "{}",
        run.stderr()
    );
    let after = std::fs::read_to_string(home.path("stacks/staging/state.json")).unwrap();
    assert_eq!(after, "{\"version\": 1, \"lineage\": \"trunc");

    home.put_state("future", "{\"version\": 99}");
    let run = home.run(&["plan", "local", "--name", "future", "--output", "json"]);
    assert_eq!(run.code(), 1);
    let json = run.json();
    assert_eq!(json["error"]["code"], "state::too_new");
    let message = json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("version 99, newer than this stackform understands (2)"),
        "{message}"
    );
}
