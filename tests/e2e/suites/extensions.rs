//! Resource types and flavors added from Rust: `crates/cli/examples/custom_types.rs` is a
//! stackform binary with `demo.note` and the `alerter`/`note` flavor built in through
//! `stackform_providers::extend`. Its notes are planned, recorded, read back for drift and
//! destroyed like any built-in resource; the plain `stackform` binary knows nothing of them.
//! Its `notes` connector kind is registered, verified and listed through the same connector
//! commands as the built-in kinds.

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

/// The example binary with `input` on stdin.
fn run_input(home: &Home, args: &[&str], input: &str) -> Run {
    use std::io::Write;
    let mut child = home
        .command_of(&custom_binary(), args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    Run {
        output: child.wait_with_output().unwrap(),
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

#[test]
fn a_connector_kind_added_from_rust_is_registered_verified_and_listed() {
    let home = Home::new();
    let shelf = home.path("shelf");
    std::fs::create_dir_all(&shelf).unwrap();
    std::fs::write(shelf.join(".tokens"), "ada=tok-ada-1\nbob=tok-bob-2\n").unwrap();
    std::fs::write(shelf.join("b.txt"), "second").unwrap();
    std::fs::write(shelf.join("a.txt"), "first").unwrap();
    let dir = format!("dir={}", shelf.display());
    fn register(name: &str) -> Vec<&str> {
        vec![
            "connector",
            "register",
            name,
            "--type",
            "notes",
            "--auth-method",
            "token",
            "--output",
            "json",
            "--setting",
        ]
    }
    // A refusal's message and advice, as `--output json` prints them (never wrapped).
    let error = |run: &Run, field: &str| run.json()["error"][field].as_str().unwrap().to_owned();

    // The plain binary has no such kind, and says which it has.
    let mut args = register("book");
    args.push(&dir);
    let plain = home.run_input(&args, "token=tok-ada-1\n");
    assert_eq!(plain.code(), 2, "{}", plain.transcript());
    assert_eq!(
        error(&plain, "message"),
        "unknown connector type `notes` (known: aws, gcp, azure, kubernetes, docker)"
    );

    // The extension's binary registers it, its auth method checked like a built-in one's.
    let registered = run_input(&home, &args, "token=tok-ada-1\n");
    assert_eq!(registered.code(), 0, "{}", registered.transcript());
    assert!(!registered.transcript().contains("tok-ada-1"));
    let no_dir = run_input(&home, &register("nodir")[..9], "token=tok-ada-1\n");
    assert_eq!(no_dir.code(), 2, "{}", no_dir.transcript());
    assert_eq!(error(&no_dir, "message"), "auth method `token` needs --dir");
    let listed = run(&home, &["connector", "list", "--output", "json"]);
    assert_eq!(listed.code(), 0, "{}", listed.transcript());
    assert!(listed.stdout().contains("\"notes\""), "{}", listed.stdout());

    // Verified by its kind: who the token is, and why there is nothing more to check.
    let verified = run(&home, &["connector", "verify", "book", "--output", "json"]);
    assert_eq!(verified.code(), 0, "{}", verified.transcript());
    let v = &verified.json()["verify"];
    assert_eq!(v["account"], shelf.display().to_string());
    assert_eq!(v["arn"], "ada");
    assert_eq!(v["template"], "notes");
    assert_eq!(
        v["unchecked"],
        "a notes token may read and write every note of its directory"
    );
    assert!(!verified.transcript().contains("tok-ada-1"));

    // What it reaches, through `connector list-resources`.
    let found = run(
        &home,
        &["connector", "list-resources", "book", "--output", "json"],
    );
    assert_eq!(found.code(), 0, "{}", found.transcript());
    let resources: Vec<(String, String)> = found.json()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["type"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let note = |n: &str| ("note".to_owned(), shelf.join(n).display().to_string());
    assert_eq!(resources, [note("a.txt"), note("b.txt")]);
    let wrong_type = run(
        &home,
        &[
            "connector",
            "list-resources",
            "book",
            "--resource-type",
            "s3-bucket",
            "--output",
            "json",
        ],
    );
    assert_eq!(wrong_type.code(), 2, "{}", wrong_type.transcript());
    assert_eq!(
        error(&wrong_type, "help"),
        "use --resource-type note, or leave it out"
    );

    // A token the directory does not accept is refused, and not shown.
    let mut args = register("stale");
    args.push(&dir);
    let stale = run_input(&home, &args, "token=tok-nobody\n");
    assert_eq!(stale.code(), 0, "{}", stale.transcript());
    let refused = run(&home, &["connector", "verify", "stale"]);
    assert_eq!(refused.code(), 1, "{}", refused.transcript());
    assert!(
        refused.stderr().contains("connector::refused"),
        "{}",
        refused.stderr()
    );
    assert!(!refused.transcript().contains("tok-nobody"));

    // What the kind does not do is refused by the commands, naming the kinds that do.
    let login = run(
        &home,
        &[
            "connector",
            "login",
            "book",
            "--resource-type",
            "docker-registry",
            "--output",
            "json",
        ],
    );
    assert_eq!(login.code(), 2, "{}", login.transcript());
    assert_eq!(
        error(&login, "message"),
        "this stackform logs in through aws, gcp and azure connectors; `book` is a notes connector"
    );

    // The plain binary, given the record, says which kinds it verifies.
    let unknown = home.run(&["connector", "verify", "book", "--output", "json"]);
    assert_eq!(unknown.code(), 2, "{}", unknown.transcript());
    assert_eq!(
        error(&unknown, "message"),
        "this stackform verifies aws, gcp, azure, kubernetes and docker connectors; `book` is a notes connector"
    );
}
