//! Secrets: the local encrypted store through `stackform secret`, `{{ name.key }}` references
//! checked before a plan is shown, resolved only where used, a changed secret shown in the plan,
//! and a scan of everything stackform writes and prints for the values: none may appear.

use crate::harness::{Home, Run};

/// A component that refers to a secret, and a sensitive input that a resource reads.
const T: &str = "name: t
inputs:
  api_token: { type: string, sensitive: true }
resources:
  thing:
    type: sim.resource
    properties: { name: thing, secret: \"${inputs.api_token}\" }
components:
  experiment_tracker:
    flavor: mlflow
    tracking_uri: http://mlflow.internal
    tracking_token: \"{{ mlflow.token }}\"
";

const TOKEN: &str = "tok-7Qz9-Lr2x-unguessable";
const PASSWORD: &str = "pw-K8s-m3ta-0xDEADBEEF";

fn secret(home: &Home, args: &[&str], stdin: &str) -> Run {
    let mut all = vec!["secret"];
    all.extend(args);
    home.run_input(&all, stdin)
}

#[test]
fn secrets_are_created_listed_hidden_revealed_updated_and_deleted() {
    let home = Home::new();
    let run = secret(
        &home,
        &["create", "mlflow"],
        "token=abc=def\n# a comment\nuser=ml\n",
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(
        run.stdout().contains("keys token, user"),
        "{}",
        run.stdout()
    );
    let again = secret(&home, &["create", "mlflow"], "token=x\n");
    assert_eq!(again.code(), 2, "{}", again.transcript());
    assert!(again.stderr().contains("stackform secret update mlflow"));

    let list = home.run(&["secret", "list", "--output", "json"]).json();
    assert_eq!(list["secrets"][0]["name"], "mlflow");
    assert_eq!(
        list["secrets"][0]["keys"],
        serde_json::json!(["token", "user"])
    );
    let hidden = home.run(&["secret", "get", "mlflow"]);
    assert!(!hidden.stdout().contains("abc=def"), "{}", hidden.stdout());
    let shown = home
        .run(&["secret", "get", "mlflow", "--reveal", "--output", "json"])
        .json();
    assert_eq!(
        shown["secret"]["values"]["token"], "abc=def",
        "the value keeps its `=`"
    );

    let run = secret(
        &home,
        &["update", "mlflow", "--remove-key", "user"],
        "token=new\n",
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let shown = home
        .run(&["secret", "get", "mlflow", "--reveal", "--output", "json"])
        .json();
    assert_eq!(
        shown["secret"]["values"],
        serde_json::json!({"token": "new"})
    );

    // A malformed line is named by number, never shown.
    let bad = secret(&home, &["create", "other"], "ok=1\nhunter2-no-equals\n");
    assert_eq!(bad.code(), 2, "{}", bad.transcript());
    assert!(bad.stderr().contains("line 2"), "{}", bad.stderr());
    assert!(!bad.stderr().contains("hunter2"), "{}", bad.stderr());

    // Another key cannot open the store.
    let wrong = home.run_with(
        &["secret", "get", "mlflow"],
        &[("STACKFORM_SECRETS_KEY", &"ab".repeat(32))],
    );
    assert_eq!(wrong.code(), 1, "{}", wrong.transcript());
    assert!(
        wrong.stderr().contains("cannot be decrypted"),
        "{}",
        wrong.stderr()
    );

    assert_eq!(home.run(&["secret", "delete", "mlflow"]).code(), 0);
    assert_eq!(home.run(&["secret", "get", "mlflow"]).code(), 2);
}

#[test]
fn every_missing_reference_is_named_before_a_plan_is_shown() {
    let home = Home::new();
    let t = home.write("t.yaml", T);
    assert_eq!(secret(&home, &["create", "db"], "user=admin\n").code(), 0);
    let run = home.run(&[
        "plan",
        &t,
        "--name",
        "refs",
        "--var",
        "api_token={{ db.password }}",
    ]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    let err = run.stderr();
    assert!(err.contains("names secret `mlflow`"), "{err}");
    assert!(err.contains("t.yaml:12"), "{err}");
    assert!(err.contains("secret `db` has no key `password`"), "{err}");
    assert!(err.contains("stackform secret create mlflow"), "{err}");
    let run = home.run(&[
        "deploy",
        &t,
        "--name",
        "refs",
        "--yes",
        "--var",
        "api_token={{ db.password }}",
    ]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(!home.path("stacks/refs/state.json").exists());
    assert!(home.world().is_empty());
}

/// Every file below `dir`, as bytes.
fn files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p, bytes));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn secret_values_never_reach_state_plans_logs_or_output_and_a_changed_secret_shows() {
    let home = Home::new();
    let world = tempdir();
    let sim = world.to_str().unwrap();
    let env = [("STACKFORM_SIM_DIR", sim)];
    let t = home.write("t.yaml", T);
    assert_eq!(
        secret(&home, &["create", "mlflow"], &format!("token={TOKEN}\n")).code(),
        0
    );
    assert_eq!(
        secret(&home, &["create", "db"], &format!("password={PASSWORD}\n")).code(),
        0
    );
    let plan_file = home.dir.join("saved.plan");
    let var = "api_token={{ db.password }}";
    let mut runs = Vec::new();
    for args in [
        vec![
            "plan",
            &t,
            "--name",
            "leak",
            "--var",
            var,
            "--out",
            plan_file.to_str().unwrap(),
            "-vv",
        ],
        vec![
            "plan", &t, "--name", "leak", "--var", var, "--output", "json",
        ],
        vec!["deploy", &t, "--name", "leak", "--yes", "--var", var, "-vv"],
        vec![
            "deploy", &t, "--name", "leak", "--yes", "--var", var, "--output", "json",
        ],
        vec!["stack", "describe", "leak"],
        vec!["stack", "describe", "leak", "--output", "json"],
        vec!["state", "show", "leak"],
        vec!["stack", "list", "--output", "json"],
        vec!["secret", "list"],
        vec!["secret", "get", "db"],
    ] {
        let run = home.run_with(&args, &env);
        assert_eq!(run.code(), 0, "{args:?}: {}", run.transcript());
        runs.push(run);
    }
    // Used where it is used: the resource got the value (the sim world is the cloud here).
    let in_cloud = files(&world);
    assert!(
        in_cloud.iter().any(|(_, b)| contains(b, PASSWORD)),
        "the resource never received the secret"
    );
    // And nowhere else.
    for value in [TOKEN, PASSWORD] {
        for (path, bytes) in files(&home.dir) {
            assert!(!contains(&bytes, value), "{value} in {}", path.display());
        }
        for run in &runs {
            assert!(
                !run.stdout().contains(value) && !run.stderr().contains(value),
                "{value} printed: {}",
                run.transcript()
            );
        }
    }
    // The state keeps the references.
    let state = home.state("leak");
    assert_eq!(
        state["inputs"]["api_token"]["secret"]["reference"],
        "{{ db.password }}"
    );
    assert_eq!(
        state["components"][0]["configuration"]["tracking_token"],
        "{{ mlflow.token }}"
    );

    // A changed secret shows in the plan, without its value.
    assert_eq!(
        secret(&home, &["update", "mlflow"], "token=rotated-9x\n").code(),
        0
    );
    assert_eq!(
        secret(&home, &["update", "db"], "password=rotated-7y\n").code(),
        0
    );
    let run = home.run_with(
        &[
            "plan", &t, "--name", "leak", "--var", var, "--output", "json",
        ],
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let plan = run.json()["plan"].clone();
    assert_eq!(
        plan["components"][0]["secrets_changed"],
        serde_json::json!(["tracking_token"])
    );
    assert_eq!(plan["changes"][0]["action"], "update", "{plan}");
    assert_eq!(
        plan["changes"][0]["properties"][0]["after"],
        serde_json::json!({"sensitive": true})
    );
    let human = home.run_with(&["plan", &t, "--name", "leak", "--var", var], &env);
    assert!(
        human
            .stdout()
            .contains("tracking_token = (sensitive) # its secret changed"),
        "{}",
        human.stdout()
    );
    assert!(!human.stdout().contains("rotated"), "{}", human.stdout());
    let run = home.run_with(
        &["deploy", &t, "--name", "leak", "--yes", "--var", var],
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let run = home.run_with(
        &[
            "plan", &t, "--name", "leak", "--var", var, "--output", "json",
        ],
        &env,
    );
    assert_eq!(run.json()["plan"]["summary"]["change"], 0);
    assert!(
        run.json()["plan"]["components"][0]
            .get("secrets_changed")
            .is_none()
    );
    let _ = std::fs::remove_dir_all(&world);
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("sf-world-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn secrets_can_live_in_aws_secrets_manager() {
    let moto = crate::harness::moto::start();
    let home = Home::new();
    let mut env = moto.env();
    env.push(("STACKFORM_SECRETS_BACKEND", "aws".into()));
    let run = home.run_stdin(
        &["secret", "create", "mlflow"],
        &format!("token={TOKEN}\n"),
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(
        run.stdout().contains("AWS Secrets Manager in eu-central-1"),
        "{}",
        run.stdout()
    );
    // Stored in Secrets Manager, as an independent client sees it, and nowhere on disk.
    let stored = crate::harness::rt().block_on(async {
        let config = moto.sdk().await;
        let sm = aws_sdk_secretsmanager::Client::new(&config);
        sm.get_secret_value()
            .secret_id("stackform/mlflow")
            .send()
            .await
            .unwrap()
            .secret_string()
            .unwrap_or_default()
            .to_owned()
    });
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["token"], TOKEN);
    assert!(!home.path("secrets").exists());

    let t = home.write("t.yaml", T);
    let run = home.run_stdin(
        &["secret", "create", "db"],
        &format!("password={PASSWORD}\n"),
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let mut args = vec![
        "deploy",
        t.as_str(),
        "--name",
        "smgr",
        "--yes",
        "--var",
        "api_token={{ db.password }}",
    ];
    let run = home.run_with(&args, &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let list = home
        .run_with(&["secret", "list", "--output", "json"], &env)
        .json();
    assert_eq!(list["secrets"].as_array().unwrap().len(), 2, "{list}");
    // A missing secret is named as missing from Secrets Manager.
    args[6] = "api_token={{ nope.password }}";
    let run = home.run_with(&args, &env);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr()
            .contains("names secret `nope`, which AWS Secrets Manager"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        home.run_with(&["secret", "delete", "mlflow"], &env).code(),
        0
    );
    assert_eq!(home.run_with(&["secret", "get", "mlflow"], &env).code(), 2);
    // The sim world is the cloud here: the resource holds the value, stackform's files do not.
    let cloud = home.dir.join("sim");
    for (path, bytes) in files(&home.dir) {
        if path.starts_with(&cloud) {
            continue;
        }
        assert!(
            !contains(&bytes, PASSWORD) && !contains(&bytes, TOKEN),
            "{}",
            path.display()
        );
    }
}

/// A template that computes from a secret in every way that keeps it out of sight.
const COMPUTED: &str = "name: t
inputs:
  tok: { type: string, sensitive: true }
resources:
  holder:
    type: sim.resource
    properties: { name: holder, secret: \"${upper(inputs.tok)}\" }
  copier:
    type: sim.resource
    properties: { name: copier, secret: \"${holder.secret}\" }
outputs:
  direct: ${inputs.tok}
  computed: \"${format(\\\"%s-%s\\\", lower(inputs.tok), stack.name)}\"
  copied: ${holder.secret}
  chosen: \"${length(inputs.tok) > 3 ? inputs.tok : \\\"short\\\"}\"
  plain: visible
components:
  experiment_tracker:
    flavor: mlflow
    tracking_uri: \"http://mlflow.internal/${inputs.tok}\"
    tracking_token: \"{{ mlflow.token }}\"
    tracking_password: ${inputs.tok}
";

#[test]
fn values_computed_from_a_secret_are_sensitive_and_never_shown_or_stored() {
    let home = Home::new();
    let world = tempdir();
    let sim = world.to_str().unwrap();
    let env = [("STACKFORM_SIM_DIR", sim)];
    let t = home.write("t.yaml", COMPUTED);
    assert_eq!(
        secret(&home, &["create", "mlflow"], &format!("token={TOKEN}\n")).code(),
        0
    );
    assert_eq!(
        secret(&home, &["create", "db"], &format!("password={PASSWORD}\n")).code(),
        0
    );
    let var = "tok={{ db.password }}";
    let upper = PASSWORD.to_uppercase();
    let lower = PASSWORD.to_lowercase();
    let mut runs = Vec::new();
    for args in [
        vec!["plan", &t, "--name", "calc", "--var", var, "-vv"],
        vec![
            "plan", &t, "--name", "calc", "--var", var, "--output", "json",
        ],
        vec!["deploy", &t, "--name", "calc", "--yes", "--var", var, "-vv"],
        vec!["stack", "describe", "calc"],
        vec!["stack", "describe", "calc", "--output", "json"],
        vec!["state", "show", "calc"],
        vec!["stack", "export", "calc"],
    ] {
        let run = home.run_with(&args, &env);
        assert_eq!(run.code(), 0, "{args:?}: {}", run.transcript());
        runs.push(run);
    }
    // The resources got what they were given (the sim world is the cloud here).
    let in_cloud = files(&world);
    assert!(in_cloud.iter().any(|(_, b)| contains(b, &upper)));
    for value in [PASSWORD, upper.as_str(), lower.as_str()] {
        for (path, bytes) in files(&home.dir) {
            assert!(!contains(&bytes, value), "{value} in {}", path.display());
        }
        for run in &runs {
            assert!(
                !run.stdout().contains(value) && !run.stderr().contains(value),
                "{value} printed: {}",
                run.transcript()
            );
        }
    }
    // Every output computed from it is sensitive; the plain one is shown.
    let plan = runs[1].json()["plan"].clone();
    for o in ["direct", "computed", "copied", "chosen"] {
        assert_eq!(
            plan["outputs"][o],
            serde_json::json!({"sensitive": true}),
            "{o}: {plan}"
        );
    }
    assert_eq!(
        plan["outputs"]["plain"],
        serde_json::json!({"value": "visible"})
    );
    let described = runs[4].json()["stack"].clone();
    assert_eq!(described["outputs"]["plain"], "visible");
    assert!(described["outputs"].get("direct").is_none(), "{described}");
    assert_eq!(
        described["components"][0]["configuration"]["tracking_uri"],
        serde_json::json!({"sensitive": true})
    );
    assert!(runs[3].stdout().contains("tracking_uri = (sensitive)"));
    // The state holds a keyed hash of the field, never the value.
    let state = home.state("calc");
    let uri = state["components"][0]["configuration"]["tracking_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(uri.starts_with("sealed:sha256:"), "{uri}");
    // A field that is the input itself keeps the input's reference, as if written there: the
    // export names the secret for whoever imports it.
    assert_eq!(
        state["components"][0]["configuration"]["tracking_password"],
        "{{ db.password }}"
    );
    assert!(
        runs[6].stdout().contains("{{ db.password }}"),
        "{}",
        runs[6].stdout()
    );
    let _ = std::fs::remove_dir_all(&world);
}

#[test]
fn a_secret_where_the_cloud_would_show_it_is_refused_before_anything_is_made() {
    let home = Home::new();
    let world = tempdir();
    let sim = world.to_str().unwrap();
    let env = [("STACKFORM_SIM_DIR", sim)];
    assert_eq!(
        secret(&home, &["create", "db"], &format!("password={PASSWORD}\n")).code(),
        0
    );
    let head = "name: t
inputs:
  tok: { type: string, sensitive: true }
  plain: { type: string, default: x }
resources:
  holder:
    type: sim.resource
    properties: { name: holder, secret: \"${inputs.tok}\" }
";
    // (what is written, the message's code, what it must name)
    let cases = [
        (
            "  named:\n    type: sim.resource\n    properties: { name: \"db-${inputs.tok}\" }\n",
            "template::sensitive_exposed",
            "resource `named`, `name`, is computed from sensitive input `tok`",
        ),
        (
            "  tagged:\n    type: sim.resource\n    properties: { name: t, tags: { k: \"${upper(inputs.tok)}\" } }\n",
            "template::sensitive_exposed",
            "resource `tagged`, `tags`",
        ),
        (
            "  copied:\n    type: sim.resource\n    properties: { name: c, data: \"${holder.secret}\" }\n",
            "template::sensitive_exposed",
            "sensitive property `holder.secret`",
        ),
        (
            "  literal:\n    type: sim.resource\n    properties: { name: \"{{ db.password }}\" }\n",
            "template::secret_reference_misplaced",
            "would be sent as literal text",
        ),
    ];
    for (i, (resource, code, names)) in cases.iter().enumerate() {
        let t = home.write(&format!("t{i}.yaml"), &format!("{head}{resource}"));
        for args in [
            vec!["template", "validate", t.as_str()],
            vec![
                "deploy",
                t.as_str(),
                "--name",
                "bad",
                "--yes",
                "--var",
                "tok={{ db.password }}",
            ],
        ] {
            let run = home.run_with(&args, &env);
            assert_ne!(run.code(), 0, "{args:?}: {}", run.transcript());
            let text = run.transcript();
            // As read, whatever the terminal's width wrapped.
            let flat = text
                .replace('│', " ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            assert!(flat.contains(code), "{args:?}: {text}");
            assert!(flat.contains(names), "{args:?}: {text}");
            assert!(text.contains(&format!("t{i}.yaml")), "{text}");
            assert!(!text.contains(PASSWORD), "{text}");
        }
    }
    // A secret reference given to an input that is not sensitive would be literal text.
    let t = home.write("ok.yaml", head);
    let run = home.run_with(
        &[
            "deploy",
            &t,
            "--name",
            "bad",
            "--yes",
            "--var",
            "tok={{ db.password }}",
            "--var",
            "plain={{ db.password }}",
        ],
        &env,
    );
    assert_ne!(run.code(), 0, "{}", run.transcript());
    assert!(
        run.stderr().contains("input::secret_in_plain_input")
            && run.stderr().contains("sensitive: true"),
        "{}",
        run.transcript()
    );
    // Nothing was made, nothing recorded.
    assert!(files(&world).is_empty(), "{:?}", files(&world));
    assert!(!home.dir.join("stacks/bad/state.json").exists());
    let _ = std::fs::remove_dir_all(&world);
}
