//! Export and import: the ZenML stack YAML of a stack, and a stackform export that `stack
//! import` and `deploy --name` turn into the same stack elsewhere, with secret references kept
//! as references and no secret value in the file.

use stackform_engine::base::source::SourceFile;
use stackform_engine::base::value::Value;

use crate::harness::Home;

fn yaml(text: &str) -> Value {
    let source = SourceFile::new("export.yaml", text.to_owned());
    stackform_engine::lang::yaml::parse(&source)
        .unwrap_or_else(|e| panic!("not YAML: {e:?}\n{text}"))
        .to_value()
}

fn get<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| match v {
        Value::Map(m) => m.get(*k).unwrap_or_else(|| panic!("no `{k}` in {v}")),
        _ => panic!("`{k}` of a non-map {v}"),
    })
}

#[test]
fn the_local_stack_exports_as_zenml_stack_yaml_with_local_flavors() {
    let home = Home::new();
    assert_eq!(
        home.run(&["deploy", "local", "--name", "dev", "--yes"])
            .code(),
        0
    );
    let run = home.run(&["stack", "export", "dev", "--format", "zenml"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let doc = yaml(&run.stdout());
    assert_eq!(get(&doc, &["stack_name"]), &Value::String("dev".into()));
    assert_eq!(
        get(&doc, &["zenml_version"]),
        &Value::String("0.98.0".into())
    );
    for component in ["artifact_store", "orchestrator"] {
        assert_eq!(
            get(&doc, &["components", component, "flavor"]),
            &Value::String("local".into()),
            "{component}"
        );
    }
    let Value::String(path) = get(
        &doc,
        &["components", "artifact_store", "configuration", "path"],
    ) else {
        panic!("no path");
    };
    assert!(
        std::path::Path::new(path).is_dir(),
        "{path} is not the artifact store"
    );
}

const T: &str = "name: t
inputs:
  size: { type: integer, default: 1 }
  api_token: { type: string, sensitive: true }
resources:
  thing:
    type: sim.resource
    properties: { name: \"${stack.name}-thing\", size: \"${inputs.size}\", secret: \"${inputs.api_token}\" }
components:
  experiment_tracker:
    flavor: mlflow
    tracking_token: \"{{ mlflow.token }}\"
";

#[test]
fn an_export_imported_elsewhere_deploys_the_same_stack_without_carrying_secrets() {
    let home = Home::new();
    for (name, line) in [
        ("mlflow", "token=tok-ExPoRt-1\n"),
        ("db", "password=pw-ExPoRt-2\n"),
    ] {
        let run = home.run_input(&["secret", "create", name], line);
        assert_eq!(run.code(), 0, "{}", run.transcript());
    }
    let t = home.write("t.yaml", T);
    let run = home.run(&[
        "deploy",
        &t,
        "--name",
        "orig",
        "--yes",
        "--environment",
        "staging",
        "--var",
        "size=3",
        "--var",
        "api_token={{ db.password }}",
    ]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let out = home.path("orig.export.json");
    let run = home.run(&["stack", "export", "orig", "--out", out.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        !text.contains("pw-ExPoRt-2") && !text.contains("tok-ExPoRt-1"),
        "{text}"
    );
    let export: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(export["inputs"]["api_token"], "{{ db.password }}");
    assert_eq!(export["inputs"]["size"], 3);
    assert_eq!(export["environment"], "staging");

    let run = home.run(&["stack", "import", out.to_str().unwrap(), "--name", "copy"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(
        run.stderr().contains("stackform deploy --name copy"),
        "{}",
        run.stderr()
    );
    let run = home.run(&["deploy", "--name", "copy", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let (a, b) = (home.state("orig"), home.state("copy"));
    assert_eq!(a["template"]["hash"], b["template"]["hash"]);
    assert_ne!(a["stack"]["id"], b["stack"]["id"]);
    assert_eq!(b["stack"]["environment"], "staging");
    assert_eq!(b["resources"]["thing"]["properties"]["size"], 3);
    assert_eq!(
        a["resources"]["thing"]["properties"]["secret"]
            .as_str()
            .map(|s| s.starts_with("sealed:")),
        Some(true)
    );
    let world: Vec<String> = home.world().into_iter().map(|w| w.id).collect();
    assert_eq!(world.len(), 2, "{world:?}");

    // Anything else is refused with what it is.
    let bad = home.write("bad.json", "{\"schema\": \"stackform/plan-file/v1\"}");
    let run = home.run(&["stack", "import", &bad]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("stackform/stack-export/v1"),
        "{}",
        run.stderr()
    );
}

/// Imports a ZenML stack YAML into a fresh ZenML store and returns `zenml stack describe`.
fn zenml_import(home: &Home, name: &str, file: &std::path::Path) -> String {
    let zenml = crate::harness::repo_root().join(".emulators/zenml/bin/zenml");
    assert!(
        zenml.exists(),
        "ZenML is not installed at {}: run `scripts/emulators install zenml` (CI's .ci/run does)",
        zenml.display()
    );
    let config = home.path("zenml-config");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&zenml)
            .args(args)
            .env("ZENML_CONFIG_PATH", &config)
            .env("ZENML_ANALYTICS_OPT_IN", "false")
            .env("AUTO_OPEN_DASHBOARD", "false")
            .env("NO_COLOR", "1")
            .current_dir(&home.dir)
            .output()
            .expect("zenml runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "zenml {args:?} failed:\n{text}");
        text
    };
    run(&["stack", "import", name, "-f", file.to_str().unwrap()]);
    run(&["stack", "describe", name])
}

#[test]
fn zenml_imports_the_exports_of_the_local_and_aws_stacks() {
    let home = Home::new();
    assert_eq!(
        home.run(&["deploy", "local", "--name", "zlocal", "--yes"])
            .code(),
        0
    );
    let local = home.path("zlocal.yaml");
    let run = home.run(&[
        "stack",
        "export",
        "zlocal",
        "--format",
        "zenml",
        "--out",
        local.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let described = zenml_import(&home, "zlocal", &local);
    for c in [
        "ARTIFACT_STORE",
        "zlocal-artifact-store",
        "ORCHESTRATOR",
        "zlocal-orchestrator",
    ] {
        assert!(described.contains(c), "{c} not in:\n{described}");
    }

    let moto = crate::harness::moto::start();
    let env = moto.env();
    let run = home.run_with(&["deploy", "aws", "--name", "zaws", "--yes"], &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let aws = home.path("zaws.yaml");
    let run = home.run_with(
        &[
            "stack",
            "export",
            "zaws",
            "--format",
            "zenml",
            "--out",
            aws.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let doc = yaml(&std::fs::read_to_string(&aws).unwrap());
    let Value::String(uri) = get(
        &doc,
        &["components", "container_registry", "configuration", "uri"],
    ) else {
        panic!("no registry uri");
    };
    assert!(!uri.contains('/'), "ZenML wants the registry host: {uri}");
    let described = zenml_import(&home, "zaws", &aws);
    for c in [
        "ARTIFACT_STORE",
        "CONTAINER_REGISTRY",
        "zaws-container-registry",
        "ORCHESTRATOR",
        "zaws-orchestrator",
    ] {
        assert!(described.contains(c), "{c} not in:\n{described}");
    }
    assert_eq!(home.run_with(&["destroy", "zaws", "--yes"], &env).code(), 0);
}
