//! The Azure stack (`templates/azure.yaml`) through the real binary, against the loopback ARM
//! contract server (`arm_api`, TLS with a test CA the binary is told to trust): ARM has no
//! emulator.
//!
//! What a user checks: one deploy makes the resource group, storage account and container,
//! registry, AKS cluster and the kubelet identity's role assignments; a second plan is empty;
//! destroy deletes it all, waits until AKS's node resource group is gone too, and a census of
//! the server shows nothing of the stack.

use crate::harness::{Home, component, docker_auth, physical_id};

const SUBSCRIPTION: &str = "5c2a7e61-0000-4000-8000-00000000c0de";

fn env(arm: &crate::contract::arm_api::ArmApi) -> Vec<(&'static str, String)> {
    vec![
        ("STACKFORM_AZURE_ARM_ENDPOINT", arm.url.clone()),
        (
            "STACKFORM_AZURE_CA_FILE",
            crate::contract::arm_api::ca_file().display().to_string(),
        ),
        // The contract server finishes operations after a few polls; no need to wait seconds.
        ("STACKFORM_AZURE_POLL_MS", "20".into()),
    ]
}

fn run(home: &Home, arm: &crate::contract::arm_api::ArmApi, args: &[&str]) -> crate::harness::Run {
    let env = env(arm);
    home.run_with(args, &env)
}

fn position(log: &[String], method: &str, needle: &str) -> usize {
    log.iter()
        .position(|l| l.starts_with(method) && l.to_lowercase().contains(&needle.to_lowercase()))
        .unwrap_or_else(|| panic!("no {method} ...{needle} in {log:#?}"))
}

#[test]
fn an_azure_stack_is_deployed_and_destroyed_leaving_nothing() {
    let arm = crate::contract::arm_api::start();
    arm.set_polls(3);
    // ARM throttles the cluster's PUT once: the pipeline waits as Retry-After says and retries.
    arm.fail_next("PUT", "/managedClusters/", 429, 1);
    let home = Home::new();
    let subscription = format!("subscription_id={SUBSCRIPTION}");
    let deploy = run(
        &home,
        &arm,
        &[
            "deploy",
            "azure",
            "--name",
            "staging",
            "--var",
            &subscription,
            // The environment's sign-in is a fixed token on a loopback ARM, which no cluster
            // takes: the in-cluster objects are the connector test's.
            "--var",
            "cluster_workloads=false",
            "--yes",
        ],
    );
    assert_eq!(deploy.code(), 0, "{}", deploy.transcript());
    assert!(arm.unexpected().is_empty(), "{:#?}", arm.unexpected());

    let state = home.state("staging");
    let suffix = state["stack"]["suffix"].as_str().unwrap().to_owned();
    let res = &state["resources"];
    let group = format!("/subscriptions/{SUBSCRIPTION}/resourcegroups/staging-{suffix}");
    assert_eq!(res["group"]["physical_id"], group);
    let cluster_id = res["cluster"]["physical_id"].as_str().unwrap().to_owned();
    let cluster = arm.get(&cluster_id).expect("the cluster exists");
    assert_eq!(
        cluster["properties"]["provisioningState"], "Succeeded",
        "{cluster}"
    );
    assert_eq!(
        cluster["properties"]["securityProfile"]["workloadIdentity"]["enabled"],
        true
    );
    assert_eq!(cluster["identity"]["type"], "SystemAssigned");
    // Entra ID sign-in, Azure RBAC inside the cluster.
    assert_eq!(cluster["properties"]["aadProfile"]["managed"], true);
    assert_eq!(cluster["properties"]["aadProfile"]["enableAzureRBAC"], true);
    assert_eq!(cluster["tags"]["stackform:address"], "cluster");
    let node_group = cluster["properties"]["nodeResourceGroup"]
        .as_str()
        .unwrap()
        .to_owned();
    let kubelet = cluster["properties"]["identityProfile"]["kubeletidentity"]["objectId"]
        .as_str()
        .unwrap()
        .to_owned();

    // The storage account is private and TLS 1.2 only; its container carries the marks.
    let account = arm
        .get(res["storage"]["physical_id"].as_str().unwrap())
        .expect("the storage account exists");
    assert_eq!(
        res["storage"]["physical_id"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap(),
        format!("sfstaging{suffix}")
    );
    assert_eq!(
        account["properties"]["allowBlobPublicAccess"], false,
        "{account}"
    );
    assert_eq!(account["properties"]["minimumTlsVersion"], "TLS1_2");
    let container = arm
        .get(res["artifacts"]["physical_id"].as_str().unwrap())
        .expect("the container exists");
    assert_eq!(container["properties"]["publicAccess"], "None");
    assert_eq!(
        container["properties"]["metadata"]["stackform_stack_id"],
        state["stack"]["id"]
    );
    let registry = arm
        .get(res["registry"]["physical_id"].as_str().unwrap())
        .expect("the registry exists");
    assert_eq!(registry["properties"]["adminUserEnabled"], false);

    // The kubelet identity (every pod on a node shares it) may pull images and nothing more;
    // the pipelines' own identity may use the artifacts and push images.
    let identity = arm
        .get(res["pipelines_identity"]["physical_id"].as_str().unwrap())
        .expect("the pipelines' identity exists");
    let pipelines = identity["properties"]["principalId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut granted: Vec<(String, String)> = arm
        .contents()
        .into_iter()
        .filter(|id| id.contains("/roleassignments/"))
        .filter_map(|id| arm.get(&id))
        .map(|a| {
            let role = a["properties"]["roleDefinitionId"].as_str().unwrap();
            let who = a["properties"]["principalId"].as_str().unwrap();
            let who = if who == kubelet {
                "kubelet"
            } else if who == pipelines {
                "pipelines"
            } else if who == crate::contract::arm_api::LOOPBACK_PRINCIPAL {
                "deployer"
            } else {
                who
            };
            (who.to_owned(), role.rsplit('/').next().unwrap().to_owned())
        })
        .collect();
    granted.sort();
    assert_eq!(
        granted,
        [
            // Azure Kubernetes Service RBAC Cluster Admin, on the stack's group.
            ("deployer", "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"),
            ("kubelet", "7f951dda-4ed3-4680-a7ca-43fe172d538d"),
            ("pipelines", "8311e382-0749-4cb8-b61a-304f252e45ec"),
            ("pipelines", "ba92f5b4-2d11-453d-a403-e96b0029c9fe"),
        ]
        .map(|(w, r)| (w.to_owned(), r.to_owned()))
    );
    // Only the `pipelines` service account's tokens from this cluster's issuer may act as it.
    let federation = arm
        .get(res["pipelines_federation"]["physical_id"].as_str().unwrap())
        .expect("the federated credential exists");
    assert_eq!(
        federation["properties"]["issuer"],
        cluster["properties"]["oidcIssuerProfile"]["issuerURL"]
    );
    assert_eq!(
        federation["properties"]["subject"],
        "system:serviceaccount:pipelines:pipelines"
    );
    assert_eq!(
        federation["properties"]["audiences"],
        serde_json::json!(["api://AzureADTokenExchange"])
    );

    // The throttled PUT was sent again; operations were polled until done.
    let log = arm.log();
    let puts = log
        .iter()
        .filter(|l| l.starts_with("PUT") && l.contains("/managedClusters/"))
        .count();
    assert_eq!(puts, 2, "{log:#?}");
    let polls = log
        .iter()
        .filter(|l| {
            l.starts_with("GET") && (l.contains("/operations/") || l.contains("/operationResults/"))
        })
        .count();
    assert!(
        polls >= 3 * 3,
        "each operation is polled until done: {log:#?}"
    );

    let plan = run(
        &home,
        &arm,
        &[
            "plan",
            "azure",
            "--name",
            "staging",
            "--var",
            &subscription,
            "--var",
            "cluster_workloads=false",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(plan.code(), 0, "{}", plan.transcript());
    let describe = run(&home, &arm, &["stack", "describe", "staging"]);
    assert_eq!(describe.code(), 0, "{}", describe.transcript());
    assert!(
        describe
            .stdout()
            .contains(&format!("sfstaging{suffix}.azurecr.io")),
        "{}",
        describe.stdout()
    );

    let destroy = run(
        &home,
        &arm,
        &["destroy", "staging", "--yes", "--output", "json"],
    );
    assert_eq!(destroy.code(), 0, "{}", destroy.transcript());
    assert_eq!(
        destroy.json()["destroy"]["census"]["remaining"],
        serde_json::json!([])
    );
    assert!(arm.unexpected().is_empty(), "{:#?}", arm.unexpected());
    let left: Vec<String> = arm
        .contents()
        .into_iter()
        .filter(|c| c.contains(&suffix) || c.contains(&node_group.to_lowercase()))
        .collect();
    assert!(left.is_empty(), "left behind: {left:#?}");
    assert!(!home.path("stacks/staging/state.json").exists());

    // Role assignments and the cluster before the group; the node group was watched go.
    let log = arm.log();
    let cluster_delete = position(&log, "DELETE", "/managedClusters/");
    let group_delete = log
        .iter()
        .rposition(|l| {
            l.starts_with("DELETE")
                && l.to_lowercase()
                    .ends_with(&format!("/resourcegroups/staging-{suffix}"))
        })
        .expect("the group was deleted");
    assert!(cluster_delete < group_delete, "{log:#?}");
    let watched = log.iter().any(|l| {
        l.starts_with("GET")
            && l.to_lowercase()
                .ends_with(&format!("/resourcegroups/{}", node_group.to_lowercase()))
    });
    assert!(
        watched,
        "destroy confirmed the node resource group is gone: {log:#?}"
    );
}

#[test]
fn aks_failures_are_recovered_and_clusters_scale_in_place() {
    let arm = crate::contract::arm_api::start();
    // AKS runs out of quota creating the cluster; the first storage account name is taken.
    arm.fail_operation(
        "Microsoft.ContainerService/managedClusters/write",
        "QuotaExceeded: Operation could not be completed as it results in exceeding approved standardDSv5Family Cores quota",
    );
    arm.fail_next("PUT", "/storageAccounts/", 409, 1);
    let home = Home::new();
    let subscription = format!("subscription_id={SUBSCRIPTION}");
    let deploy = |extra: &[&str]| {
        let mut args = vec![
            "deploy",
            "azure",
            "--name",
            "dev",
            "--var",
            &subscription,
            "--var",
            "cluster_workloads=false",
            "--yes",
        ];
        args.extend(extra);
        run(&home, &arm, &args)
    };
    let failed = deploy(&[]);
    assert_ne!(failed.code(), 0, "{}", failed.transcript());
    let err = failed.stderr();
    assert!(
        err.contains("QuotaExceeded") && err.contains("cluster"),
        "{err}"
    );
    assert!(
        err.contains("names are global"),
        "a taken name says what to do: {err}"
    );

    // The next deploy converges: the failed cluster is provisioned again, the account made.
    let again = deploy(&[]);
    assert_eq!(again.code(), 0, "{}", again.transcript());
    let state = home.state("dev");
    let cluster_id = physical_id(&state, "cluster");
    let cluster = arm.get(&cluster_id).unwrap();
    assert_eq!(
        cluster["properties"]["provisioningState"], "Succeeded",
        "{cluster}"
    );
    assert!(arm.unexpected().is_empty(), "{:#?}", arm.unexpected());

    // More nodes: the cluster is updated in place, nothing deleted.
    let before = arm.log().len();
    let scaled = deploy(&["--var", "node_count=3", "--output", "json"]);
    assert_eq!(scaled.code(), 0, "{}", scaled.transcript());
    let summary = &scaled.json()["deploy"]["plan"]["summary"];
    assert_eq!(summary["change"], 1, "{summary}");
    assert_eq!(summary["replace"], 0, "{summary}");
    let cluster = arm.get(&cluster_id).unwrap();
    assert_eq!(
        cluster["properties"]["agentPoolProfiles"][0]["count"], 3,
        "{cluster}"
    );
    let calls = arm.log()[before..].to_vec();
    assert!(!calls.iter().any(|l| l.starts_with("DELETE")), "{calls:#?}");

    let destroy = run(&home, &arm, &["destroy", "dev", "--yes"]);
    assert_eq!(destroy.code(), 0, "{}", destroy.transcript());
    let suffix = state["stack"]["suffix"].as_str().unwrap();
    let left: Vec<String> = arm
        .contents()
        .into_iter()
        .filter(|c| {
            c.contains(suffix)
                || c.starts_with(&format!("/subscriptions/{SUBSCRIPTION}/resourcegroups/mc_"))
        })
        .collect();
    assert!(left.is_empty(), "left behind: {left:#?}");
}

/// The scope a token for AKS's API servers is asked for (its server application).
const AKS_SCOPE: &str = "6dae42f8-4368-4678-94ff-3960e28e3630/.default";

/// A service principal registered in the contract server's tenant (`arm_api::TENANT`).
const CLIENT_ID: &str = "3f1d2c4b-6a7e-4f80-9b1c-2d3e4f5a6b7c";
const CLIENT_SECRET: &str = "sp-secret~never-in-a-file";

#[test]
fn a_service_principal_connector_is_verified_and_deploys_the_stack_as_itself() {
    let arm = crate::contract::arm_api::start();
    arm.set_polls(0);
    arm.add_app(CLIENT_ID, CLIENT_SECRET);
    let home = Home::new();
    // Entra ID is the contract server too: the service principal signs in there, never at
    // login.microsoftonline.com.
    let mut env = env(&arm);
    env.push(("AZURE_AUTHORITY_HOST", arm.url.clone()));
    // And the registries' token exchange.
    env.push(("STACKFORM_AZURE_ACR_ENDPOINT", arm.url.clone()));
    // The cluster's API server takes Entra ID tokens issued for AKS's server application to
    // the principal, if Azure RBAC makes it the cluster's admin (the stack gives it that role),
    // and AKS's service controller makes public addresses on the server.
    let arm_tokens = arm.clone();
    let kube = crate::contract::kube_api::start_aks_with(
        std::sync::Arc::new(move |token: &str, cluster: &str| {
            arm_tokens.token_owner_for(token, AKS_SCOPE).as_deref() == Some(CLIENT_ID)
                && arm_tokens.may_admin_cluster(token, cluster)
        }),
        Some(arm.service_controller()),
    );
    env.push(("STACKFORM_KUBERNETES_ENDPOINT", kube.endpoint_per_cluster()));
    // The application's connector, with `more` settings after its identity's.
    let register = |name: &str, secret: &str, more: &[&str]| {
        let tenant = format!("tenant_id={}", crate::contract::arm_api::TENANT);
        let client = format!("client_id={CLIENT_ID}");
        let subscription = format!("subscription_id={SUBSCRIPTION}");
        let mut args = vec![
            "--auth-method",
            "service-principal",
            "--setting",
            &tenant,
            "--setting",
            &client,
            "--setting",
            &subscription,
        ];
        args.extend_from_slice(more);
        let secret = format!("client_secret={secret}\n");
        home.register_connector(name, "azure", &args, &secret, &env)
    };
    let reg = register("platform", CLIENT_SECRET, &[]);
    assert_eq!(reg.code(), 0, "{}", reg.transcript());
    arm.allow_only(CLIENT_ID);

    // verify signs in and asks ARM which of the template's actions the principal may do.
    let verified = home.run_with(
        &["connector", "verify", "platform", "--output", "json"],
        &env,
    );
    assert_eq!(verified.code(), 0, "{}", verified.transcript());
    let v = &verified.json()["verify"];
    assert_eq!(v["template"], "azure");
    assert!(v["actions_checked"].as_u64().unwrap() >= 10, "{v}");
    assert_eq!(v["missing_actions"], serde_json::json!([]));
    arm.deny_action("Microsoft.ContainerService/managedClusters/write");
    let refused = home.run_with(
        &["connector", "verify", "platform", "--output", "json"],
        &env,
    );
    assert_eq!(refused.code(), 1, "{}", refused.transcript());
    assert_eq!(
        refused.json()["verify"]["missing_actions"],
        serde_json::json!(["Microsoft.ContainerService/managedClusters/write"])
    );
    assert!(
        arm.log().iter().any(|l| l
            .to_lowercase()
            .ends_with("/providers/microsoft.authorization/permissions")),
        "{:#?}",
        arm.log()
    );
    // A wrong secret is refused by Entra ID, and the command says which connector to fix.
    let stale = register("stale", "not-the-secret", &[]);
    assert_eq!(stale.code(), 0, "{}", stale.transcript());
    let wrong = home.run_with(&["connector", "verify", "stale"], &env);
    assert_eq!(wrong.code(), 1, "{}", wrong.transcript());
    assert!(
        wrong.stderr().contains("AADSTS7000215"),
        "{}",
        wrong.stderr()
    );
    assert!(wrong.stderr().contains("stale"), "{}", wrong.stderr());
    assert!(!wrong.transcript().contains("not-the-secret"));

    // The stack is deployed and destroyed with the principal's tokens on every ARM call.
    let before = arm.requests().len();
    let deploy = home.run_with(
        &[
            "deploy",
            "azure",
            "--name",
            "staging",
            "--connector",
            "platform",
            "--yes",
        ],
        &env,
    );
    assert_eq!(deploy.code(), 0, "{}", deploy.transcript());
    let state = home.state("staging");
    assert_eq!(state["providers"]["azure"]["connector"], "platform");
    assert!(!state.to_string().contains(CLIENT_SECRET));

    // Inside the cluster (its API server, signed in to with the principal's Entra ID token):
    // the pipelines' namespace, and their service account annotated with the client id of the
    // identity it is federated with; the orchestrator names both.
    let suffix = state["stack"]["suffix"].as_str().unwrap().to_owned();
    let cluster_name = format!("staging-{suffix}");
    let cluster_api = kube.cluster(&cluster_name);
    let identity = arm
        .get(
            state["resources"]["pipelines_identity"]["physical_id"]
                .as_str()
                .unwrap(),
        )
        .expect("the pipelines' identity");
    let admin = arm
        .get(
            state["resources"]["deployer_cluster_admin"]["physical_id"]
                .as_str()
                .unwrap(),
        )
        .expect("the deployer's admin role");
    assert_eq!(
        admin["properties"]["principalId"].as_str(),
        arm.app_object(CLIENT_ID).as_deref()
    );
    let sa = cluster_api
        .object("serviceaccounts", "pipelines", "pipelines")
        .expect("the pipelines service account");
    assert_eq!(
        sa["metadata"]["annotations"]["azure.workload.identity/client-id"],
        identity["properties"]["clientId"],
        "{sa}"
    );
    assert_eq!(
        sa["metadata"]["labels"]["stackform.dev/stack-id"],
        state["stack"]["id"]
    );
    assert!(cluster_api.object("namespaces", "", "pipelines").is_some());
    crate::suites::kubernetes::validate_applied(&cluster_api, &home);
    let orchestrator = component(&state, "orchestrator");
    assert_eq!(
        orchestrator["configuration"]["service_account_name"],
        "pipelines"
    );
    assert_eq!(state["providers"]["kubernetes"]["connector"], "platform");
    // A pipeline's LoadBalancer Service: AKS's controller gives it a public address.
    let web = cluster_api.put_load_balancer("default", "web");
    assert!(
        web["status"]["loadBalancer"]["ingress"][0]["ip"].is_string(),
        "{web}"
    );
    assert!(
        arm.contents()
            .iter()
            .any(|id| id.contains("/publicipaddresses/kubernetes-a")),
        "{:#?}",
        arm.contents()
    );

    // `connector login` writes a kubeconfig for the AKS cluster whose user asks stackform for
    // a fresh Entra ID token for AKS each time (not kubelogin, not a token that expires).
    let res = &state["resources"];
    let cluster_name = res["cluster"]["outputs"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let login = home.run_with(
        &[
            "connector",
            "login",
            "platform",
            "--resource-type",
            "kubernetes-cluster",
            "--resource-id",
            &cluster_name,
        ],
        &env,
    );
    assert_eq!(login.code(), 0, "{}", login.transcript());
    let kube: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(home.path(&format!("logins/platform/kube/{cluster_name}.json")))
            .unwrap(),
    )
    .unwrap();
    let fqdn = res["cluster"]["outputs"]["fqdn"].as_str().unwrap();
    assert_eq!(
        kube["clusters"][0]["cluster"]["server"],
        format!("https://{fqdn}:443")
    );
    assert!(
        kube["clusters"][0]["cluster"]["certificate-authority-data"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{kube}"
    );
    let exec = &kube["users"][0]["user"]["exec"];
    assert_eq!(
        exec["args"],
        serde_json::json!(["connector", "token", "platform", "--cluster", cluster_name])
    );
    let token = home.run_with(
        &["connector", "token", "platform", "--cluster", &cluster_name],
        &env,
    );
    assert_eq!(token.code(), 0, "{}", token.transcript());
    let credential: serde_json::Value = serde_json::from_str(&token.stdout()).unwrap();
    assert_eq!(credential["kind"], "ExecCredential");
    let issued = credential["status"]["token"].as_str().unwrap();
    assert_eq!(arm.token_owner(issued).as_deref(), Some(CLIENT_ID));
    let asked = arm
        .requests()
        .iter()
        .rev()
        .find(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .map(|r| r.body.to_string())
        .unwrap();
    assert!(
        asked.contains("6dae42f8-4368-4678-94ff-3960e28e3630"),
        "{asked}"
    );
    // A docker login for the registry, as `az acr login` makes it: the principal's Entra ID
    // token exchanged at the registry for a refresh token, sent as the all-zero user's password.
    let acr = home.run_with(
        &[
            "connector",
            "login",
            "platform",
            "--resource-type",
            "docker-registry",
        ],
        &env,
    );
    assert_eq!(acr.code(), 0, "{}", acr.transcript());
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(home.path("logins/platform/docker/config.json")).unwrap(),
    )
    .unwrap();
    let login_server = res["registry"]["outputs"]["login_server"].as_str().unwrap();
    let (user, refresh) = docker_auth(&config, login_server);
    assert_eq!(user, "00000000-0000-0000-0000-000000000000");
    assert_eq!(
        arm.refresh_token_owner(&refresh),
        Some((CLIENT_ID.to_owned(), login_server.to_owned()))
    );
    assert!(!config.to_string().contains(CLIENT_SECRET));

    // What the principal reaches is listed, and registered as another stack's external
    // components through a connector that names the storage account.
    let login_server = res["registry"]["outputs"]["login_server"]
        .as_str()
        .unwrap()
        .to_owned();
    let account = res["storage"]["outputs"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let container_uri = res["artifacts"]["outputs"]["uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = home.run_with(
        &[
            "connector",
            "list-resources",
            "platform",
            "--output",
            "json",
        ],
        &env,
    );
    assert_eq!(listed.code(), 0, "{}", listed.transcript());
    let found = listed.json()["resources"].clone();
    assert!(
        found
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["type"] == "docker-registry" && r["id"] == login_server.as_str()),
        "{found}"
    );
    let storage_account = format!("storage_account={account}");
    let reader = register("reader", CLIENT_SECRET, &["--setting", &storage_account]);
    assert_eq!(reader.code(), 0, "{}", reader.transcript());
    let registered = home.register_stack(
        "existing",
        "reader",
        &[
            "--artifact-store",
            &container_uri,
            "--container-registry",
            &login_server,
        ],
        &env,
    );
    assert_eq!(registered.code(), 0, "{}", registered.transcript());
    let existing = home.state("existing");
    let r = &existing["resources"];
    assert_eq!(
        r["container_registry"]["physical_id"],
        res["registry"]["physical_id"]
    );
    assert_eq!(
        r["artifact_store"]["physical_id"],
        res["artifacts"]["physical_id"]
    );
    assert_eq!(r["artifact_store"]["found"]["external"], true);
    assert_eq!(
        component(&existing, "container_registry")["configuration"]["uri"],
        login_server.as_str()
    );
    let store = component(&existing, "artifact_store");
    assert_eq!(store["flavor"], "azure");
    assert_eq!(store["configuration"]["path"], container_uri.as_str());
    assert_eq!(store["configuration"]["account_name"], account.as_str());
    let missing = home.register_stack(
        "ghost",
        "reader",
        &["--container-registry", "nosuchregistry.azurecr.io"],
        &env,
    );
    assert_eq!(missing.code(), 2, "{}", missing.transcript());
    assert!(
        missing.stderr().contains("nosuchregistry.azurecr.io"),
        "{}",
        missing.stderr()
    );
    let gone = home.run_with(&["destroy", "existing", "--yes"], &env);
    assert_eq!(gone.code(), 0, "{}", gone.transcript());
    let registry_id = res["registry"]["physical_id"].as_str().unwrap();
    assert!(arm.get(registry_id).is_some());

    let destroy = home.run_with(&["destroy", "staging", "--yes"], &env);
    assert_eq!(destroy.code(), 0, "{}", destroy.transcript());
    // The cluster was drained through its API before its delete: the Service deleted
    // (foreground), its address removed by the controller while the cluster still ran.
    assert!(
        !destroy.transcript().contains("was not drained"),
        "{}",
        destroy.transcript()
    );
    assert!(
        cluster_api
            .deletes()
            .iter()
            .any(|(path, policy)| path == "services/default/web"
                && policy.as_deref() == Some("Foreground")),
        "{:?}",
        cluster_api.deletes()
    );
    let removed = arm
        .controller_log()
        .into_iter()
        .find(|(_, what)| what.starts_with("deleted "))
        .expect("the controller removed the address");
    let cluster_delete = position(&arm.log(), "DELETE", "/managedClusters/");
    assert!(removed.0 <= cluster_delete, "{removed:?} {:#?}", arm.log());
    let calls: Vec<_> = arm.requests()[before..]
        .iter()
        // Entra ID's token endpoint and ACR's exchange take credentials in the body.
        .filter(|r| !r.path.ends_with("/oauth2/v2.0/token") && r.path != "/oauth2/exchange")
        .cloned()
        .collect();
    assert!(calls.iter().any(|r| r.method == "PUT"), "{calls:#?}");
    for r in &calls {
        assert_eq!(
            r.caller.as_deref(),
            Some(CLIENT_ID),
            "{} {} did not carry the principal's token",
            r.method,
            r.path
        );
    }
    let suffix = state["stack"]["suffix"].as_str().unwrap();
    assert!(
        !arm.contents().iter().any(|id| id.contains(suffix)),
        "{:#?}",
        arm.contents()
    );
    assert!(arm.unexpected().is_empty(), "{:#?}", arm.unexpected());
}
