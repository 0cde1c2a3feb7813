//! Integrations and provider plugins through the binary, with the example integration
//! (`examples/experiment-tracker`: a flavor, a Python plugin and a template): added, listed,
//! deployed by its template's name, its flavor's schema enforced, removed; a bare plugin found
//! in `$STACKFORM_HOME/plugins`, its resources planned, recorded, changed and destroyed like
//! built-in ones; a plugin that crashes, hangs or answers garbage fails the call
//! with an error naming it, and the next run converges without a duplicate.

use crate::harness::{Home, physical_id, repo_root};

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

/// The example directory, as `integration add` takes it.
fn example_dir() -> String {
    repo_root()
        .join("examples/experiment-tracker")
        .display()
        .to_string()
}

/// A home with the example integration added, and its tracker's root.
fn with_integration() -> (Home, String) {
    let home = Home::new();
    let run = home.run(&["integration", "add", &example_dir()]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let root = home.path("tracker").display().to_string();
    (home, root)
}

/// A copy of the example integration in the home, with `edit` applied to its manifest.
fn edited_example(home: &Home, dir: &str, edit: impl Fn(String) -> String) -> String {
    let to = home.path(dir);
    std::fs::create_dir_all(&to).unwrap();
    let from = repo_root().join("examples/experiment-tracker");
    for f in ["stack.yaml", "stackform-provider-tracker"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
    let manifest = std::fs::read_to_string(from.join("stackform-integration.yaml")).unwrap();
    std::fs::write(to.join("stackform-integration.yaml"), edit(manifest)).unwrap();
    to.display().to_string()
}

#[test]
fn the_example_integration_deploys_describes_and_destroys() {
    let (home, root) = with_integration();
    // What it added is listed, from the installed copy.
    let run = home.run(&["integration", "list", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let listed = &run.json()["integrations"][0];
    assert_eq!(listed["name"], "tracker");
    assert_eq!(listed["flavors"][0]["type"], "experiment_tracker");
    assert_eq!(listed["flavors"][0]["flavor"], "tracker");
    let plugin = listed["providers"][0]["plugin"].as_str().unwrap();
    assert!(
        plugin.starts_with(home.path("integrations/tracker").to_str().unwrap()),
        "{plugin}"
    );
    let run = home.run(&["template", "list", "--output", "json"]);
    let templates = run.json()["templates"].clone();
    let tracked = templates
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "tracked")
        .unwrap_or_else(|| panic!("{templates}"));
    assert_eq!(tracked["integration"], "tracker");
    assert_eq!(tracked["resources"], 2);

    // Deployed by the template's name; its plugin comes with the integration.
    let var = format!("root={root}");
    let run = home.run(&["deploy", "tracked", "--name", "exp", "--yes", "--var", &var]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let state = home.state("exp");
    let id = physical_id(&state, "tracking");
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
        "tracked",
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

    // Nor may an upgrade drop what the stack uses.
    let shrunk = edited_example(&home, "shrunk", |m| {
        let cut = m.find("flavors:").unwrap();
        let templates = m.find("templates:").unwrap();
        format!("{}{}", &m[..cut], &m[templates..])
    });
    let run = home.run(&[
        "integration",
        "add",
        &shrunk,
        "--replace",
        "--output",
        "json",
    ]);
    assert_eq!(run.code(), 1, "{}", run.transcript());
    let message = run.json()["error"]["message"].to_string();
    assert!(
        message.contains("flavor `tracker` of `experiment_tracker` (stack exp)"),
        "{message}"
    );
    let run = home.run(&["integration", "list", "--output", "json"]);
    assert_eq!(
        run.json()["integrations"][0]["flavors"][0]["flavor"],
        "tracker"
    );
    // Removing it while a stack uses it would strand that stack's resources.
    let run = home.run(&["integration", "remove", "tracker"]);
    assert_eq!(run.code(), 1, "{}", run.transcript());
    assert!(
        run.stderr().contains("used by stack(s) exp"),
        "{}",
        run.stderr()
    );
    assert!(home.path("integrations/tracker").exists());

    let run = home.run(&["destroy", "exp", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(projects(&root), Vec::<String>::new());

    let run = home.run(&["integration", "remove", "tracker"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(!home.path("integrations/tracker").exists());
    let run = home.run(&["deploy", "tracked", "--name", "exp2", "--yes"]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("template::not_found"),
        "{}",
        run.stderr()
    );
}

#[test]
fn components_of_an_integration_flavor_are_checked_against_its_schema() {
    let (home, _root) = with_integration();
    let stack = |tracker: &str| {
        format!(
            "name: t\nresources:\n  a:\n    type: local.directory\n    properties:\n      path: a\ncomponents:\n  artifact_store:\n    flavor: local\n    path: ${{a.absolute_path}}\n  experiment_tracker:\n    flavor: tracker\n{tracker}"
        )
    };
    let bad = home.write(
        "bad.yaml",
        &stack("    trackin_uri: file:///x\n    tracking_token: hunter2\n    experiment: \"{{ tok.value }}\"\n"),
    );
    let run = home.run(&["plan", &bad, "--name", "bad", "--output", "json"]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    let diagnostics = run.json()["error"]["diagnostics"].clone();
    // Each mistake once, at its line, with what to do.
    for (code, line, says) in [
        (
            "template::missing_field",
            11,
            "requires field `tracking_uri`",
        ),
        (
            "template::unknown_field",
            13,
            "did you mean `tracking_uri`?",
        ),
        ("template::plain_secret", 14, "stackform secret create"),
        ("template::secret_not_allowed", 15, "tracking_token"),
    ] {
        let found: Vec<&serde_json::Value> = diagnostics
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["code"] == code)
            .collect();
        assert_eq!(found.len(), 1, "{code}: {diagnostics}");
        assert_eq!(found[0]["line"], line, "{code}: {}", found[0]);
        let text = format!("{} {}", found[0]["message"], found[0]["help"]);
        assert!(text.contains(says), "{code}: {text}");
    }
    assert_eq!(diagnostics.as_array().unwrap().len(), 4, "{diagnostics}");
    // Checked before any secret is looked up: `tok` does not exist, and is not what is reported.
    assert!(
        !run.stdout().contains("secret::missing"),
        "{}",
        run.stdout()
    );
    let wrong_type = home.write(
        "typed.yaml",
        &stack("    tracking_uri: file:///x\n    experiment: 3\n"),
    );
    let run = home.run(&["plan", &wrong_type, "--name", "typed", "--output", "json"]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    let message = run.json()["error"]["message"].to_string();
    assert!(
        message.contains("`experiment` of flavor `tracker`")
            && message.contains("must be a string, found integer"),
        "{message}"
    );
    // Right: a secret field holding a reference to a secret that exists.
    let run = home.run_input(&["secret", "create", "tok"], "value=s3cr3t-token\n");
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let good = home.write(
        "good.yaml",
        &stack("    tracking_uri: file:///x\n    tracking_token: \"{{ tok.value }}\"\n    experiment: baseline\n"),
    );
    let run = home.run(&["deploy", &good, "--name", "good", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let state = std::fs::read_to_string(home.path("stacks/good/state.json")).unwrap();
    assert!(state.contains("{{ tok.value }}"), "{state}");
    assert!(!state.contains("s3cr3t-token"), "{state}");
    // Flavors nobody declared pass as written.
    let free = home.write(
        "free.yaml",
        "name: f\ncomponents:\n  experiment_tracker:\n    flavor: mlflow\n    anything: goes\n",
    );
    let run = home.run(&["plan", &free, "--name", "free"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
}

#[test]
fn an_integration_is_checked_before_it_is_added() {
    let home = Home::new();
    // A manifest mistake: named with its file and line, nothing installed.
    let dir = edited_example(&home, "typo", |m| m.replace("    config:", "    confg:"));
    let run = home.run(&["integration", "add", &dir]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("stackform-integration.yaml:"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("did you mean `config`?"),
        "{}",
        run.stderr()
    );
    assert!(!home.path("integrations/tracker").exists());
    // Not a directory with a manifest.
    let run = home.run(&["integration", "add", home.path("typo/..").to_str().unwrap()]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("has no stackform-integration.yaml"),
        "{}",
        run.stderr()
    );
    // A plugin that does not work is named with what it said.
    let dir = edited_example(&home, "broken", |m| m);
    std::fs::write(
        format!("{dir}/stackform-provider-tracker"),
        "#!/bin/sh\necho 'no such module: tracker' >&2\nexit 3\n",
    )
    .unwrap();
    let run = home.run(&["integration", "add", &dir]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("integration::plugin"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("stackform-provider-tracker"),
        "{}",
        run.stderr()
    );
    // A plugin file that is not executable.
    let dir = edited_example(&home, "noexec", |m| m);
    let plugin = format!("{dir}/stackform-provider-tracker");
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let run = home.run(&["integration", "add", &dir]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(run.stderr().contains("chmod +x"), "{}", run.stderr());
    // A template that does not check against the catalog it would run with.
    let dir = edited_example(&home, "badtemplate", |m| m);
    let t = format!("{dir}/stack.yaml");
    let text = std::fs::read_to_string(&t)
        .unwrap()
        .replace("tracking_uri: ${tracking.tracking_uri}", "tracking_url: x");
    std::fs::write(&t, text).unwrap();
    let run = home.run(&["integration", "add", &dir]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("no field `tracking_url`"),
        "{}",
        run.stderr()
    );
    assert!(!home.path("integrations/tracker").exists());

    // Installed once; again only with --replace, which installs the new copy.
    let run = home.run(&["integration", "add", &example_dir()]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let run = home.run(&["integration", "add", &example_dir()]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(run.stderr().contains("--replace"), "{}", run.stderr());
    let newer = edited_example(&home, "newer", |m| {
        m.replace("version: 0.1.0", "version: 0.2.0")
    });
    let run = home.run(&[
        "integration",
        "add",
        &newer,
        "--replace",
        "--output",
        "json",
    ]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(run.json()["replaced"], true);
    let run = home.run(&["integration", "list", "--output", "json"]);
    assert_eq!(run.json()["integrations"][0]["version"], "0.2.0");
    // Another integration may not take a built-in template's name or this one's provider.
    let clash = edited_example(&home, "clash", |m| {
        m.replace("name: tracker", "name: tracker-two")
            .replace("  tracked:", "  local:")
    });
    let run = home.run(&["integration", "add", &clash, "--output", "json"]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    let message = run.json()["error"]["message"].to_string();
    assert!(
        message.contains("template `local` is a built-in template"),
        "{message}"
    );
    assert!(
        message.contains("provider `tracker` comes with integration `tracker`"),
        "{message}"
    );
    let run = home.run(&["integration", "list", "--output", "json"]);
    assert_eq!(run.json()["integrations"].as_array().unwrap().len(), 1);
    // Removing what is not there says what is.
    let run = home.run(&["integration", "remove", "trackr"]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("did you mean `tracker`?"),
        "{}",
        run.stderr()
    );
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
    let id = home.stack_id("lost");
    // Another stack's project must survive.
    let run = home.run(&["deploy", &t, "--name", "kept", "--yes", "--var", &var]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(projects(&root).len(), 2);
    // The laptop is lost: no state, only what the tracker holds.
    std::fs::remove_dir_all(home.path("stacks/lost")).unwrap();
    // A sweep asks every cloud: AWS is moto here, with nothing of the stack.
    let moto = crate::harness::moto::start();
    let mut env = moto.env();
    env.push(("TRACKER_ROOT", root.clone()));
    let dry = home.run_with(&["sweep", "--stack-id", &id, "--output", "json"], &env);
    assert_eq!(dry.code(), 0, "{}", dry.transcript());
    assert!(dry.stdout().contains("tracker.project"), "{}", dry.stdout());
    assert_eq!(projects(&root).len(), 2, "a dry run deletes nothing");
    let run = home.run_with(&["sweep", "--stack-id", &id, "--yes"], &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(projects(&root).len(), 1);
    let kept = physical_id(&home.state("kept"), "tracking");
    assert_eq!(projects(&root), [format!("{kept}.json")]);
}

/// What `integration add` left in the home's integrations directory besides installed ones.
fn staging_left(home: &Home) -> Vec<String> {
    std::fs::read_dir(home.path("integrations"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn integration_add_refuses_links_that_leave_it_and_leaves_nothing_behind_on_failure() {
    let home = Home::new();
    // A credentials file outside the integration, linked from inside it.
    let secret = home.write("aws-credentials", "[default]\naws_secret_access_key=abc\n");
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let dir = edited_example(&home, "leak", |m| m);
    std::os::unix::fs::symlink(&secret, format!("{dir}/credentials")).unwrap();
    let run = home.run(&["integration", "add", &dir]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("integration::link_outside"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("credentials"), "{}", run.stderr());
    assert!(!home.path("integrations/tracker").exists());
    assert_eq!(staging_left(&home), Vec::<String>::new());

    // A link back up into the integration would copy forever.
    let dir = edited_example(&home, "loop", |m| m);
    std::fs::create_dir_all(format!("{dir}/sub")).unwrap();
    std::os::unix::fs::symlink("..", format!("{dir}/sub/up")).unwrap();
    let run = home.run(&["integration", "add", &dir]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("integration::link_loop"),
        "{}",
        run.stderr()
    );
    assert_eq!(staging_left(&home), Vec::<String>::new());

    // A FIFO would block the copy: refused, and the half-made copy removed.
    let dir = edited_example(&home, "fifo", |m| m);
    let fifo = std::ffi::CString::new(format!("{dir}/zz-pipe")).unwrap();
    // SAFETY: a NUL-terminated path of our own test directory.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let run = home.run(&["integration", "add", &dir]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("integration::special_file"),
        "{}",
        run.stderr()
    );
    assert_eq!(staging_left(&home), Vec::<String>::new());

    // A tree far larger than an integration (build output left in it).
    let dir = edited_example(&home, "big", |m| m);
    std::fs::create_dir_all(format!("{dir}/data")).unwrap();
    for i in 0..10_001 {
        std::fs::write(format!("{dir}/data/{i}"), b"").unwrap();
    }
    let run = home.run(&["integration", "add", &dir]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("integration::too_big"),
        "{}",
        run.stderr()
    );
    assert!(!home.path("integrations/tracker").exists());
    assert_eq!(staging_left(&home), Vec::<String>::new());

    // A link that stays inside is copied as the file it points at.
    let dir = edited_example(&home, "inner", |m| m);
    std::os::unix::fs::symlink("stack.yaml", format!("{dir}/alias.yaml")).unwrap();
    let run = home.run(&["integration", "add", &dir]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let copied = home.path("integrations/tracker/alias.yaml");
    assert!(
        !std::fs::symlink_metadata(&copied)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read(&copied).unwrap(),
        std::fs::read(format!("{dir}/stack.yaml")).unwrap()
    );
}
