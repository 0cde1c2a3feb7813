//! The AWS stack end to end against moto: deploy, an independent check through the SDK, no-op
//! redeploy, in-place update, replacement, destroy and a census of every service used.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::Filter;

use crate::harness::moto::{self, Moto};
use crate::harness::rt;
use crate::harness::{Home, Run, component, physical_id};

pub(crate) fn aws(home: &Home, moto: &Moto, args: &[&str]) -> Run {
    let env = moto.env();
    home.run_with(args, &env)
}

/// `deploy aws --name NAME --yes --var orchestrator=none EXTRA...` on `moto`: the AWS stack
/// without its cluster, for the checks that need none.
pub(crate) fn deploy_without_cluster(home: &Home, moto: &Moto, name: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "deploy",
        "aws",
        "--name",
        name,
        "--yes",
        "--var",
        "orchestrator=none",
    ];
    args.extend_from_slice(extra);
    aws(home, moto, &args)
}

/// What the SDK finds of a stack, by its ownership tags and names.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Census {
    pub buckets: Vec<String>,
    pub repositories: Vec<String>,
    pub roles: Vec<String>,
    pub vpcs: usize,
    pub subnets: usize,
    pub gateways: usize,
    pub route_tables: usize,
    pub security_groups: usize,
    pub clusters: Vec<String>,
    pub oidc_providers: usize,
}

pub(crate) async fn census(moto: &Moto, stack_id: &str, prefix: &str) -> Census {
    let config = moto.sdk().await;
    let s3 = crate::harness::moto::s3(&config);
    let ecr = aws_sdk_ecr::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let eks = aws_sdk_eks::Client::new(&config);
    let owned = || {
        Filter::builder()
            .name("tag:stackform:stack-id")
            .values(stack_id)
            .build()
    };
    Census {
        buckets: s3
            .list_buckets()
            .send()
            .await
            .unwrap()
            .buckets()
            .iter()
            .filter_map(|b| b.name())
            .filter(|n| n.starts_with(prefix))
            .map(str::to_owned)
            .collect(),
        repositories: ecr
            .describe_repositories()
            .send()
            .await
            .unwrap()
            .repositories()
            .iter()
            .filter_map(|r| r.repository_name())
            .filter(|n| n.starts_with(prefix))
            .map(str::to_owned)
            .collect(),
        roles: iam
            .list_roles()
            .send()
            .await
            .unwrap()
            .roles()
            .iter()
            .map(|r| r.role_name().to_owned())
            .filter(|n| n.starts_with(prefix))
            .collect(),
        vpcs: ec2
            .describe_vpcs()
            .filters(owned())
            .send()
            .await
            .unwrap()
            .vpcs()
            .len(),
        subnets: ec2
            .describe_subnets()
            .filters(owned())
            .send()
            .await
            .unwrap()
            .subnets()
            .len(),
        gateways: ec2
            .describe_internet_gateways()
            .filters(owned())
            .send()
            .await
            .unwrap()
            .internet_gateways()
            .len(),
        route_tables: ec2
            .describe_route_tables()
            .filters(owned())
            .send()
            .await
            .unwrap()
            .route_tables()
            .len(),
        security_groups: ec2
            .describe_security_groups()
            .filters(owned())
            .send()
            .await
            .unwrap()
            .security_groups()
            .len(),
        clusters: eks
            .list_clusters()
            .send()
            .await
            .unwrap()
            .clusters()
            .iter()
            .filter(|n| n.starts_with(prefix))
            .cloned()
            .collect(),
        oidc_providers: {
            let mut n = 0;
            let listed = iam.list_open_id_connect_providers().send().await.unwrap();
            for p in listed.open_id_connect_provider_list() {
                let arn = p.arn().unwrap_or_default();
                let tags = iam
                    .list_open_id_connect_provider_tags()
                    .open_id_connect_provider_arn(arn)
                    .send()
                    .await
                    .unwrap();
                if tags
                    .tags()
                    .iter()
                    .any(|t| t.key() == "stackform:stack-id" && t.value() == stack_id)
                {
                    n += 1;
                }
            }
            n
        },
    }
}

#[test]
fn aws_stack_deploys_tagged_updates_in_place_and_destroys_to_nothing() {
    // Through the proxy, which adds the EKS access-entry API that moto lacks.
    let server = moto::start();
    let proxy = crate::harness::proxy::start(&server.url, 0, 0);
    let moto = &proxy.moto();
    let home = Home::new();
    let name = "awsfull";
    let team = "arn:aws:iam::123456789012:role/team-admins";
    let admin = format!("admin_principal_arn={team}");
    let run = aws(
        &home,
        moto,
        &["deploy", "aws", "--name", name, "--yes", "--var", &admin],
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());

    let state = home.state(name);
    let stack_id = state["stack"]["id"].as_str().unwrap().to_owned();
    let suffix = state["stack"]["suffix"].as_str().unwrap().to_owned();
    let found = rt().block_on(census(moto, &stack_id, name));
    assert_eq!(found.buckets, [format!("{name}-artifacts-{suffix}")]);
    assert_eq!(found.repositories, [format!("{name}-{suffix}")]);
    assert_eq!(found.roles.len(), 3, "{:?}", found.roles);
    assert_eq!(found.oidc_providers, 1);
    assert_eq!(
        (
            found.vpcs,
            found.subnets,
            found.gateways,
            found.route_tables,
            found.security_groups
        ),
        (1, 2, 1, 1, 1)
    );
    assert_eq!(found.clusters, [format!("{name}-{suffix}")]);

    // Ownership tags were applied: checked on the bucket, the repository and the cluster.
    let tags: BTreeMap<String, String> = rt().block_on(async {
        let config = moto.sdk().await;
        let s3 = crate::harness::moto::s3(&config);
        let out = s3
            .get_bucket_tagging()
            .bucket(format!("{name}-artifacts-{suffix}"))
            .send()
            .await
            .unwrap();
        out.tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect()
    });
    assert_eq!(tags.get("stackform:stack-id"), Some(&stack_id));
    assert_eq!(
        tags.get("stackform:address").map(String::as_str),
        Some("artifacts")
    );
    let cluster_tags = rt().block_on(async {
        let config = moto.sdk().await;
        let eks = aws_sdk_eks::Client::new(&config);
        let c = eks
            .describe_cluster()
            .name(format!("{name}-{suffix}"))
            .send()
            .await
            .unwrap();
        c.cluster().unwrap().tags().cloned().unwrap_or_default()
    });
    assert_eq!(cluster_tags.get("stackform:stack"), Some(&name.to_owned()));

    // The registered stack has the three components with real values.
    let describe = aws(
        &home,
        moto,
        &["stack", "describe", name, "--output", "json"],
    )
    .json();
    let by_type = |t: &str| component(&describe["stack"], t)["configuration"].clone();
    assert_eq!(
        by_type("artifact_store")["path"],
        format!("s3://{name}-artifacts-{suffix}")
    );
    assert!(
        by_type("container_registry")["uri"]
            .as_str()
            .unwrap()
            .contains(".dkr.ecr.eu-central-1.amazonaws.com/")
    );
    assert!(
        by_type("orchestrator")["endpoint"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );

    // Pods get the stack access role through IRSA: its trust names the cluster's issuer.
    let outputs = &state["resources"];
    let oidc_arn = outputs["oidc"]["outputs"]["arn"]
        .as_str()
        .unwrap()
        .to_owned();
    let issuer = outputs["cluster"]["outputs"]["oidc_issuer"]
        .as_str()
        .unwrap()
        .trim_start_matches("https://")
        .to_owned();
    assert!(
        oidc_arn.ends_with(&format!("oidc-provider/{issuer}")),
        "{oidc_arn} vs {issuer}"
    );
    let trust = rt().block_on(async {
        let config = moto.sdk().await;
        let iam = aws_sdk_iam::Client::new(&config);
        let role = iam
            .get_role()
            .role_name(format!("{name}-{suffix}-access"))
            .send()
            .await
            .unwrap();
        role.role()
            .unwrap()
            .assume_role_policy_document()
            .unwrap_or_default()
            .to_owned()
    });
    let trust = trust
        .replace("%22", "\"")
        .replace("%3A", ":")
        .replace("%2F", "/");
    assert!(trust.contains(&oidc_arn), "{trust}");
    assert!(trust.contains(&format!("{issuer}:sub")), "{trust}");
    // Only the pipelines' service account may take the role, not every pod of the cluster.
    let policy: serde_json::Value =
        serde_json::from_str(&crate::harness::http::decode(&trust, false)).unwrap();
    let web = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Action"] == "sts:AssumeRoleWithWebIdentity")
        .unwrap();
    assert_eq!(
        web["Condition"]["StringEquals"][format!("{issuer}:sub")],
        "system:serviceaccount:pipelines:pipelines",
        "{trust}"
    );
    assert!(web["Condition"].get("StringLike").is_none(), "{trust}");

    // Inside the cluster (its API server, not stackform's state): the namespace, and the
    // service account annotated with the role, both marked as the stack's.
    let kube = moto.kube.cluster(&format!("{name}-{suffix}"));
    let role_arn = outputs["stack_access_role_irsa"]["outputs"]["arn"]
        .as_str()
        .unwrap()
        .to_owned();
    let namespace = kube
        .object("namespaces", "", "pipelines")
        .expect("the pipelines namespace");
    assert_eq!(
        namespace["metadata"]["labels"]["stackform.dev/stack-id"],
        stack_id.as_str()
    );
    let sa = kube
        .object("serviceaccounts", "pipelines", "pipelines")
        .expect("the pipelines service account");
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        role_arn.as_str()
    );
    assert_eq!(
        sa["metadata"]["labels"]["stackform.dev/stack-id"],
        stack_id.as_str()
    );
    crate::suites::kubernetes::validate_applied(&kube, &home);
    let orchestrator = by_type("orchestrator");
    assert_eq!(orchestrator["kubernetes_namespace"], "pipelines");
    assert_eq!(orchestrator["service_account_name"], "pipelines");

    // A pipeline's LoadBalancer Service, made with kubectl, not by stackform: the cloud's
    // controller gives it a load balancer and a target group.
    let web = kube.put_load_balancer("default", "web");
    let hostname = web["status"]["loadBalancer"]["ingress"][0]["hostname"]
        .as_str()
        .unwrap()
        .to_owned();
    let cluster_name = format!("{name}-{suffix}");
    let web_lb = || {
        rt().block_on(async {
            let config = moto::sdk_at(&server.url, "eu-central-1").await;
            let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
            moto::service_load_balancers(&elb, &cluster_name, "default/web").await
        })
    };
    let (lbs, groups) = web_lb();
    assert_eq!((lbs.len(), groups.len()), (1, 1), "{hostname}");
    // An Ingress and a claim (an ALB and a disk, on AWS), and a plain Service the drain leaves.
    kube.put_foreign(
        "ingresses",
        "default",
        serde_json::json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}},
        }),
    );
    kube.put_foreign(
        "persistentvolumeclaims",
        "default",
        serde_json::json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }),
    );
    kube.put_foreign(
        "services",
        "default",
        serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "internal", "namespace": "default"},
            "spec": {"type": "ClusterIP", "ports": [{"port": 80}]},
        }),
    );

    // The team's role may use the cluster, as cluster admin.
    let cluster = format!("{name}-{suffix}");
    let (entry, policies) = rt().block_on(async {
        let config = moto.sdk().await;
        let eks = aws_sdk_eks::Client::new(&config);
        let entry = eks
            .describe_access_entry()
            .cluster_name(&cluster)
            .principal_arn(team)
            .send()
            .await
            .unwrap();
        let policies = eks
            .list_associated_access_policies()
            .cluster_name(&cluster)
            .principal_arn(team)
            .send()
            .await
            .unwrap();
        let policies: Vec<String> = policies
            .associated_access_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_owned))
            .collect();
        let principal = entry
            .access_entry()
            .unwrap()
            .principal_arn()
            .unwrap_or_default()
            .to_owned();
        (principal, policies)
    });
    assert_eq!(entry, team);
    assert_eq!(
        policies,
        ["arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"]
    );

    // A second deploy changes nothing; a new node count updates the node group in place.
    let again = aws(
        &home,
        moto,
        &[
            "deploy", "aws", "--name", name, "--yes", "--var", &admin, "--output", "json",
        ],
    );
    assert_eq!(again.code(), 0, "{}", again.transcript());
    assert_eq!(again.json()["deploy"]["done"], serde_json::json!([]));
    let scaled = aws(
        &home,
        moto,
        &[
            "deploy",
            "aws",
            "--name",
            name,
            "--yes",
            "--var",
            &admin,
            "--var",
            "node_count=3",
            "--output",
            "json",
        ],
    );
    assert_eq!(scaled.code(), 0, "{}", scaled.transcript());
    let summary = scaled.json()["deploy"]["plan"]["summary"].clone();
    assert_eq!(
        (summary["change"].as_u64(), summary["replace"].as_u64()),
        (Some(1), Some(0)),
        "{summary}"
    );
    let scaling = rt().block_on(async {
        let config = moto.sdk().await;
        let eks = aws_sdk_eks::Client::new(&config);
        let ng = eks
            .describe_nodegroup()
            .cluster_name(format!("{name}-{suffix}"))
            .nodegroup_name(format!("{name}-nodes"))
            .send()
            .await
            .unwrap();
        ng.nodegroup()
            .unwrap()
            .scaling_config()
            .unwrap()
            .desired_size()
    });
    assert_eq!(scaling, Some(3));

    let destroy = aws(&home, moto, &["destroy", name, "--yes"]);
    assert_eq!(destroy.code(), 0, "{}", destroy.transcript());
    assert_eq!(
        rt().block_on(census(moto, &stack_id, name)),
        Census::default()
    );
    // The cluster was drained through its API: the Service deleted (foreground), and with it
    // its load balancer and target group, by the cloud's controller.
    assert!(
        kube.deletes()
            .iter()
            .any(|(path, policy)| path == "services/default/web"
                && policy.as_deref() == Some("Foreground")),
        "{:?}",
        kube.deletes()
    );
    assert_eq!(kube.object("services", "default", "web"), None);
    assert_eq!(web_lb(), (vec![], vec![]));
    let deleted: Vec<(String, Option<String>)> = kube.deletes();
    for path in [
        "ingresses/default/web",
        "persistentvolumeclaims/default/data",
    ] {
        assert!(
            deleted
                .iter()
                .any(|(p, policy)| p == path && policy.as_deref() == Some("Foreground")),
            "{path} not drained: {deleted:?}"
        );
    }
    assert!(kube.object("services", "default", "internal").is_some());
    assert!(
        !deleted
            .iter()
            .any(|(p, _)| p == "services/default/internal")
    );
    let gone = rt().block_on(async {
        let config = moto.sdk().await;
        let eks = aws_sdk_eks::Client::new(&config);
        eks.describe_access_entry()
            .cluster_name(&cluster)
            .principal_arn(team)
            .send()
            .await
            .is_err()
    });
    assert!(gone, "the access entry survived destroy");
    // The cluster's objects went before the cluster did.
    assert_eq!(kube.object("namespaces", "", "pipelines"), None);
    assert_eq!(kube.names("serviceaccounts"), []);
}

#[test]
fn changing_a_force_new_property_replaces_the_resource() {
    let moto = &moto::start();
    let home = Home::new();
    let t = home.write(
        "t.yaml",
        "name: t\ninputs:\n  repo: { type: string }\nresources:\n  registry:\n    type: aws.ecr.repository\n    properties: { name: \"${inputs.repo}\", tags: { team: ml } }\n",
    );
    assert_eq!(
        aws(
            &home,
            moto,
            &[
                "deploy",
                &t,
                "--name",
                "repl",
                "--yes",
                "--var",
                "repo=repl-one"
            ]
        )
        .code(),
        0
    );
    let run = aws(
        &home,
        moto,
        &[
            "deploy",
            &t,
            "--name",
            "repl",
            "--yes",
            "--var",
            "repo=repl-two",
            "--output",
            "json",
        ],
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(
        run.json()["deploy"]["plan"]["changes"][0]["action"],
        "replace"
    );
    let names: Vec<String> = rt().block_on(async {
        let config = moto.sdk().await;
        let ecr = aws_sdk_ecr::Client::new(&config);
        ecr.describe_repositories()
            .send()
            .await
            .unwrap()
            .repositories()
            .iter()
            .filter_map(|r| r.repository_name())
            .filter(|n| n.starts_with("repl-"))
            .map(str::to_owned)
            .collect()
    });
    assert_eq!(names, ["repl-two"]);
    assert_eq!(aws(&home, moto, &["destroy", "repl", "--yes"]).code(), 0);
}

#[test]
fn wrong_credentials_are_a_clear_permission_error_and_leave_state_untouched() {
    // A server of its own: enforcing credentials would break the other tests' server.
    let moto = moto::start();
    let home = Home::new();
    moto.enforce_auth(true);
    let run = deploy_without_cluster(&home, &moto, "denied", &[]);
    assert_eq!(run.code(), 1, "{}", run.transcript());
    let err = run.stderr();
    assert!(err.contains("was refused for access key …ting"), "{err}");
    assert!(
        err.contains("403")
            || err.contains("InvalidAccessKeyId")
            || err.contains("InvalidClientTokenId")
            || err.contains("AccessDenied"),
        "{err}"
    );
    // Nothing was created: the stack was refused before its state was even written.
    assert!(!home.path("stacks/denied/state.json").exists());
    assert!(home.world().is_empty());
}

#[test]
fn the_templates_region_is_where_resources_go() {
    let moto = &moto::start();
    let home = Home::new();
    // The environment says eu-central-1; the template's provider setting must win.
    let run = deploy_without_cluster(&home, moto, "west", &["--var", "region=eu-west-1"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let state = home.state("west");
    assert_eq!(state["providers"]["aws"]["region"], "eu-west-1");
    let bucket = physical_id(&state, "artifacts");
    let (location, west_repos) = rt().block_on(async {
        let config = moto.sdk().await;
        let s3 = crate::harness::moto::s3(&config);
        let location = s3
            .get_bucket_location()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        let west = config
            .to_builder()
            .region(aws_config::Region::new("eu-west-1"))
            .build();
        let ecr = aws_sdk_ecr::Client::new(&west);
        let repos = ecr
            .describe_repositories()
            .send()
            .await
            .unwrap()
            .repositories()
            .len();
        (
            location
                .location_constraint()
                .map(|l| l.as_str().to_owned()),
            repos,
        )
    });
    assert_eq!(location.as_deref(), Some("eu-west-1"));
    assert_eq!(west_repos, 1);
    assert_eq!(aws(&home, moto, &["destroy", "west", "--yes"]).code(), 0);
}

#[test]
fn on_an_emulated_aws_the_clusters_reported_endpoint_is_never_dialled() {
    let moto = &moto::start();
    let home = Home::new();
    // As README's "Try the AWS stack locally": moto alone, no Kubernetes API server.
    let env: Vec<(&str, String)> = moto
        .env()
        .into_iter()
        .filter(|(k, _)| *k != "STACKFORM_KUBERNETES_ENDPOINT")
        .collect();
    let run = home.run_with(&["deploy", "aws", "--name", "emu", "--yes"], &env);
    assert_ne!(run.code(), 0, "{}", run.transcript());
    let err = run.stderr();
    assert!(
        err.contains("emulated AWS") && err.contains("--var cluster_workloads=false"),
        "{err}"
    );
    // The namespace was never made; everything else is destroyed, the cluster undrained with a
    // warning, and nothing is left.
    let stack_id = home.stack_id("emu");
    let destroy = home.run_with(&["destroy", "emu", "--yes"], &env);
    assert_eq!(destroy.code(), 0, "{}", destroy.transcript());
    assert!(
        destroy.stderr().contains("was not drained"),
        "{}",
        destroy.stderr()
    );
    assert_eq!(
        rt().block_on(census(moto, &stack_id, "emu")),
        Census::default()
    );

    let run = home.run_with(
        &[
            "deploy",
            "aws",
            "--name",
            "emu2",
            "--var",
            "cluster_workloads=false",
            "--yes",
        ],
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let destroy = home.run_with(&["destroy", "emu2", "--yes"], &env);
    assert_eq!(destroy.code(), 0, "{}", destroy.transcript());
}
