//! The GCP stack (`templates/gcp.yaml`) through the real binary: the bucket on
//! fake-gcs-server, Artifact Registry, IAM, Resource Manager, GKE and Compute on the loopback
//! contract server (`gcp_api`), since those services have no emulator.
//!
//! What a user checks: one deploy makes the whole stack with workload identity wired through,
//! a second plan is empty, `stack describe` shows the components, and destroy removes the
//! stack and what Kubernetes made for the cluster (found by the cluster's name, deleted after
//! the cluster in dependency order) and nothing else, as a census of both servers shows.

use crate::harness::{Home, component, docker_auth};

const PROJECT: &str = "sf-contract-1";
const REGION: &str = "europe-west1";

struct Gcp {
    gcs: crate::harness::gcs::FakeGcs,
    api: crate::contract::gcp_api::GcpApi,
    /// The clusters' Kubernetes API servers, which take the deployer's Google tokens only, with
    /// GKE's service controller making load balancers on `api`.
    kube: crate::contract::kube_api::KubeApi,
}

impl Gcp {
    fn start() -> Gcp {
        let api = crate::contract::gcp_api::start();
        let controller = api.service_controller(PROJECT, REGION);
        Gcp {
            gcs: crate::harness::gcs::start(),
            kube: crate::contract::kube_api::start_gke_with(&[DEPLOYER], Some(controller)),
            api,
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = self.gcs.env();
        env.push(("STACKFORM_GCP_ENDPOINT", self.api.url.clone()));
        env.push((
            "STACKFORM_KUBERNETES_ENDPOINT",
            self.kube.endpoint_per_cluster(),
        ));
        // The contract server finishes operations after a few polls; no need to wait seconds.
        env.push(("STACKFORM_GCP_POLL_MS", "20".into()));
        env
    }
}

fn run(home: &Home, gcp: &Gcp, args: &[&str]) -> crate::harness::Run {
    let env = gcp.env();
    home.run_with(args, &env)
}

/// Index of the first logged request matching `method` and ending with `suffix`.
fn position(log: &[String], method: &str, suffix: &str) -> usize {
    log.iter()
        .position(|l| l.starts_with(method) && l.ends_with(suffix))
        .unwrap_or_else(|| panic!("no {method} ...{suffix} in {log:#?}"))
}

#[test]
fn a_gcp_stack_is_deployed_and_destroyed_with_what_gke_left() {
    let gcp = Gcp::start();
    gcp.api.set_polls(3);
    // The first repository create is throttled: the executor retries it.
    gcp.api.fail_next("POST", "/repositories", 429, 1);
    let home = Home::new();
    let project = format!("project={PROJECT}");
    // fake-gcs-server puts every bucket in US-CENTRAL1 whatever is asked: ask for that.
    let location = "artifact_location=US-CENTRAL1";
    // Application default credentials are anonymous on a loopback Google API, and a cluster's
    // API server takes no anonymous caller: the in-cluster objects are the connector test's.
    let deploy = run(
        &home,
        &gcp,
        &[
            "deploy",
            "gcp",
            "--name",
            "staging",
            "--var",
            &project,
            "--var",
            location,
            "--var",
            "cluster_workloads=false",
            "--yes",
        ],
    );
    assert_eq!(deploy.code(), 0, "{}", deploy.transcript());
    assert!(
        gcp.api.unexpected().is_empty(),
        "{:#?}",
        gcp.api.unexpected()
    );

    let state = home.state("staging");
    let suffix = state["stack"]["suffix"].as_str().unwrap().to_owned();
    let stack_id = state["stack"]["id"].as_str().unwrap().to_owned();
    let cluster_name = format!("staging-{suffix}");
    let cluster_id = format!("projects/{PROJECT}/locations/{REGION}/clusters/{cluster_name}");
    let res = &state["resources"];
    assert_eq!(res["cluster"]["physical_id"], cluster_id);

    // The cluster runs, with workload identity and stackform's labels.
    let cluster = gcp.api.get(&cluster_id).expect("the cluster exists");
    assert_eq!(cluster["status"], "RUNNING", "{cluster}");
    assert_eq!(
        cluster["workloadIdentityConfig"]["workloadPool"],
        format!("{PROJECT}.svc.id.goog")
    );
    assert_eq!(cluster["resourceLabels"]["stackform_stack_id"], stack_id);
    // The workload pool runs as the nodes' service account, behind GKE's metadata server.
    let nodes_email = format!("sf-{suffix}-nodes@{PROJECT}.iam.gserviceaccount.com");
    let pool = gcp
        .api
        .get(&format!("{cluster_id}/nodePools/workloads"))
        .expect("the node pool exists");
    assert_eq!(pool["config"]["serviceAccount"], nodes_email, "{pool}");
    assert_eq!(
        pool["config"]["workloadMetadataConfig"]["mode"],
        "GKE_METADATA"
    );
    // The components' identity holds exactly its roles on the project.
    let access = format!("serviceAccount:sf-{suffix}-access@{PROJECT}.iam.gserviceaccount.com");
    let contents = gcp.api.contents();
    for role in ["roles/storage.objectUser", "roles/artifactregistry.writer"] {
        let binding = format!("projects/{PROJECT} iam binding {role} {access}");
        assert!(contents.contains(&binding), "{binding} in {contents:#?}");
    }
    // Only the pipelines' Kubernetes service account may act as it (workload identity).
    let access_email = format!("sf-{suffix}-access@{PROJECT}.iam.gserviceaccount.com");
    let policy = gcp
        .api
        .account_policy(&access_email)
        .expect("the access account's policy");
    assert_eq!(
        policy["bindings"],
        serde_json::json!([{
            "role": "roles/iam.workloadIdentityUser",
            "members": [format!("serviceAccount:{PROJECT}.svc.id.goog[pipelines/pipelines]")],
        }]),
        "{policy}"
    );
    let repo_id = format!("projects/{PROJECT}/locations/{REGION}/repositories/staging-{suffix}");
    let repo = gcp.api.get(&repo_id).expect("the repository exists");
    assert_eq!(repo["labels"]["stackform_address"], "registry");
    let bucket = format!("staging-artifacts-{suffix}");
    assert!(gcp.gcs.bucket(&bucket).is_some());

    // The throttled create was retried; the cluster's operation was polled until done.
    let log = gcp.api.log();
    let creates = log
        .iter()
        .filter(|l| *l == &format!("POST /v1/projects/{PROJECT}/locations/{REGION}/repositories"))
        .count();
    assert_eq!(creates, 2, "{log:#?}");
    let polls = log
        .iter()
        .filter(|l| l.starts_with("GET ") && l.contains("/operations/"))
        .count();
    assert!(
        polls >= 3 * 4,
        "each operation is polled until done: {log:#?}"
    );

    // The same template and inputs: nothing to do.
    let plan = run(
        &home,
        &gcp,
        &[
            "plan",
            "gcp",
            "--name",
            "staging",
            "--var",
            &project,
            "--var",
            location,
            "--var",
            "cluster_workloads=false",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(plan.code(), 0, "{}", plan.transcript());

    let describe = run(
        &home,
        &gcp,
        &["stack", "describe", "staging", "--output", "json"],
    );
    assert_eq!(describe.code(), 0, "{}", describe.transcript());
    let text = describe.stdout();
    assert!(
        text.contains(&format!(
            "{REGION}-docker.pkg.dev/{PROJECT}/staging-{suffix}"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("gke_{PROJECT}_{REGION}_{cluster_name}")),
        "{text}"
    );

    // Kubernetes made a network load balancer, a firewall rule and a PVC disk for the
    // cluster; someone else's rule and disk sit beside them.
    let regional = format!("projects/{PROJECT}/regions/{REGION}");
    let zonal = format!("projects/{PROJECT}/zones/{REGION}-b");
    let global = format!("projects/{PROJECT}/global");
    gcp.api.seed(
        &format!("{regional}/targetPools"),
        serde_json::json!({"name": "a1b2c3", "description": format!("{{\"kubernetes.io/service-name\":\"default/web\",\"kubernetes.io/cluster\":\"{cluster_name}\"}}")}),
    );
    gcp.api.seed(
        &format!("{regional}/forwardingRules"),
        serde_json::json!({
            "name": "a1b2c3",
            "description": format!("{{\"kubernetes.io/service-name\":\"default/web\",\"kubernetes.io/cluster\":\"{cluster_name}\"}}"),
            "target": format!("https://www.googleapis.com/compute/v1/{regional}/targetPools/a1b2c3"),
        }),
    );
    gcp.api.seed(
        &format!("{global}/firewalls"),
        serde_json::json!({"name": format!("gke-{cluster_name}-1a2b3c4d-all")}),
    );
    gcp.api.seed(
        &format!("{zonal}/disks"),
        serde_json::json!({"name": "pvc-0d1e2f", "labels": {"goog-k8s-cluster-name": cluster_name}}),
    );
    gcp.api.seed(
        &format!("{regional}/forwardingRules"),
        serde_json::json!({"name": "billing-lb", "description": "made by hand"}),
    );
    gcp.api.seed(
        &format!("{zonal}/disks"),
        serde_json::json!({"name": "scratch", "labels": {"team": "data"}}),
    );

    // A gcp connector reaches what the stack made, and `verify` asks Resource Manager which of
    // the template's permissions the identity holds.
    let region = format!("region={REGION}");
    let reg = home.register_connector(
        "gcp-ops",
        "gcp",
        &[
            "--auth-method",
            "implicit",
            "--setting",
            &project,
            "--setting",
            &region,
        ],
        "",
        &gcp.env(),
    );
    assert_eq!(reg.code(), 0, "{}", reg.transcript());
    let listed = run(
        &home,
        &gcp,
        &["connector", "list-resources", "gcp-ops", "--output", "json"],
    );
    assert_eq!(listed.code(), 0, "{}", listed.transcript());
    let found: Vec<(String, String)> = listed.json()["resources"]
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
    let artifacts = res["artifacts"]["properties"]["name"].as_str().unwrap();
    let repository = res["registry"]["physical_id"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    for want in [
        ("gcs-bucket".to_owned(), format!("gs://{artifacts}")),
        (
            "docker-registry".to_owned(),
            format!("{REGION}-docker.pkg.dev/{PROJECT}/{repository}"),
        ),
        ("kubernetes-cluster".to_owned(), cluster_name.clone()),
    ] {
        assert!(found.contains(&want), "{want:?} not in {found:?}");
    }
    let verified = run(
        &home,
        &gcp,
        &["connector", "verify", "gcp-ops", "--output", "json"],
    );
    assert_eq!(verified.code(), 0, "{}", verified.transcript());
    let v = &verified.json()["verify"];
    assert_eq!(v["template"], "gcp");
    assert!(v["actions_checked"].as_u64().unwrap() >= 10, "{v}");
    assert_eq!(v["missing_actions"], serde_json::json!([]));
    gcp.api.deny("container.clusters.create");
    // Making the pipelines' service account inside the cluster is GKE IAM's to allow too.
    gcp.api.deny("container.serviceAccounts.create");
    let refused = run(
        &home,
        &gcp,
        &["connector", "verify", "gcp-ops", "--output", "json"],
    );
    assert_eq!(refused.code(), 1, "{}", refused.transcript());
    assert_eq!(
        refused.json()["verify"]["missing_actions"],
        serde_json::json!([
            "container.clusters.create",
            "container.serviceAccounts.create"
        ])
    );
    assert!(
        gcp.api
            .log()
            .iter()
            .any(|l| l == &format!("POST /v3/projects/{PROJECT}:testIamPermissions")),
        "{:#?}",
        gcp.api.log()
    );
    assert!(
        gcp.api.unexpected().is_empty(),
        "{:#?}",
        gcp.api.unexpected()
    );
    // A connector without a region cannot list repositories, and says how to fix it.
    let reg = home.register_connector(
        "no-region",
        "gcp",
        &["--auth-method", "implicit", "--setting", &project],
        "",
        &gcp.env(),
    );
    assert_eq!(reg.code(), 0, "{}", reg.transcript());
    let refused = run(
        &home,
        &gcp,
        &[
            "connector",
            "list-resources",
            "no-region",
            "--resource-type",
            "docker-registry",
        ],
    );
    assert_eq!(refused.code(), 2, "{}", refused.transcript());
    assert!(
        refused.stderr().contains("--setting region="),
        "{}",
        refused.stderr()
    );

    let destroy = run(
        &home,
        &gcp,
        &["destroy", "staging", "--yes", "--output", "json"],
    );
    assert_eq!(destroy.code(), 0, "{}", destroy.transcript());
    let out = destroy.json();
    // The plan showed what the cluster left as found, not in state, and the census after
    // destroy found nothing of the stack.
    let found: Vec<String> = out["destroy"]["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["reason"]
                .as_str()
                .is_some_and(|r| r.ends_with("not in state"))
        })
        .map(|c| c["type"].as_str().unwrap().to_owned())
        .collect();
    for t in [
        "gcp.compute.forwarding_rule",
        "gcp.compute.target_pool",
        "gcp.compute.firewall",
        "gcp.compute.disk",
    ] {
        assert!(found.iter().any(|f| f == t), "{t} not found: {found:?}");
    }
    assert_eq!(
        found.len(),
        4,
        "only what the cluster's name marks: {found:?}"
    );
    assert_eq!(out["destroy"]["census"]["remaining"], serde_json::json!([]));
    assert!(
        gcp.api.unexpected().is_empty(),
        "{:#?}",
        gcp.api.unexpected()
    );

    // Census of both servers: nothing of the stack is left, what others made is untouched.
    let left: Vec<String> = gcp
        .api
        .contents()
        .into_iter()
        .filter(|c| c.contains(&suffix) || c.contains("a1b2c3") || c.contains("pvc-0d1e2f"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:#?}");
    let contents = gcp.api.contents();
    assert!(
        contents.contains(&format!("{regional}/forwardingRules/billing-lb")),
        "{contents:#?}"
    );
    assert!(
        contents.contains(&format!("{zonal}/disks/scratch")),
        "{contents:#?}"
    );
    assert!(gcp.gcs.bucket(&bucket).is_none(), "the bucket is gone");
    assert!(!home.path("stacks/staging/state.json").exists());

    // Order: the cluster before what it made, a forwarding rule before its target pool.
    let log = gcp.api.log();
    let cluster_delete = position(&log, "DELETE", &format!("/clusters/{cluster_name}"));
    let rule = position(&log, "DELETE", "/forwardingRules/a1b2c3");
    let target = position(&log, "DELETE", "/targetPools/a1b2c3");
    let disk = position(&log, "DELETE", "/disks/pvc-0d1e2f");
    assert!(cluster_delete < rule && rule < target, "{log:#?}");
    assert!(cluster_delete < disk, "{log:#?}");
    // The census looked for what carries the stack's marks after everything was deleted.
    for listing in [
        format!("GET /v1/projects/{PROJECT}/locations/-/clusters"),
        format!("GET /v1/projects/{PROJECT}/locations/{REGION}/repositories"),
        format!("GET /v1/projects/{PROJECT}/serviceAccounts"),
    ] {
        let last = log.iter().rposition(|l| *l == listing);
        assert!(
            last.is_some_and(|i| i > target),
            "{listing} after the deletes: {log:#?}"
        );
    }
}

#[test]
fn gke_failures_are_recovered_and_node_pools_resize_in_place() {
    let gcp = Gcp::start();
    // Someone else changes the project's IAM policy between our read and our write, and GKE
    // runs out of quota creating the workloads' pool.
    gcp.api.fail_next("POST", ":setIamPolicy", 409, 1);
    gcp.api.fail_operation(
        "CREATE_NODE_POOL",
        "Insufficient regional quota to satisfy request: resource \"CPUS\"",
    );
    let home = Home::new();
    let project = format!("project={PROJECT}");
    let location = "artifact_location=US-CENTRAL1";
    let deploy = |extra: &[&str]| {
        let mut args = vec![
            "deploy",
            "gcp",
            "--name",
            "dev",
            "--var",
            &project,
            "--var",
            location,
            "--var",
            "cluster_workloads=false",
            "--yes",
        ];
        args.extend(extra);
        run(&home, &gcp, &args)
    };
    let failed = deploy(&[]);
    assert_ne!(failed.code(), 0, "{}", failed.transcript());
    assert!(
        failed.stderr().contains("Insufficient regional quota")
            && failed.stderr().contains("nodes"),
        "the error names the cause and the resource: {}",
        failed.stderr()
    );
    let suffix = home.state("dev")["stack"]["suffix"]
        .as_str()
        .unwrap()
        .to_owned();
    let pool_id =
        format!("projects/{PROJECT}/locations/{REGION}/clusters/dev-{suffix}/nodePools/workloads");
    assert_eq!(gcp.api.get(&pool_id).unwrap()["status"], "ERROR");
    // Both IAM members were written despite the conflict (read again, written again).
    let contents = gcp.api.contents();
    let bindings = contents
        .iter()
        .filter(|c| c.starts_with(&format!("projects/{PROJECT} iam binding ")))
        .count();
    assert_eq!(bindings, 4, "{contents:#?}");

    // The next deploy replaces the failed pool and converges.
    let again = deploy(&[]);
    assert_eq!(again.code(), 0, "{}", again.transcript());
    let pool = gcp.api.get(&pool_id).unwrap();
    assert_eq!(pool["status"], "RUNNING", "{pool}");
    let log = gcp.api.log();
    assert!(
        log.iter().any(|l| l == &format!("DELETE /v1/{pool_id}")),
        "the failed pool was deleted first: {log:#?}"
    );

    // More nodes: resized in place, the cluster untouched.
    let before = gcp.api.log().len();
    let resized = deploy(&["--var", "node_count=3", "--output", "json"]);
    assert_eq!(resized.code(), 0, "{}", resized.transcript());
    let summary = &resized.json()["deploy"]["plan"]["summary"];
    assert_eq!(summary["change"], 1, "{summary}");
    assert_eq!(summary["replace"], 0, "{summary}");
    assert_eq!(gcp.api.get(&pool_id).unwrap()["initialNodeCount"], 3);
    let calls = gcp.api.log()[before..].to_vec();
    assert!(
        calls
            .iter()
            .any(|l| l == &format!("POST /v1/{pool_id}:setSize")),
        "{calls:#?}"
    );
    assert!(!calls.iter().any(|l| l.starts_with("DELETE")), "{calls:#?}");
    assert!(
        gcp.api.unexpected().is_empty(),
        "{:#?}",
        gcp.api.unexpected()
    );

    let destroy = run(&home, &gcp, &["destroy", "dev", "--yes"]);
    assert_eq!(destroy.code(), 0, "{}", destroy.transcript());
    let left: Vec<String> = gcp
        .api
        .contents()
        .into_iter()
        .filter(|c| c.contains(&suffix))
        .collect();
    assert!(left.is_empty(), "left behind: {left:#?}");
}

/// The identity in `tests/fixtures/gcp-test-service-account.json`: a key made for these tests
/// (`openssl genpkey -algorithm RSA`), valid nowhere.
const DEPLOYER: &str = "deployer@sf-contract-1.iam.gserviceaccount.com";

#[test]
fn a_gcp_stack_deploys_and_registers_through_a_service_account_connector() {
    let gcp = Gcp::start();
    gcp.api.set_polls(0);
    let home = Home::new();
    let key = crate::harness::repo_root().join("tests/fixtures/gcp-test-service-account.json");
    let key_file = format!("service_account_json={}", key.display());
    let project = format!("project={PROJECT}");
    let region = format!("region={REGION}");
    let reg = home.register_connector(
        "deployer",
        "gcp",
        &[
            "--auth-method",
            "service-account-key",
            "--from-file",
            &key_file,
            "--setting",
            &project,
            "--setting",
            &region,
        ],
        "",
        &gcp.env(),
    );
    assert_eq!(reg.code(), 0, "{}", reg.transcript());
    // From here on the contract server answers the deployer's identity only, as Google answers
    // nobody else on a project that grants only it.
    gcp.api.allow_only(DEPLOYER);
    let deploy = run(
        &home,
        &gcp,
        &[
            "deploy",
            "gcp",
            "--name",
            "staging",
            "--var",
            &project,
            "--var",
            "artifact_location=US-CENTRAL1",
            "--connector",
            "deployer",
            "--yes",
        ],
    );
    assert_eq!(deploy.code(), 0, "{}", deploy.transcript());
    let requests = gcp.api.requests();
    assert!(requests.len() >= 4, "{requests:#?}");
    for r in &requests {
        assert_eq!(
            r.caller.as_deref(),
            Some(DEPLOYER),
            "{} {} was not signed by the connector's key",
            r.method,
            r.path
        );
    }
    let state = home.state("staging");
    assert_eq!(state["providers"]["gcp"]["connector"], "deployer");
    // The key is in the secret store only: no byte of it in the state or the output.
    let pem = serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&key).unwrap())
        .unwrap()["private_key"]
        .as_str()
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    assert!(!state.to_string().contains(&pem));
    assert!(!deploy.transcript().contains(&pem));

    // Inside the cluster (its API server, signed in to with the deployer's Google token): the
    // pipelines' namespace, and their Kubernetes service account annotated with the access
    // account it may act as; the orchestrator names both.
    let suffix = state["stack"]["suffix"].as_str().unwrap().to_owned();
    let stack_id = state["stack"]["id"].as_str().unwrap().to_owned();
    let cluster_api = gcp.kube.cluster(&format!("staging-{suffix}"));
    let namespace = cluster_api
        .object("namespaces", "", "pipelines")
        .expect("the pipelines namespace");
    assert_eq!(
        namespace["metadata"]["labels"]["stackform.dev/stack-id"],
        stack_id.as_str()
    );
    let access_email = format!("sf-{suffix}-access@{PROJECT}.iam.gserviceaccount.com");
    let ksa = cluster_api
        .object("serviceaccounts", "pipelines", "pipelines")
        .expect("the pipelines service account");
    assert_eq!(
        ksa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"],
        access_email.as_str(),
        "{ksa}"
    );
    crate::suites::kubernetes::validate_applied(&cluster_api, &home);
    let policy = gcp.api.account_policy(&access_email).unwrap();
    assert_eq!(
        policy["bindings"][0]["members"],
        serde_json::json!([format!(
            "serviceAccount:{PROJECT}.svc.id.goog[pipelines/pipelines]"
        )])
    );
    let orchestrator = component(&state, "orchestrator");
    assert_eq!(
        orchestrator["configuration"]["kubernetes_namespace"],
        "pipelines"
    );
    assert_eq!(
        orchestrator["configuration"]["service_account_name"],
        "pipelines"
    );
    assert_eq!(state["providers"]["kubernetes"]["connector"], "deployer");
    // A pipeline's LoadBalancer Service (made with kubectl): GKE's controller gives it a
    // forwarding rule, a target pool and a firewall rule that name the Service, not the cluster.
    let web = cluster_api.put_load_balancer("default", "web");
    let address = web["status"]["loadBalancer"]["ingress"][0]["ip"]
        .as_str()
        .expect("an address")
        .to_owned();
    let load_balancer = || -> Vec<String> {
        gcp.api
            .contents()
            .into_iter()
            .filter(|c| {
                c.contains("/forwardingRules/a")
                    || c.contains("/targetPools/a")
                    || c.contains("k8s-fw-a")
            })
            .collect()
    };
    assert_eq!(
        load_balancer().len(),
        3,
        "{address}: {:#?}",
        gcp.api.contents()
    );
    // A database's claim, mounted by its pod: deleting it waits for the pod, which goes only
    // with the nodes, after the drain.
    cluster_api.put_foreign(
        "persistentvolumeclaims",
        "default",
        serde_json::json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "db", "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }),
    );
    cluster_api.put_foreign(
        "pods",
        "default",
        serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "db-0", "namespace": "default"},
            "spec": {
                "containers": [{"name": "db", "image": "postgres:16", "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}]}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "db"}}],
            },
        }),
    );
    // A node pool replaced under the running cluster (another machine type) leaves the
    // cluster's workloads alone: only a cluster that goes is drained.
    let replaced = run(
        &home,
        &gcp,
        &[
            "deploy",
            "gcp",
            "--name",
            "staging",
            "--var",
            &project,
            "--var",
            "artifact_location=US-CENTRAL1",
            "--var",
            "node_machine_type=e2-standard-8",
            "--yes",
            "--output",
            "json",
        ],
    );
    assert_eq!(replaced.code(), 0, "{}", replaced.transcript());
    assert_eq!(
        replaced.json()["deploy"]["plan"]["summary"]["replace"],
        1,
        "{}",
        replaced.stdout()
    );
    assert!(cluster_api.object("services", "default", "web").is_some());
    assert_eq!(cluster_api.deletes(), vec![]);
    assert_eq!(load_balancer().len(), 3);

    // `connector login` writes a kubeconfig for the cluster whose user asks stackform for a
    // fresh token each time, and a docker login for the registry; both carry the connector's
    // identity.
    let res = &state["resources"];
    let cluster_id = res["cluster"]["physical_id"].as_str().unwrap().to_owned();
    let cluster_name = cluster_id.rsplit('/').next().unwrap().to_owned();
    let login = run(
        &home,
        &gcp,
        &[
            "connector",
            "login",
            "deployer",
            "--resource-type",
            "kubernetes-cluster",
            "--resource-id",
            &cluster_name,
        ],
    );
    assert_eq!(login.code(), 0, "{}", login.transcript());
    let kube_path = home.path(&format!("logins/deployer/kube/{cluster_name}.json"));
    assert_private(&kube_path);
    let kube: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&kube_path).unwrap()).unwrap();
    let cluster = gcp.api.get(&cluster_id).unwrap();
    let entry = &kube["clusters"][0]["cluster"];
    assert_eq!(
        entry["server"],
        format!("https://{}", cluster["endpoint"].as_str().unwrap())
    );
    assert!(
        entry["certificate-authority-data"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{kube}"
    );
    assert_eq!(
        entry["certificate-authority-data"],
        cluster["masterAuth"]["clusterCaCertificate"]
    );
    let context = format!("gke_{PROJECT}_{REGION}_{cluster_name}");
    assert_eq!(kube["current-context"], context);
    let exec = &kube["users"][0]["user"]["exec"];
    assert_eq!(
        exec["args"],
        serde_json::json!(["connector", "token", "deployer", "--cluster", cluster_name])
    );
    let token = run(
        &home,
        &gcp,
        &["connector", "token", "deployer", "--cluster", &cluster_name],
    );
    assert_eq!(token.code(), 0, "{}", token.transcript());
    let credential: serde_json::Value = serde_json::from_str(&token.stdout()).unwrap();
    assert_eq!(credential["kind"], "ExecCredential");
    assert_eq!(
        issuer(credential["status"]["token"].as_str().unwrap()),
        DEPLOYER
    );
    assert!(credential["status"]["expirationTimestamp"].is_string());
    let docker = run(
        &home,
        &gcp,
        &[
            "connector",
            "login",
            "deployer",
            "--resource-type",
            "docker-registry",
        ],
    );
    assert_eq!(docker.code(), 0, "{}", docker.transcript());
    let docker_path = home.path("logins/deployer/docker/config.json");
    assert_private(&docker_path);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&docker_path).unwrap()).unwrap();
    let (user, password) = docker_auth(&config, &format!("{REGION}-docker.pkg.dev"));
    assert_eq!(user, "oauth2accesstoken");
    assert_eq!(issuer(&password), DEPLOYER);

    // What the stack made is registered as another stack's external components, looked up
    // through the same connector.
    let bucket = res["artifacts"]["physical_id"].as_str().unwrap().to_owned();
    let repo_uri = res["registry"]["outputs"]["uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = gcp.api.requests().len();
    let store = format!("gs://{bucket}");
    let registered = home.register_stack(
        "existing",
        "deployer",
        &[
            "--artifact-store",
            &store,
            "--container-registry",
            &repo_uri,
        ],
        &gcp.env(),
    );
    assert_eq!(registered.code(), 0, "{}", registered.transcript());
    let looked_up = gcp.api.requests()[before..].to_vec();
    assert!(
        looked_up.iter().any(|r| r.method == "GET"
            && r.path.ends_with(&format!(
                "/repositories/{}",
                repo_uri.rsplit('/').next().unwrap()
            ))
            && r.caller.as_deref() == Some(DEPLOYER)),
        "{looked_up:#?}"
    );
    let existing = home.state("existing");
    let r = &existing["resources"];
    assert_eq!(r["artifact_store"]["type"], "gcp.storage.bucket", "{r}");
    assert_eq!(r["artifact_store"]["found"]["external"], true);
    assert_eq!(
        r["container_registry"]["type"],
        "gcp.artifactregistry.repository"
    );
    let store_component = component(&existing, "artifact_store");
    assert_eq!(store_component["flavor"], "gcp");
    assert_eq!(store_component["configuration"]["path"], store);
    let registry_component = component(&existing, "container_registry");
    assert_eq!(registry_component["configuration"]["uri"], repo_uri);

    // A repository the connector cannot find is an error naming it, and registers nothing.
    let missing = format!("{REGION}-docker.pkg.dev/{PROJECT}/no-such-repo");
    let refused = home.register_stack(
        "ghost",
        "deployer",
        &["--container-registry", &missing],
        &gcp.env(),
    );
    assert_eq!(refused.code(), 2, "{}", refused.transcript());
    assert!(refused.stderr().contains(&missing), "{}", refused.stderr());
    assert!(!home.path("stacks/ghost/state.json").exists());
    // An s3:// store is not something a gcp connector reaches.
    let wrong = home.register_stack(
        "ghost",
        "deployer",
        &["--artifact-store", "s3://elsewhere"],
        &gcp.env(),
    );
    assert_eq!(wrong.code(), 2, "{}", wrong.transcript());
    assert!(wrong.stderr().contains("gs://"), "{}", wrong.stderr());

    // `--discover` takes each component from what the connector lists: here one of each.
    let discovered = home.register_stack("found", "deployer", &["--discover"], &gcp.env());
    assert_eq!(discovered.code(), 0, "{}", discovered.transcript());
    let found = home.state("found");
    assert_eq!(
        found["resources"]["artifact_store"]["physical_id"],
        bucket.as_str()
    );
    assert_eq!(
        found["resources"]["orchestrator"]["physical_id"],
        cluster_id.as_str()
    );
    assert_eq!(
        found["resources"]["container_registry"]["physical_id"],
        res["registry"]["physical_id"]
    );
    let orchestrator = component(&found, "orchestrator");
    assert_eq!(
        orchestrator["configuration"]["kubernetes_context"],
        context.as_str()
    );
    let gone = run(&home, &gcp, &["destroy", "found", "--yes"]);
    assert_eq!(gone.code(), 0, "{}", gone.transcript());
    assert!(gcp.api.get(&cluster_id).is_some());

    // Destroying the registered stack deregisters; the resources stay.
    let gone = run(&home, &gcp, &["destroy", "existing", "--yes"]);
    assert_eq!(gone.code(), 0, "{}", gone.transcript());
    assert!(gcp.gcs.bucket(&bucket).is_some());
    let repo_id = res["registry"]["physical_id"].as_str().unwrap();
    assert!(gcp.api.get(repo_id).is_some());

    // The stack's own destroy goes through the connector its state records. It drains the
    // cluster first: the Service deleted (foreground) and with it, by GKE's controller, its
    // load balancer, which nothing after the cluster could have found.
    let destroy = run(
        &home,
        &gcp,
        &["destroy", "staging", "--yes", "--output", "json"],
    );
    assert_eq!(destroy.code(), 0, "{}", destroy.transcript());
    assert!(gcp.api.get(repo_id).is_none());
    assert!(gcp.gcs.bucket(&bucket).is_none());
    assert!(
        cluster_api
            .deletes()
            .iter()
            .any(|(path, policy)| path == "services/default/web"
                && policy.as_deref() == Some("Foreground")),
        "{:?}",
        cluster_api.deletes()
    );
    assert_eq!(cluster_api.object("services", "default", "web"), None);
    assert_eq!(load_balancer(), Vec::<String>::new());
    // The mounted claim was deleted and left to go with its pod, with a warning, not waited
    // for to the drain's bound.
    assert!(
        cluster_api
            .deletes()
            .iter()
            .any(|(path, _)| path == "persistentvolumeclaims/default/db"),
        "{:?}",
        cluster_api.deletes()
    );
    assert!(
        destroy
            .transcript()
            .contains("1 still used by pods (persistentvolumeclaims/default/db)"),
        "{}",
        destroy.transcript()
    );
    let claim_deletes = cluster_api
        .log()
        .iter()
        .filter(|l| l.starts_with("GET ") && l.contains("/api/v1/persistentvolumeclaims?"))
        .count();
    // A few passes wait for the Service's load balancer; waiting on the claim would take the
    // drain's whole bound (32 passes) for the pool and again for the cluster.
    assert!(
        claim_deletes < 16,
        "the drain waited on the held claim: {claim_deletes} passes"
    );
    assert_eq!(cluster_api.object("namespaces", "", "pipelines"), None);
    assert_eq!(
        destroy.json()["destroy"]["census"]["remaining"],
        serde_json::json!([])
    );
    assert!(
        !destroy.transcript().contains("was not drained"),
        "{}",
        destroy.transcript()
    );
    for r in gcp.api.requests() {
        assert_eq!(
            r.caller.as_deref(),
            Some(DEPLOYER),
            "{} {}",
            r.method,
            r.path
        );
    }
    assert!(
        gcp.api.unexpected().is_empty(),
        "{:#?}",
        gcp.api.unexpected()
    );

    // A connector whose key is not a key fails the deploy before anything is made, naming the
    // connector and the fix, without echoing what it holds.
    let bad = home.write("bad-key.json", "not json, and secret-ish: hunter2\n");
    let bad_file = format!("service_account_json={bad}");
    let reg = home.register_connector(
        "broken",
        "gcp",
        &[
            "--auth-method",
            "service-account-key",
            "--from-file",
            &bad_file,
            "--setting",
            &project,
        ],
        "",
        &gcp.env(),
    );
    assert_eq!(reg.code(), 0, "{}", reg.transcript());
    let failed = run(
        &home,
        &gcp,
        &[
            "deploy",
            "gcp",
            "--name",
            "broken",
            "--var",
            &project,
            "--var",
            "orchestrator=none",
            "--connector",
            "broken",
            "--yes",
        ],
    );
    assert_ne!(failed.code(), 0, "{}", failed.transcript());
    assert!(
        failed.stderr().contains("is not JSON"),
        "{}",
        failed.stderr()
    );
    assert!(!failed.transcript().contains("hunter2"));
}

/// The `iss` of a JWT (the identity a service account key's token names).
fn issuer(jwt: &str) -> String {
    use base64::Engine as _;
    let claims = jwt.split('.').nth(1).expect("a JWT");
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims.trim_end_matches('='))
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(&claims).unwrap()["iss"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A credential file is readable by its owner only.
fn assert_private(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", path.display());
}
