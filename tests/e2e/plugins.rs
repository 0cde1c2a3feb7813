//! Provider plugins through the binary, with the example plugin (`examples/experiment-tracker`,
//! Python): found in `$STACKFORM_HOME/plugins`, its resources planned, recorded, changed and
//! destroyed like built-in ones; a plugin that crashes, hangs or answers garbage fails the call
//! with an error naming it, and the next run converges without a duplicate.

use crate::support::{Home, repo_root};

/// A home with the example plugin installed, and its tracker's root.
fn with_plugin() -> (Home, String, String) {
    let home = Home::new();
    std::fs::create_dir_all(home.path("plugins")).unwrap();
    let plugin = home.path("plugins/stackform-provider-tracker");
    std::fs::copy(
        repo_root().join("examples/experiment-tracker/stackform-provider-tracker"),
        &plugin,
    )
    .unwrap();
    let template = repo_root()
        .join("examples/experiment-tracker/stack.yaml")
        .display()
        .to_string();
    let root = home.path("tracker").display().to_string();
    (home, template, root)
}

/// The tracker's project records (one `.json` each).
fn projects(root: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    out.sort();
    out
}

#[test]
fn the_example_integration_deploys_describes_and_destroys() {
    let (home, t, root) = with_plugin();
    let var = format!("root={root}");
    let run = home.run(&["deploy", &t, "--name", "exp", "--yes", "--var", &var]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let state = home.state("exp");
    let id = state["resources"]["tracking"]["physical_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(projects(&root), [format!("{id}.json")]);
    let run = home.run(&["stack", "describe", "exp", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let described = run.json().to_string();
    assert!(described.contains("experiment_tracker"), "{described}");
    assert!(
        described.contains(&format!("file://{root}/{id}")),
        "{described}"
    );
    // Read back through the plugin: nothing to change.
    let run = home.run(&[
        "plan",
        &t,
        "--name",
        "exp",
        "--var",
        &var,
        "--detailed-exitcode",
    ]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    // The template sees the plugin's schema: an unknown property is an error before any call.
    let bad = home.write(
        "bad.yaml",
        "name: bad\nresources:\n  t:\n    type: tracker.project\n    properties:\n      name: x\n      colour: red\n",
    );
    let run = home.run(&["plan", &bad, "--name", "bad"]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(run.stderr().contains("colour"), "{}", run.stderr());
    let run = home.run(&["destroy", "exp", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(projects(&root), Vec::<String>::new());
}

#[test]
fn a_plugin_that_crashes_hangs_or_answers_garbage_is_named_and_the_next_run_converges() {
    let (home, t, root) = with_plugin();
    let var = format!("root={root}");
    for (fault, says) in [
        ("crash", "exited with"),
        ("garbage", "malformed JSON"),
        ("hang", "gave no answer within 2s"),
    ] {
        let run = home.run_with(
            &["deploy", &t, "--name", "faulty", "--yes", "--var", &var],
            &[("TRACKER_FAULT", fault), ("STACKFORM_PLUGIN_TIMEOUT", "2")],
        );
        assert_eq!(run.code(), 1, "{fault}: {}", run.transcript());
        assert!(
            run.stderr().contains("plugin `stackform-provider-tracker`"),
            "{fault}: {}",
            run.stderr()
        );
        assert!(run.stderr().contains(says), "{fault}: {}", run.stderr());
        assert!(projects(&root).is_empty(), "{fault}: nothing was made");
    }
    // Fixed: the next run resolves what was pending and makes exactly one project.
    let run = home.run(&["deploy", &t, "--name", "faulty", "--yes", "--var", &var]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(projects(&root).len(), 1);
    let state = home.state("faulty");
    assert_eq!(state["pending"], serde_json::json!({}));
    let run = home.run(&["destroy", "faulty", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(projects(&root).is_empty());
}

#[test]
fn a_lost_stack_is_swept_from_what_the_plugin_lists() {
    let (home, t, root) = with_plugin();
    let var = format!("root={root}");
    let run = home.run(&["deploy", &t, "--name", "lost", "--yes", "--var", &var]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let id = home.state("lost")["stack"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another stack's project must survive.
    let run = home.run(&["deploy", &t, "--name", "kept", "--yes", "--var", &var]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(projects(&root).len(), 2);
    // The laptop is lost: no state, only what the tracker holds.
    std::fs::remove_dir_all(home.path("stacks/lost")).unwrap();
    // A sweep asks every cloud: AWS is moto here, with nothing of the stack.
    let moto = crate::moto::start();
    let mut env = moto.env();
    env.push(("TRACKER_ROOT", root.clone()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dry = home.run_with(&["sweep", "--stack-id", &id, "--output", "json"], &env);
    assert_eq!(dry.code(), 0, "{}", dry.transcript());
    assert!(dry.stdout().contains("tracker.project"), "{}", dry.stdout());
    assert_eq!(projects(&root).len(), 2, "a dry run deletes nothing");
    let run = home.run_with(&["sweep", "--stack-id", &id, "--yes"], &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(projects(&root).len(), 1);
    let kept = home.state("kept")["resources"]["tracking"]["physical_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(projects(&root), [format!("{kept}.json")]);
}
