//! `stackform template list|show|validate`.

use crate::harness::{Home, settings};

#[test]
fn list_shows_the_builtin_templates() {
    let home = Home::new();
    let run = home.run(&["template", "list"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    settings().bind(|| insta::assert_snapshot!("template_list", run.transcript()));

    let json = home.run(&["template", "list", "--output", "json"]).json();
    assert_eq!(json["schema"], "stackform/v1");
    let names: Vec<&str> = json["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"local"), "{names:?}");
}

#[test]
fn show_prints_the_embedded_source_which_is_the_file_in_the_repo() {
    let home = Home::new();
    let run = home.run(&["template", "show", "local"]);
    assert_eq!(run.code(), 0);
    let on_disk =
        std::fs::read_to_string(crate::harness::repo_root().join("templates/local.yaml")).unwrap();
    assert_eq!(run.stdout(), on_disk);

    let missing = home.run(&["template", "show", "nope"]);
    assert_eq!(missing.code(), 2);
    assert!(
        missing.stderr().contains("no template named `nope`"),
        "{}",
        missing.stderr()
    );
}

#[test]
fn validate_accepts_good_templates_without_inputs() {
    let home = Home::new();
    // `inputs.yaml` has a required input and no value is given: validation still succeeds.
    for file in [
        "templates/local.yaml",
        "tests/fixtures/templates/stack.yaml",
        "tests/fixtures/templates/inputs.yaml",
    ] {
        let run = home.run(&["template", "validate", file]);
        assert_eq!(run.code(), 0, "{file}: {}", run.transcript());
        assert!(run.stdout().contains("is valid"), "{}", run.stdout());
    }
    let json = home
        .run(&[
            "template",
            "validate",
            "tests/fixtures/templates/stack.yaml",
            "--output",
            "json",
        ])
        .json();
    assert_eq!(json["valid"], true);
    assert_eq!(json["template"]["name"], "sim-stack");
    assert_eq!(json["template"]["resources"], 3);
}
