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
pub(crate) fn validate_applied(api: &KubeApi, home: &Home) {
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

    // An object with the stack's marks that no record holds (an interrupted run's, a lost
    // journal's), in a namespace that is not the stack's.
    api.put_foreign(
        "namespaces",
        "",
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shared"}}),
    );
    api.put_foreign(
        "serviceaccounts",
        "shared",
        serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
            "name": "lost", "namespace": "shared",
            "labels": {"stackform.dev/stack-id": id, "stackform.dev/stack": "wl"},
            "annotations": {"stackform.dev/address": "sa_old"},
        }}),
    );

    // Destroy: the service account, then the namespace, whose deletion is waited for; the
    // census finds the unrecorded one and deletes it too, and leaves what is not the stack's.
    let run = home.run(&["destroy", "wl", "--yes", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let census = run.json()["destroy"]["census"].clone();
    assert!(
        census["checked"].to_string().contains("kubernetes"),
        "{census}"
    );
    assert!(census["swept"].to_string().contains("lost"), "{census}");
    assert_eq!(census["remaining"], serde_json::json!([]), "{census}");
    assert_eq!(
        api.names("namespaces"),
        [(String::new(), "shared".to_owned())]
    );
    assert!(api.names("serviceaccounts").is_empty());
    let deletes = api.deletes();
    assert_eq!(deletes.len(), 3, "{deletes:?}");
    assert_eq!(deletes[0].0, "serviceaccounts/pipelines/pipelines");
    assert_eq!(deletes[1].0, "namespaces//pipelines");
    assert_eq!(deletes[2].0, "serviceaccounts/shared/lost");
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

const WORKLOAD: &str = r#"name: web
inputs:
  kubeconfig: { type: string }
  db_password: { type: string, sensitive: true }
providers:
  kubernetes:
    kubeconfig: ${inputs.kubeconfig}
resources:
  ns:
    type: kubernetes.namespace
    properties: { name: web }
  creds:
    type: kubernetes.secret
    properties:
      name: db
      namespace: ${ns.name}
      data:
        password: ${inputs.db_password}
  app:
    type: kubernetes.manifest
    properties:
      manifest:
        apiVersion: apps/v1
        kind: Deployment
        metadata: { name: web, namespace: "${ns.name}", labels: { app: web } }
        spec:
          replicas: 2
          selector: { matchLabels: { app: web } }
          template:
            metadata: { labels: { app: web } }
            spec:
              containers:
                - name: web
                  image: nginx:1.27
                  ports: [{ containerPort: 8080 }]
                  env:
                    - name: DB_PASSWORD
                      valueFrom: { secretKeyRef: { name: "${creds.name}", key: password } }
  lb:
    type: kubernetes.manifest
    properties:
      manifest:
        apiVersion: v1
        kind: Service
        metadata: { name: web, namespace: "${ns.name}" }
        spec:
          type: LoadBalancer
          selector: { app: web }
          ports: [{ port: 80, targetPort: 8080 }]
outputs:
  address: ${lb.load_balancer}
"#;

#[test]
fn secrets_and_any_manifest_are_applied_waited_for_until_ready_and_never_leak() {
    let api = kube_api::start();
    let home = Home::new();
    let password = "s3cret-db-passw0rd";
    let made = home.run_input(
        &["secret", "create", "db"],
        &format!("password={password}\n"),
    );
    assert_eq!(made.code(), 0, "{}", made.transcript());
    let kubeconfig = home.write("kubeconfig.json", &api.kubeconfig());
    let t = home.write("t.yaml", WORKLOAD);
    let args = |cmd: &'static str| -> Vec<String> {
        let mut a: Vec<String> = vec![cmd.into()];
        if cmd == "deploy" {
            a.push(t.clone());
        }
        a.extend(
            [
                "--name",
                "web",
                "--var",
                &format!("kubeconfig={kubeconfig}"),
                "--var",
                "db_password={{ db.password }}",
                "--yes",
            ]
            .map(str::to_owned),
        );
        a
    };
    let deploy = args("deploy");
    let deploy: Vec<&str> = deploy.iter().map(String::as_str).collect();
    let run = home.run(&deploy);
    assert_eq!(run.code(), 0, "{}", run.transcript());

    // The Secret holds the value, base64 as the API wants; nothing of stackform's does.
    use base64::Engine as _;
    let secret = api.object("secrets", "web", "db").expect("the secret");
    assert_eq!(
        secret["data"]["password"],
        base64::engine::general_purpose::STANDARD.encode(password)
    );
    assert!(!run.stdout().contains(password) && !run.stderr().contains(password));
    for entry in walk(&home.dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(password),
            "{} holds the password",
            entry.display()
        );
    }
    // The Deployment and the Service were waited for: read until ready.
    let reads = |path: &str| {
        api.log()
            .iter()
            .filter(|l| l.starts_with(&format!("GET {path}?")))
            .count()
    };
    assert!(
        reads("/apis/apps/v1/namespaces/web/deployments/web") > kube_api::READY_READS as usize,
        "{:?}",
        api.log()
    );
    assert!(
        reads("/api/v1/namespaces/web/services/web") > kube_api::READY_READS as usize,
        "{:?}",
        api.log()
    );
    assert_eq!(
        home.state("web")["outputs"]["address"],
        "web.elb.contract.test"
    );
    let deployment = api.object("deployments", "web", "web").unwrap();
    assert_eq!(
        deployment["metadata"]["labels"]["stackform.dev/stack-id"],
        home.stack_id("web").as_str()
    );

    // What the server filled in (clusterIP, protocol, revisionHistoryLimit) is not drift.
    let drift = |home: &Home| {
        home.run(&[
            "plan",
            "--refresh-only",
            "--name",
            "web",
            "--detailed-exitcode",
            "--output",
            "json",
        ])
    };
    let clean = drift(&home);
    assert_eq!(clean.code(), 0, "{}", clean.transcript());
    // A replica count and a secret value changed in the cluster are.
    api.edit("deployments", "web", "web", |o| {
        o["spec"]["replicas"] = 5.into()
    });
    api.edit("secrets", "web", "db", |o| {
        o["data"]["password"] = "b3RoZXI=".into()
    });
    let dirty = drift(&home);
    assert_eq!(dirty.code(), 5, "{}", dirty.transcript());
    let changed = dirty.json()["drift"]["resources"].to_string();
    assert!(
        changed.contains("app") && changed.contains("creds"),
        "{changed}"
    );
    assert!(
        !changed.contains("other"),
        "a secret value shown: {changed}"
    );
    let run = home.run(&deploy);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(
        api.object("deployments", "web", "web").unwrap()["spec"]["replicas"],
        2
    );

    let run = home.run(&["destroy", "web", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    for kind in ["namespaces", "secrets", "deployments", "services"] {
        assert!(api.names(kind).is_empty(), "{kind}: {:?}", api.names(kind));
    }
    validate_applied(&api, &home);
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn an_eks_cluster_is_reached_as_the_deploying_identity_with_a_presigned_token() {
    let moto = crate::harness::moto::start();
    let env = moto.env();
    crate::harness::rt().block_on(async {
        let config = moto.sdk().await;
        aws_sdk_eks::Client::new(&config)
            .create_cluster()
            .name("ml")
            .role_arn("arn:aws:iam::123456789012:role/eks")
            .resources_vpc_config(aws_sdk_eks::types::VpcConfigRequest::builder().build())
            .send()
            .await
            .unwrap();
    });
    let api = kube_api::start_eks(&["testing"]);
    let home = Home::new();
    // The cluster's name the way a stack names the cluster it creates.
    let t = home.write(
        "t.yaml",
        "name: eks
providers:
  kubernetes:
    eks_cluster: ml
    region: eu-central-1
resources:
  ns:
    type: kubernetes.namespace
    properties: { name: pipelines }
",
    );
    let mut env: Vec<(&str, String)> = env;
    env.push(("STACKFORM_KUBERNETES_ENDPOINT", api.url.clone()));
    let run = home.run_with(&["deploy", &t, "--name", "ek", "--yes"], &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(api.object("namespaces", "", "pipelines").is_some());
    // Other credentials sign tokens this cluster does not accept.
    let mut wrong = env.clone();
    for (k, v) in wrong.iter_mut() {
        if *k == "AWS_ACCESS_KEY_ID" {
            *v = "AKIAOTHER".into();
        }
    }
    let run = home.run_with(
        &[
            "plan",
            "--refresh-only",
            "--name",
            "ek",
            "--detailed-exitcode",
        ],
        &wrong,
    );
    assert_ne!(run.code(), 0, "{}", run.transcript());
    assert!(run.stderr().contains("Unauthorized"), "{}", run.stderr());
    let run = home.run_with(&["destroy", "ek", "--yes"], &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(api.names("namespaces").is_empty());
}

#[test]
fn a_kubernetes_secret_written_in_the_template_is_refused_with_the_way_to_a_secret() {
    let home = Home::new();
    let t = home.write(
        "t.yaml",
        r#"name: leaky
inputs:
  kubeconfig: { type: string, default: /nonexistent }
  token: { type: string, sensitive: true }
providers:
  kubernetes:
    kubeconfig: ${inputs.kubeconfig}
resources:
  s:
    type: kubernetes.secret
    properties:
      name: creds
      namespace: default
      data:
        token: ${inputs.token}
        password: hunter2
"#,
    );
    let run = home.run(&[
        "plan", &t, "--name", "leaky", "--var", "token=x", "--output", "json",
    ]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    let diagnostics = run.json()["error"]["diagnostics"].clone();
    let found: Vec<&serde_json::Value> = diagnostics
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "template::plain_secret")
        .collect();
    assert_eq!(found.len(), 1, "{diagnostics}");
    // The entry written in plain text, not the one from a sensitive input, at its line.
    assert_eq!(found[0]["line"], 16, "{}", found[0]);
    let message = found[0]["message"].as_str().unwrap();
    assert!(message.contains("`data.password`"), "{message}");
    assert!(
        found[0]["help"]
            .as_str()
            .unwrap()
            .contains("stackform secret create"),
        "{}",
        found[0]
    );
    // Nothing of the value reaches the output.
    assert!(!run.stdout().contains("hunter2"), "{}", run.stdout());
}
