//! Export and import: the ZenML stack YAML of a stack, and a stackform export that `stack
//! import` and `deploy --name` turn into the same stack elsewhere, with secret references kept
//! as references and no secret value in the file.

use stackform_engine::source::SourceFile;
use stackform_engine::value::Value;

use crate::support::Home;

fn yaml(text: &str) -> Value {
    let source = SourceFile::new("export.yaml", text.to_owned());
    stackform_engine::yaml::parse(&source)
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
        let run = home.run_stdin(&["secret", "create", name], line, &[]);
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
