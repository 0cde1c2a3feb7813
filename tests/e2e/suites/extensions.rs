//! Resource types and flavors added from Rust: `crates/cli/examples/custom_types.rs` is a
//! stackform binary with `demo.note` and the `alerter`/`note` flavor built in through
//! `stackform_providers::extend`. Its notes are planned, recorded, read back for drift and
//! destroyed like any built-in resource; the plain `stackform` binary knows nothing of them.

use std::path::PathBuf;

use crate::harness::{Home, Run};

/// The example binary, built by `cargo test --workspace` with the other targets.
fn custom_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/e2e-HASH -> target/<profile>/examples/custom_types
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("examples").join("custom_types"))
        .unwrap();
    assert!(
        path.exists(),
        "{} is not built: `cargo test --workspace` builds it, or `cargo build -p stackform-cli --example custom_types`",
        path.display()
    );
    path
}

fn run(home: &Home, args: &[&str]) -> Run {
    Run {
        output: home.command_of(&custom_binary(), args).output().unwrap(),
    }
}

#[test]
fn a_resource_type_added_from_rust_has_the_full_lifecycle() {
    let home = Home::new();
    let notes = home.path("notes");
    let template = |text: &str, alerter: &str| {
        format!(
            "name: notes\nproviders:\n  demo:\n    dir: {}\nresources:\n  hello:\n    type: demo.note\n    properties:\n      name: hello\n      text: {text}\ncomponents:\n  alerter:\n    flavor: note\n{alerter}",
            notes.display()
        )
    };
    let t = home.write(
        "notes.yaml",
        &template("hi", "    channel: ${hello.path}\n"),
    );
    let file = notes.join("hello.txt");

    // The plain binary does not have the type: it is the extension's.
    let plain = home.run(&["plan", &t, "--name", "demo"]);
    assert_eq!(plain.code(), 2, "{}", plain.transcript());
    assert!(
        plain.stderr().contains("unknown resource type `demo.note`"),
        "{}",
        plain.stderr()
    );

    let deployed = run(&home, &["deploy", &t, "--name", "demo", "--yes"]);
    assert_eq!(deployed.code(), 0, "{}", deployed.transcript());
    let content: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(content["text"], "hi");
    let state = home.state("demo");
    assert_eq!(state["resources"]["hello"]["type"], "demo.note");
    assert_eq!(content["stack_id"], state["stack"]["id"]);
    let described = run(&home, &["stack", "describe", "demo", "--output", "json"]);
    assert!(
        described.stdout().contains(&file.display().to_string()),
        "{}",
        described.stdout()
    );

    // Changed behind stackform's back: drift, read through the type.
    let mut changed = content.clone();
    changed["text"] = "edited by hand".into();
    std::fs::write(&file, changed.to_string()).unwrap();
    let drift = run(
        &home,
        &[
            "plan",
            "--refresh-only",
            "--name",
            "demo",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(drift.code(), 5, "{}", drift.transcript());
    assert!(
        drift.stdout().contains("edited by hand"),
        "{}",
        drift.stdout()
    );
    let fixed = run(&home, &["deploy", &t, "--name", "demo", "--yes"]);
    assert_eq!(fixed.code(), 0, "{}", fixed.transcript());
    let content: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(content["text"], "hi");

    // The flavor's schema is enforced like an integration's.
    let bad = home.write("bad.yaml", &template("hi", "    chanel: x\n"));
    let refused = run(&home, &["plan", &bad, "--name", "demo", "--output", "json"]);
    assert_eq!(refused.code(), 2, "{}", refused.transcript());
    let codes: Vec<String> = refused.json()["error"]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        codes,
        ["template::missing_field", "template::unknown_field"]
    );

    let destroyed = run(&home, &["destroy", "demo", "--yes"]);
    assert_eq!(destroyed.code(), 0, "{}", destroyed.transcript());
    assert!(!file.exists());
    assert!(!home.path("stacks/demo/state.json").exists());
}
