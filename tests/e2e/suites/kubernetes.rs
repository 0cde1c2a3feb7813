//! The `kubernetes` provider against the loopback Kubernetes API contract server
//! ([`crate::contract::kube_api`]): namespaces and service accounts applied with server-side
//! apply, marked as the stack's, read back for drift, refused when someone else's, deleted with
//! foreground propagation and waited for; every object sent validated against the published
//! Kubernetes schemas with `kubernetes-validate`.

use crate::contract::kube_api::{self, KubeApi};
use crate::harness::Home;
use crate::harness::emulator::installed;

const TEMPLATE: &str = r#"name: workloads
inputs:
  kubeconfig: { type: string }
  role_arn: { type: string, default: "arn:aws:iam::123456789012:role/pipelines" }
providers:
  kubernetes:
    kubeconfig: ${inputs.kubeconfig}
resources:
  ns:
    type: kubernetes.namespace
    properties:
      name: pipelines
      labels: { team: ml }
  sa:
    type: kubernetes.service_account
    properties:
      name: pipelines
      namespace: ${ns.name}
      annotations:
        eks.amazonaws.com/role-arn: ${inputs.role_arn}
      automount_token: false
outputs:
  subject: ${sa.subject}
"#;

/// Validates every body stackform applied against the Kubernetes 1.33 JSON schemas, strictly
/// (no field the schema does not have).
fn validate_applied(api: &KubeApi, home: &Home) {
    let tool = installed("kubeval/bin/kubernetes-validate", "kubernetes-validate");
    let applied = api.applied();
    assert!(!applied.is_empty());
    let mut files = Vec::new();
    for (i, body) in applied.iter().enumerate() {
        files.push(home.write(&format!("applied-{i}.json"), &body.to_string()));
    }
    let out = std::process::Command::new(tool)
        .args(["--strict", "-k", "1.33.0"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "what stackform sent does not validate:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn namespaces_and_service_accounts_are_applied_marked_drift_checked_and_deleted() {
    let api = kube_api::start();
    let home = Home::new();
    let kubeconfig = home.write("kubeconfig.json", &api.kubeconfig());
    let var = format!("kubeconfig={kubeconfig}");
    let t = home.write("t.yaml", TEMPLATE);
    let deploy = |home: &Home| {
        home.run(&[
            "deploy", &t, "--name", "wl", "--var", &var, "--yes", "--output", "json",
        ])
    };

    let run = deploy(&home);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(
        home.state("wl")["outputs"]["subject"],
        "system:serviceaccount:pipelines:pipelines"
    );
    // What the cluster holds (not what stackform recorded): the marks, the annotation, the
    // token setting, and stackform as the field manager.
    let id = home.stack_id("wl");
    let ns = api
        .object("namespaces", "", "pipelines")
        .expect("the namespace");
    assert_eq!(
        ns["metadata"]["labels"]["stackform.dev/stack-id"],
        id.as_str()
    );
    assert_eq!(ns["metadata"]["labels"]["team"], "ml");
    assert_eq!(ns["metadata"]["annotations"]["stackform.dev/address"], "ns");
    assert_eq!(ns["metadata"]["managedFields"][0]["manager"], "stackform");
    let sa = api
        .object("serviceaccounts", "pipelines", "pipelines")
        .expect("the service account");
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/pipelines"
    );
    assert_eq!(
        sa["metadata"]["labels"]["stackform.dev/stack-id"],
        id.as_str()
    );
    assert_eq!(sa["automountServiceAccountToken"], false);
    assert!(
        api.log()
            .iter()
            .any(|l| l.starts_with("PATCH /api/v1/namespaces/pipelines?")
                && l.contains("fieldManager=stackform")
                && l.contains("force=true")),
        "{:?}",
        api.log()
    );

    // Someone changes the annotation with kubectl: drift, and the next deploy puts it back.
    api.edit("serviceaccounts", "pipelines", "pipelines", |o| {
        o["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] =
            "arn:aws:iam::123456789012:role/other".into();
    });
    let drift = home.run(&[
        "plan",
        "--refresh-only",
        "--name",
        "wl",
        "--detailed-exitcode",
        "--output",
        "json",
    ]);
    assert_eq!(drift.code(), 5, "{}", drift.transcript());
    let changed = drift.json()["drift"]["resources"].to_string();
    assert!(changed.contains("role/other"), "{changed}");
    let run = deploy(&home);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let sa = api
        .object("serviceaccounts", "pipelines", "pipelines")
        .unwrap();
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/pipelines"
    );

    // A label the template drops is removed (server-side apply: stackform owned it).
    let dropped = TEMPLATE.replace("      labels: { team: ml }\n", "");
    let t2 = home.write("t2.yaml", &dropped);
    let run = home.run(&["deploy", &t2, "--name", "wl", "--var", &var, "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let ns = api.object("namespaces", "", "pipelines").unwrap();
    assert!(ns["metadata"]["labels"].get("team").is_none(), "{ns}");
    assert_eq!(
        ns["metadata"]["labels"]["stackform.dev/stack-id"],
        id.as_str()
    );

    // Destroy: the service account, then the namespace, whose deletion is waited for.
    let run = home.run(&["destroy", "wl", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(
        api.names("namespaces").is_empty(),
        "{:?}",
        api.names("namespaces")
    );
    assert!(api.names("serviceaccounts").is_empty());
    let deletes = api.deletes();
    assert_eq!(deletes.len(), 2, "{deletes:?}");
    assert_eq!(deletes[0].0, "serviceaccounts/pipelines/pipelines");
    assert_eq!(deletes[1].0, "namespaces//pipelines");
    for (what, policy) in &deletes {
        assert_eq!(policy.as_deref(), Some("Foreground"), "{what}");
    }
    // The namespace was read while terminating until it was gone.
    let reads = api
        .log()
        .iter()
        .filter(|l| l.starts_with("GET /api/v1/namespaces/pipelines?"))
        .count();
    assert!(
        reads > kube_api::TERMINATING_READS as usize,
        "{:?}",
        api.log()
    );
    validate_applied(&api, &home);
}

#[test]
fn an_object_that_is_not_the_stacks_is_refused_and_bad_credentials_are_named() {
    let api = kube_api::start();
    let home = Home::new();
    api.put_foreign(
        "namespaces",
        "",
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "pipelines", "labels": {"owner": "platform"}}}),
    );
    let kubeconfig = home.write("kubeconfig.json", &api.kubeconfig());
    let var = format!("kubeconfig={kubeconfig}");
    let t = home.write("t.yaml", TEMPLATE);
    let run = home.run(&["deploy", &t, "--name", "wl", "--var", &var, "--yes"]);
    assert_eq!(run.code(), 1, "{}", run.transcript());
    assert!(
        run.stderr().contains("not this stack's"),
        "{}",
        run.stderr()
    );
    // Left as it was: no stackform label was applied over it.
    let ns = api.object("namespaces", "", "pipelines").unwrap();
    assert_eq!(
        ns["metadata"]["labels"],
        serde_json::json!({"owner": "platform"})
    );
    assert!(api.applied().is_empty(), "{:?}", api.applied());

    // A kubeconfig with a token the server does not know.
    let wrong = api.kubeconfig().replace(&api.token, "not-the-token");
    let kubeconfig = home.write("wrong.json", &wrong);
    let run = home.run(&[
        "deploy",
        &t,
        "--name",
        "other",
        "--var",
        &format!("kubeconfig={kubeconfig}"),
        "--yes",
    ]);
    assert_eq!(run.code(), 1, "{}", run.transcript());
    assert!(run.stderr().contains("Unauthorized"), "{}", run.stderr());
    assert!(!run.stderr().contains("not-the-token"), "{}", run.stderr());

    // A kubeconfig that is not there says how to make one.
    let run = home.run(&[
        "deploy",
        &t,
        "--name",
        "third",
        "--var",
        "kubeconfig=/nonexistent/kube.json",
        "--yes",
    ]);
    assert_eq!(run.code(), 1, "{}", run.transcript());
    assert!(run.stderr().contains("connector login"), "{}", run.stderr());
}
