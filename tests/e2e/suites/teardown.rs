//! Teardown that leaves nothing, against moto: what Kubernetes made inside the cluster (load
//! balancers, listeners, target groups, security groups, interfaces, volumes) is deleted after
//! the cluster and before its network, `--retain-volumes` keeps the volumes, and the census
//! after destroy deletes what carries the stack's tags but no state recorded.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{ResourceType, Tag as Ec2Tag, TagSpecification};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, LoadBalancerTypeEnum, ProtocolEnum, Tag,
};

use super::aws::{Census, aws, census, deploy_without_cluster};
use crate::harness::moto::{self, Moto};
use crate::harness::rt;
use crate::harness::{Home, physical_id};

/// What a deployed aws stack's network and cluster are called.
struct Deployed {
    stack_id: String,
    cluster: String,
    vpc: String,
    subnets: [String; 2],
}

fn deployed(home: &Home, name: &str) -> Deployed {
    let state = home.state(name);
    let r = &state["resources"];
    let id = |a: &str| r[a]["physical_id"].as_str().unwrap().to_owned();
    Deployed {
        stack_id: state["stack"]["id"].as_str().unwrap().to_owned(),
        cluster: id("cluster"),
        vpc: id("vpc"),
        subnets: [id("subnet_a"), id("subnet_b")],
    }
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn ec2_tags(kind: ResourceType, tags: &[(&str, &str)]) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Ec2Tag::builder().key(*k).value(*v).build())
                .collect(),
        ))
        .build()
}

/// What Kubernetes would have made: ids of each kind.
#[derive(Debug, Default)]
struct Made {
    load_balancers: Vec<String>,
    target_groups: Vec<String>,
    listeners: Vec<String>,
    security_group: String,
    interface: String,
    owned_volume: String,
    pvc_volume: String,
    other_cluster_volume: String,
    untagged_load_balancer: String,
    classic: String,
}

/// Creates, as the Kubernetes controllers would, an ALB and an NLB with a listener and a target
/// group each, a backend security group, a free interface and volumes, all for `d.cluster`;
/// and, as noise that must survive, a PVC-only volume, another cluster's volume and an untagged
/// load balancer in a VPC of its own.
async fn make_leftovers(moto: &Moto, d: &Deployed) -> Made {
    make(moto, d, true).await
}

/// [`make_leftovers`], with or without the noise (made once per moto: its names are fixed).
async fn make(moto: &Moto, d: &Deployed, noise: bool) -> Made {
    let config = moto.sdk().await;
    let elbv2 = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let cluster_tag = format!("kubernetes.io/cluster/{}", d.cluster);
    let mut made = Made::default();

    let sg = ec2
        .create_security_group()
        .group_name("k8s-traffic-backend")
        .description("[k8s] Shared Backend SecurityGroup for LoadBalancer")
        .vpc_id(&d.vpc)
        .tag_specifications(ec2_tags(
            ResourceType::SecurityGroup,
            &[
                ("elbv2.k8s.aws/cluster", &d.cluster),
                ("elbv2.k8s.aws/resource", "backend-sg"),
            ],
        ))
        .send()
        .await
        .unwrap();
    made.security_group = sg.group_id().unwrap().to_owned();

    for (name, kind, lb_tag, protocol) in [
        (
            "k8s-web-alb",
            LoadBalancerTypeEnum::Application,
            tag("elbv2.k8s.aws/cluster", &d.cluster),
            ProtocolEnum::Http,
        ),
        (
            "k8s-api-nlb",
            LoadBalancerTypeEnum::Network,
            tag(&cluster_tag, "owned"),
            ProtocolEnum::Tcp,
        ),
    ] {
        let lb = elbv2
            .create_load_balancer()
            .name(name)
            .r#type(kind)
            .subnets(&d.subnets[0])
            .subnets(&d.subnets[1])
            .security_groups(&made.security_group)
            .tags(lb_tag.clone())
            .send()
            .await
            .unwrap();
        let lb_arn = lb.load_balancers()[0]
            .load_balancer_arn()
            .unwrap()
            .to_owned();
        let tg = elbv2
            .create_target_group()
            .name(format!("{name}-tg"))
            .protocol(protocol.clone())
            .port(80)
            .vpc_id(&d.vpc)
            .tags(lb_tag)
            .send()
            .await
            .unwrap();
        let tg_arn = tg.target_groups()[0].target_group_arn().unwrap().to_owned();
        let listener = elbv2
            .create_listener()
            .load_balancer_arn(&lb_arn)
            .protocol(protocol)
            .port(80)
            .default_actions(
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .target_group_arn(&tg_arn)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        made.listeners
            .push(listener.listeners()[0].listener_arn().unwrap().to_owned());
        made.load_balancers.push(lb_arn);
        made.target_groups.push(tg_arn);
    }

    // A classic load balancer, as the in-tree service controller makes for `type: LoadBalancer`.
    let elb = aws_sdk_elasticloadbalancing::Client::new(&config);
    elb.create_load_balancer()
        .load_balancer_name("k8s-classic")
        .subnets(&d.subnets[0])
        .security_groups(&made.security_group)
        .listeners(
            aws_sdk_elasticloadbalancing::types::Listener::builder()
                .protocol("TCP")
                .load_balancer_port(80)
                .instance_port(30080)
                .build()
                .unwrap(),
        )
        .tags(
            aws_sdk_elasticloadbalancing::types::Tag::builder()
                .key(&cluster_tag)
                .value("owned")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    made.classic = "k8s-classic".to_owned();

    let eni = ec2
        .create_network_interface()
        .subnet_id(&d.subnets[0])
        .send()
        .await
        .unwrap();
    made.interface = eni
        .network_interface()
        .unwrap()
        .network_interface_id()
        .unwrap()
        .to_owned();

    let volume = |tags: Vec<(&'static str, String)>| {
        let ec2 = ec2.clone();
        async move {
            let pairs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (*k, v.as_str())).collect();
            ec2.create_volume()
                .availability_zone("eu-central-1a")
                .size(10)
                .tag_specifications(ec2_tags(ResourceType::Volume, &pairs))
                .send()
                .await
                .unwrap()
                .volume_id()
                .unwrap()
                .to_owned()
        }
    };
    let owned_key: &'static str = Box::leak(cluster_tag.clone().into_boxed_str());
    made.owned_volume = volume(vec![
        (owned_key, "owned".into()),
        ("kubernetes.io/created-for/pvc/name", "data-0".into()),
    ])
    .await;
    if !noise {
        return made;
    }
    made.pvc_volume = volume(vec![
        ("kubernetes.io/created-for/pvc/name", "scratch".into()),
        ("ebs.csi.aws.com/cluster", "true".into()),
    ])
    .await;
    made.other_cluster_volume =
        volume(vec![("kubernetes.io/cluster/someone-else", "owned".into())]).await;

    // A load balancer of nobody's, in a VPC of its own.
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.9.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_owned();
    let mut subnets = Vec::new();
    for (cidr, zone) in [
        ("10.9.1.0/24", "eu-central-1a"),
        ("10.9.2.0/24", "eu-central-1b"),
    ] {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(cidr)
            .availability_zone(zone)
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_owned());
    }
    let lb = elbv2
        .create_load_balancer()
        .name("unrelated")
        .set_subnets(Some(subnets))
        .send()
        .await
        .unwrap();
    made.untagged_load_balancer = lb.load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_owned();
    made
}

/// What of `made` is still in the cloud.
#[derive(Debug, Default, PartialEq)]
struct Still {
    load_balancers: Vec<String>,
    classic_load_balancers: Vec<String>,
    target_groups: Vec<String>,
    security_groups: Vec<String>,
    interfaces: Vec<String>,
    volumes: Vec<String>,
}

async fn still(moto: &Moto) -> Still {
    let config = moto.sdk().await;
    let elbv2 = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let elb = aws_sdk_elasticloadbalancing::Client::new(&config);
    let mut volumes: Vec<String> = ec2
        .describe_volumes()
        .send()
        .await
        .unwrap()
        .volumes()
        .iter()
        .filter_map(|v| v.volume_id().map(str::to_owned))
        .collect();
    volumes.sort();
    Still {
        load_balancers: elbv2
            .describe_load_balancers()
            .send()
            .await
            .unwrap()
            .load_balancers()
            .iter()
            .filter_map(|l| l.load_balancer_arn().map(str::to_owned))
            .collect(),
        classic_load_balancers: elb
            .describe_load_balancers()
            .send()
            .await
            .unwrap()
            .load_balancer_descriptions()
            .iter()
            .filter_map(|l| l.load_balancer_name().map(str::to_owned))
            .collect(),
        target_groups: elbv2
            .describe_target_groups()
            .send()
            .await
            .unwrap()
            .target_groups()
            .iter()
            .filter_map(|t| t.target_group_arn().map(str::to_owned))
            .collect(),
        security_groups: ec2
            .describe_security_groups()
            .send()
            .await
            .unwrap()
            .security_groups()
            .iter()
            .filter(|g| g.group_name() != Some("default"))
            .filter_map(|g| g.group_id().map(str::to_owned))
            .collect(),
        interfaces: ec2
            .describe_network_interfaces()
            .send()
            .await
            .unwrap()
            .network_interfaces()
            .iter()
            .filter_map(|i| i.network_interface_id().map(str::to_owned))
            .collect(),
        volumes,
    }
}

/// What must survive every destroy and sweep: the PVC-only volume, another cluster's volume and
/// the untagged load balancer.
fn only_noise(made: &Made) -> Still {
    let mut volumes = vec![made.pvc_volume.clone(), made.other_cluster_volume.clone()];
    volumes.sort();
    Still {
        load_balancers: vec![made.untagged_load_balancer.clone()],
        volumes,
        ..Still::default()
    }
}

/// A bucket carrying the stack's id tag that no state knows of (as a create whose record was lost
/// would leave it), with an object in it if `object`.
async fn stray_bucket(moto: &Moto, bucket: &str, stack_id: &str, object: bool) {
    moto.create_bucket(bucket).await;
    let s3 = moto.s3().await;
    if object {
        s3.put_object()
            .bucket(bucket)
            .key("model.bin")
            .body(b"weights".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let tag = aws_sdk_s3::types::Tag::builder()
        .key("stackform:stack-id")
        .value(stack_id)
        .build()
        .unwrap();
    s3.put_bucket_tagging()
        .bucket(bucket)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(tag)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// A fresh moto behind a fresh proxy, and a cheap aws stack (no cluster) `name` deployed
/// through them.
fn cheap_through_proxy(name: &str) -> (Moto, crate::harness::proxy::Proxy, Home) {
    let server = moto::start();
    let proxy = crate::harness::proxy::start(&server.url, 0, 0);
    let home = Home::new();
    let via = proxy.moto();
    let run = deploy_without_cluster(&home, &via, name, &[]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    (server, proxy, home)
}

/// The position of the first and last request whose action is `action` (and whose body
/// contains `needle`).
fn positions(log: &[(String, String)], action: &str, needle: &str) -> Vec<usize> {
    log.iter()
        .enumerate()
        .filter(|(_, (a, body))| a == action && body.contains(needle))
        .map(|(i, _)| i)
        .collect()
}

fn form(value: &str) -> String {
    value.replace(':', "%3A").replace('/', "%2F")
}

#[test]
fn kubernetes_leftovers_are_deleted_after_the_cluster_and_before_its_network() {
    let server = moto::start();
    let proxy = crate::harness::proxy::start(&server.url, 0, 0);
    let moto = &proxy.moto();
    let home = Home::new();
    let name = "tear";
    let run = aws(&home, moto, &["deploy", "aws", "--name", name, "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let d = deployed(&home, name);
    let made = rt().block_on(make_leftovers(moto, &d));

    // The plan shows them as found by tag before anything is deleted.
    let shown = aws(&home, moto, &["destroy", name]);
    assert_ne!(
        shown.code(),
        0,
        "no terminal and no --yes: nothing may be deleted"
    );
    let before = proxy.requests().len();

    let run = aws(&home, moto, &["destroy", name, "--yes", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let out = run.json();
    let changes = out["destroy"]["plan"]["changes"]
        .as_array()
        .unwrap()
        .clone();
    let found: BTreeMap<String, String> = changes
        .iter()
        .filter(|c| {
            c["reason"]
                .as_str()
                .is_some_and(|r| r.ends_with("not in state"))
        })
        .map(|c| {
            (
                c["type"].as_str().unwrap().to_owned(),
                c["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for t in [
        "aws.elbv2.load_balancer",
        "aws.elbv2.listener",
        "aws.elbv2.target_group",
        "aws.ec2.security_group",
        "aws.ec2.network_interface",
        "aws.ec2.volume",
    ] {
        assert!(
            found.contains_key(t),
            "{t} not in the plan as found: {found:?}"
        );
    }
    let n_found = changes
        .iter()
        .filter(|c| {
            c["reason"]
                .as_str()
                .is_some_and(|r| r.ends_with("not in state"))
        })
        .count();
    // 2 load balancers, 2 listeners, 2 target groups, a classic load balancer, a group, an
    // interface, a volume.
    assert_eq!(n_found, 10, "{changes:#?}");
    let warnings = out["destroy"]["plan"]["warnings"].to_string();
    assert!(warnings.contains(&made.pvc_volume), "{warnings}");
    assert_eq!(out["destroy"]["census"]["remaining"], serde_json::json!([]));
    assert_eq!(out["destroy"]["removed"], true);

    // Nothing of the stack or its cluster remains; the noise does.
    assert_eq!(
        rt().block_on(census(moto, &d.stack_id, name)),
        Census::default()
    );
    assert_eq!(rt().block_on(still(moto)), only_noise(&made));

    // The order, from the requests of the destroy alone.
    let log: Vec<(String, String)> = proxy.requests()[before..].to_vec();
    let actions: Vec<&str> = log.iter().map(|(a, _)| a.as_str()).collect();
    let cluster_gone = actions
        .iter()
        .position(|a| *a == format!("DELETE /clusters/{}", d.cluster))
        .unwrap_or_else(|| panic!("no cluster delete in {actions:?}"));
    let first_subnet = positions(&log, "DeleteSubnet", "")[0];
    let vpc_gone = positions(&log, "DeleteVpc", &d.vpc)[0];
    let listeners: Vec<usize> = made
        .listeners
        .iter()
        .flat_map(|l| positions(&log, "DeleteListener", &form(l)))
        .collect();
    let lbs: Vec<usize> = made
        .load_balancers
        .iter()
        .flat_map(|l| positions(&log, "DeleteLoadBalancer", &form(l)))
        .collect();
    let tgs: Vec<usize> = made
        .target_groups
        .iter()
        .flat_map(|t| positions(&log, "DeleteTargetGroup", &form(t)))
        .collect();
    let classic = positions(
        &log,
        "DeleteLoadBalancer",
        &format!("LoadBalancerName={}", made.classic),
    );
    let sg = positions(&log, "DeleteSecurityGroup", &made.security_group);
    let eni = positions(&log, "DeleteNetworkInterface", &made.interface);
    let vol = positions(&log, "DeleteVolume", &made.owned_volume);
    assert_eq!(
        (
            listeners.len(),
            lbs.len(),
            tgs.len(),
            classic.len(),
            sg.len(),
            eni.len(),
            vol.len()
        ),
        (2, 2, 2, 1, 1, 1, 1),
        "{actions:?}"
    );
    let all: Vec<usize> = [&listeners, &lbs, &tgs, &classic, &sg, &eni, &vol]
        .into_iter()
        .flatten()
        .copied()
        .collect();
    assert!(
        all.iter().all(|&i| i > cluster_gone),
        "a leftover went before the cluster: {actions:?}"
    );
    assert!(
        all.iter().all(|&i| i < first_subnet && i < vpc_gone),
        "a leftover went after the network: {actions:?}"
    );
    assert!(listeners.iter().max() < lbs.iter().min(), "{actions:?}");
    assert!(lbs.iter().max() < tgs.iter().min(), "{actions:?}");
    assert!(lbs.iter().max() < sg.iter().min(), "{actions:?}");
    assert!(eni[0] < sg[0], "{actions:?}");
    assert!(classic[0] < sg[0], "{actions:?}");
}

#[test]
fn retained_volumes_are_kept_and_reported_and_a_later_destroy_takes_them() {
    let moto = &moto::start();
    let home = Home::new();
    let name = "keepvol";
    let run = aws(&home, moto, &["deploy", "aws", "--name", name, "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let d = deployed(&home, name);
    let made = rt().block_on(make_leftovers(moto, &d));

    let run = aws(
        &home,
        moto,
        &[
            "destroy",
            name,
            "--yes",
            "--retain-volumes",
            "--output",
            "json",
        ],
    );
    assert_eq!(run.code(), 3, "{}", run.transcript());
    let out = run.json();
    let kept = out["destroy"]["kept"].as_array().unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].as_str().unwrap().ends_with(&made.owned_volume));
    assert_eq!(out["destroy"]["removed"], false);
    let left = rt().block_on(still(moto));
    assert!(left.volumes.contains(&made.owned_volume), "{left:?}");
    assert_eq!(
        left.load_balancers,
        vec![made.untagged_load_balancer.clone()]
    );
    assert!(left.interfaces.is_empty() && left.target_groups.is_empty());
    assert_eq!(
        rt().block_on(census(moto, &d.stack_id, name)),
        Census::default()
    );
    // The stack stays listed with the volume in its state.
    let state = home.state(name);
    let resources = state["resources"].as_object().unwrap();
    assert_eq!(resources.len(), 1, "{resources:?}");
    let (_, volume) = resources.iter().next().unwrap();
    assert_eq!(volume["physical_id"], made.owned_volume);
    assert_eq!(volume["found"]["retain"], true);

    let run = aws(&home, moto, &["destroy", name, "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(
        !rt()
            .block_on(still(moto))
            .volumes
            .contains(&made.owned_volume)
    );
    assert!(!home.path(&format!("stacks/{name}/state.json")).exists());
}

#[test]
fn the_census_after_destroy_deletes_what_carries_the_stack_tags_but_no_state_recorded() {
    let moto = &moto::start();
    let home = Home::new();
    let name = "census";
    let run = deploy_without_cluster(&home, moto, name, &[]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let state = home.state(name);
    let stack_id = state["stack"]["id"].as_str().unwrap().to_owned();
    // A bucket (tagging API) and a repository (listed by ECR) with the stack's tags that no
    // state knows of, as a create whose record was lost would leave them.
    let (bucket, repo) = (format!("{name}-stray-bucket"), format!("{name}-stray-repo"));
    rt().block_on(async {
        stray_bucket(moto, &bucket, &stack_id, true).await;
        let config = moto.sdk().await;
        let ecr = aws_sdk_ecr::Client::new(&config);
        ecr.create_repository()
            .repository_name(&repo)
            .tags(
                aws_sdk_ecr::types::Tag::builder()
                    .key("stackform:stack-id")
                    .value(&stack_id)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    });

    let run = aws(&home, moto, &["destroy", name, "--yes", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let census_out = &run.json()["destroy"]["census"];
    let swept = census_out["swept"].to_string();
    assert!(swept.contains(&format!("arn:aws:s3:::{bucket}")), "{swept}");
    assert!(swept.contains(&repo), "{swept}");
    assert_eq!(census_out["remaining"], serde_json::json!([]));
    assert_eq!(
        rt().block_on(census(moto, &stack_id, name)),
        Census::default()
    );
    let human = aws(&home, moto, &["stack", "list"]);
    assert!(!human.stdout().contains(name), "{}", human.transcript());
}

#[test]
fn sweep_finds_a_lost_stack_by_its_tags_shows_it_and_deletes_it_only_with_yes() {
    let moto = &moto::start();
    let home = Home::new();
    let name = "lost";
    let run = aws(&home, moto, &["deploy", "aws", "--name", name, "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let d = deployed(&home, name);
    // The objects inside the cluster are not looked for: they go with it (drained first).
    let in_state = home.state(name)["resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| !r["type"].as_str().unwrap().starts_with("kubernetes."))
        .count();
    let made = rt().block_on(make_leftovers(moto, &d));
    std::fs::remove_dir_all(home.path(&format!("stacks/{name}"))).unwrap();
    let deployed_census = rt().block_on(census(moto, &d.stack_id, name));

    // Without --yes: everything is listed, nothing is deleted.
    let dry = aws(&home, moto, &["sweep", "--stack", name, "--output", "json"]);
    assert_eq!(dry.code(), 0, "{}", dry.transcript());
    let out = dry.json();
    assert_eq!(out["sweep"]["deleted"], false);
    let stacks = out["sweep"]["stacks"].as_array().unwrap();
    assert_eq!(stacks.len(), 1, "{out}");
    assert_eq!(stacks[0]["id"], d.stack_id);
    let listed: Vec<String> = stacks[0]["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "delete")
        .map(|c| c["type"].as_str().unwrap().to_owned())
        .collect();
    // Every resource the state had and the cluster's ten leftovers.
    assert!(
        listed.len() >= in_state + 10,
        "{} listed for {in_state} in state: {listed:?}",
        listed.len()
    );
    assert_eq!(
        rt().block_on(census(moto, &d.stack_id, name)),
        deployed_census
    );
    assert!(rt().block_on(still(moto)).load_balancers.len() == 3);

    let run = aws(&home, moto, &["sweep", "--stack", name, "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(
        rt().block_on(census(moto, &d.stack_id, name)),
        Census::default()
    );
    let left = rt().block_on(still(moto));
    assert_eq!(left, only_noise(&made));
    // A second sweep finds nothing.
    let again = aws(
        &home,
        moto,
        &["sweep", "--stack-id", &d.stack_id, "--output", "json"],
    );
    assert_eq!(again.code(), 0, "{}", again.transcript());
    assert_eq!(again.json()["sweep"]["stacks"], serde_json::json!([]));
}

#[test]
fn sweep_refuses_a_stack_that_has_its_state() {
    let moto = &moto::start();
    let home = Home::new();
    let run = deploy_without_cluster(&home, moto, "kept", &[]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let run = aws(&home, moto, &["sweep", "--stack", "kept", "--yes"]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("stackform destroy kept"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        home.state("kept")["resources"].as_object().unwrap().len(),
        3
    );
}

fn aws_at(home: &Home, moto: &Moto, now: &str, args: &[&str]) -> crate::harness::Run {
    let mut env = moto.env();
    env.push(("STACKFORM_TEST_NOW", now.to_owned()));
    home.run_with(args, &env)
}

#[test]
fn expired_stacks_are_reaped_from_state_and_by_tags_and_unexpired_ones_are_not() {
    let moto = &moto::start();
    let home = Home::new();
    let t0 = "2026-12-01T12:00:00Z";
    let cheap = ["--var", "orchestrator=none", "--yes"];
    for (name, ttl) in [("short", "1h"), ("long", "5h"), ("orphan", "1h")] {
        let mut args = vec!["deploy", "aws", "--name", name, "--ttl", ttl];
        args.extend(cheap);
        let run = aws_at(&home, moto, t0, &args);
        assert_eq!(run.code(), 0, "{}", run.transcript());
    }
    let ids: BTreeMap<&str, String> = ["short", "long", "orphan"]
        .into_iter()
        .map(|n| (n, home.stack_id(n)))
        .collect();
    assert_eq!(
        home.state("short")["stack"]["expires_at"],
        "2026-12-01T13:00:00Z"
    );
    // Every resource carries the expiry: checked on the bucket and the repository.
    let bucket = physical_id(&home.state("orphan"), "artifacts");
    let (bucket_tags, repo_tags) = rt().block_on(async {
        let config = moto.sdk().await;
        let s3 = crate::harness::moto::s3(&config);
        let b = s3
            .get_bucket_tagging()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        let b: BTreeMap<String, String> = b
            .tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect();
        let ecr = aws_sdk_ecr::Client::new(&config);
        let repo = ecr
            .describe_repositories()
            .send()
            .await
            .unwrap()
            .repositories()
            .iter()
            .find(|r| r.repository_name().unwrap().starts_with("orphan-"))
            .unwrap()
            .repository_arn()
            .unwrap()
            .to_owned();
        let r = ecr
            .list_tags_for_resource()
            .resource_arn(repo)
            .send()
            .await
            .unwrap();
        let r: BTreeMap<String, String> = r
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect();
        (b, r)
    });
    for tags in [&bucket_tags, &repo_tags] {
        assert_eq!(
            tags.get("stackform:expires-at").map(String::as_str),
            Some("2026-12-01T13:00:00Z"),
            "{tags:?}"
        );
    }
    let listed = aws_at(&home, moto, "2026-12-01T12:30:00Z", &["stack", "list"]);
    assert!(
        listed.stderr().contains("30m left") || listed.stdout().contains("30m left"),
        "{}",
        listed.transcript()
    );
    // Extending a TTL moves every resource's tag.
    let run = aws_at(
        &home,
        moto,
        t0,
        &[
            "deploy",
            "aws",
            "--name",
            "long",
            "--ttl",
            "10h",
            "--var",
            "orchestrator=none",
            "--yes",
            "--output",
            "json",
        ],
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(
        run.json()["deploy"]["plan"]["summary"]["change"],
        3,
        "{}",
        run.stdout()
    );
    let long_bucket = physical_id(&home.state("long"), "artifacts");
    let moved = rt().block_on(async {
        let config = moto.sdk().await;
        let s3 = crate::harness::moto::s3(&config);
        let t = s3
            .get_bucket_tagging()
            .bucket(&long_bucket)
            .send()
            .await
            .unwrap();
        t.tag_set()
            .iter()
            .find(|t| t.key() == "stackform:expires-at")
            .map(|t| t.value().to_owned())
    });
    assert_eq!(moved.as_deref(), Some("2026-12-01T22:00:00Z"));
    // The orphan loses its state: only its tags remain to find it by.
    std::fs::remove_dir_all(home.path("stacks/orphan")).unwrap();

    let later = "2026-12-01T14:00:00Z";
    let dry = aws_at(&home, moto, later, &["reap", "--output", "json"]);
    assert_eq!(dry.code(), 0, "{}", dry.transcript());
    let stacks = dry.json()["reap"]["stacks"].clone();
    let by_name = |n: &str| {
        stacks
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == n)
            .unwrap_or_else(|| panic!("{n} not in {stacks}"))
            .clone()
    };
    assert_eq!(by_name("short")["expired"], true);
    assert_eq!(by_name("short")["found_in"], "state");
    assert_eq!(by_name("orphan")["expired"], true);
    assert_eq!(by_name("orphan")["found_in"], "tags");
    assert_eq!(by_name("long")["expired"], false);
    assert_eq!(by_name("short")["outcome"], "would be destroyed");
    for n in ["short", "orphan", "long"] {
        assert_ne!(
            rt().block_on(census(moto, &ids[n], n)),
            Census::default(),
            "a dry run deleted {n}"
        );
    }

    let run = aws_at(&home, moto, later, &["reap", "--yes", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    for n in ["short", "orphan"] {
        assert_eq!(
            rt().block_on(census(moto, &ids[n], n)),
            Census::default(),
            "{n}"
        );
    }
    let long = rt().block_on(census(moto, &ids["long"], "long"));
    assert_eq!(
        long.buckets.len(),
        1,
        "the unexpired stack was touched: {long:?}"
    );
    assert_eq!(
        home.state("long")["resources"].as_object().unwrap().len(),
        3
    );
    assert!(!home.path("stacks/short/state.json").exists());
}

#[test]
fn plan_and_stack_list_show_what_the_stack_costs_to_run() {
    let moto = &moto::start();
    let home = Home::new();
    let run = aws(&home, moto, &["plan", "aws", "--name", "costs"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let human = run.stdout();
    let cost_section = &human[human.find("Estimated cost").expect("a cost section")..];
    crate::harness::settings().bind(|| insta::assert_snapshot!("plan_aws_cost", cost_section));

    // The estimate follows the inputs: 3 × m5.large in eu-west-1 (EKS is $0.10/h everywhere).
    let run = aws(
        &home,
        moto,
        &[
            "plan",
            "aws",
            "--name",
            "costs",
            "--var",
            "node_count=3",
            "--var",
            "node_instance_type=m5.large",
            "--var",
            "region=eu-west-1",
            "--output",
            "json",
        ],
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let cost = run.json()["plan"]["cost"].clone();
    let hourly = cost["hourly"].as_f64().unwrap();
    assert!((hourly - (0.10 + 3.0 * 0.107)).abs() < 1e-9, "{cost}");
    assert!((cost["monthly"].as_f64().unwrap() - hourly * 730.0).abs() < 1e-6);
    assert_eq!(
        cost["usage_based"],
        serde_json::json!(["artifacts", "registry"])
    );
    assert_eq!(cost["prices"][0]["region"], "eu-west-1");

    // A running stack's rate, from its state.
    let run = aws(&home, moto, &["deploy", "aws", "--name", "costs", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let list = aws(&home, moto, &["stack", "list"]);
    assert!(list.stdout().contains("$0.1960/h"), "{}", list.transcript());
    let json = aws(&home, moto, &["stack", "list", "--output", "json"]).json();
    let rate = json["stacks"][0]["cost"]["hourly"].as_f64().unwrap();
    assert!((rate - 0.196).abs() < 1e-9, "{json}");
    // An instance type the price table does not know is named, not guessed.
    let run = aws(
        &home,
        moto,
        &[
            "plan",
            "aws",
            "--name",
            "costs",
            "--var",
            "node_instance_type=x9.huge",
            "--output",
            "json",
        ],
    );
    assert_eq!(
        run.json()["plan"]["cost"]["unpriced"],
        serde_json::json!(["nodes"])
    );
    assert_eq!(aws(&home, moto, &["destroy", "costs", "--yes"]).code(), 0);
}

#[test]
fn what_the_census_cannot_delete_is_named_by_arn_and_the_destroy_fails() {
    let (_server, proxy, home) = cheap_through_proxy("stuck");
    let moto = &proxy.moto();
    let name = "stuck";
    let stack_id = home.stack_id(name);
    let stray = format!("{name}-stray");
    rt().block_on(stray_bucket(moto, &stray, &stack_id, false));
    // The identity may not delete that bucket.
    proxy.deny(&format!("DELETE /{stray}/"));
    let run = aws(&home, moto, &["destroy", name, "--yes"]);
    assert_eq!(run.code(), 1, "{}", run.transcript());
    let arn = format!("arn:aws:s3:::{stray}");
    assert!(
        run.stderr().contains("Still in the cloud") && run.stderr().contains(&arn),
        "{}",
        run.stderr()
    );
    // The stack stays, recording what is left, for the next destroy.
    let state = home.state(name);
    let left: Vec<&str> = state["resources"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| r["physical_id"].as_str().unwrap())
        .collect();
    assert_eq!(left, [stray.as_str()]);
}

#[test]
fn a_destroy_killed_among_the_leftovers_converges_on_the_next_run() {
    let moto = &moto::start();
    let home = Home::new();
    let name = "crashk";
    let mut noise: Option<Made> = None;
    // 16 resources and 10 leftovers: kill before the first delete, among the leftovers (which
    // follow the node group and cluster) and after the network started to go.
    for spec in [
        "intent:1", "intent:5", "intent:9", "call:6", "call:12", "call:20",
    ] {
        let run = aws(&home, moto, &["deploy", "aws", "--name", name, "--yes"]);
        assert_eq!(run.code(), 0, "{spec}: {}", run.transcript());
        let d = deployed(&home, name);
        let made = rt().block_on(make(moto, &d, noise.is_none()));
        if noise.is_none() {
            noise = Some(made);
        }
        let mut env = moto.env();
        env.push(("STACKFORM_TEST_CRASH_AT", spec.to_owned()));
        let crashed = home.run_with(&["destroy", name, "--yes"], &env);
        assert_eq!(
            crashed.code(),
            -1,
            "{spec}: not killed: {}",
            crashed.transcript()
        );
        let rerun = aws(&home, moto, &["destroy", name, "--yes"]);
        assert_eq!(rerun.code(), 0, "{spec}: rerun: {}", rerun.transcript());
        assert_eq!(
            rt().block_on(census(moto, &d.stack_id, name)),
            Census::default(),
            "{spec}"
        );
        let n = noise.as_ref().unwrap();
        assert_eq!(
            rt().block_on(still(moto)),
            only_noise(n),
            "{spec}: a leftover survived"
        );
    }
}

#[test]
fn an_expires_at_input_sets_the_ttl_and_a_malformed_one_is_refused() {
    let home = Home::new();
    let t = home.write(
        "ttl.yaml",
        "name: ttl\ninputs:\n  expires_at: { type: string, default: \"\" }\nresources:\n  thing:\n    type: sim.resource\n    properties: { name: a }\n",
    );
    let run = home.run(&[
        "deploy",
        &t,
        "--name",
        "ttl",
        "--yes",
        "--var",
        "expires_at=2026-12-24T18:00:00Z",
    ]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(
        home.state("ttl")["stack"]["expires_at"],
        "2026-12-24T18:00:00Z"
    );
    let list = home.run_with(
        &["stack", "list"],
        &[("STACKFORM_TEST_NOW", "2026-12-24T12:00:00Z")],
    );
    assert!(
        list.stdout().contains("6h 0m left"),
        "{}",
        list.transcript()
    );
    let list = home.run_with(
        &["stack", "list"],
        &[("STACKFORM_TEST_NOW", "2026-12-25T12:00:00Z")],
    );
    assert!(
        list.stdout().contains("expired 18h 0m ago"),
        "{}",
        list.transcript()
    );

    let serial = home.state("ttl")["serial"].clone();
    let bad = home.run(&[
        "deploy",
        &t,
        "--name",
        "ttl",
        "--yes",
        "--var",
        "expires_at=tomorrow",
    ]);
    assert_eq!(bad.code(), 2, "{}", bad.transcript());
    assert!(
        bad.stderr().contains("input `expires_at` is not a time"),
        "{}",
        bad.stderr()
    );
    assert!(bad.stderr().contains("ttl.yaml:3"), "{}", bad.stderr());
    assert_eq!(
        home.state("ttl")["serial"],
        serial,
        "a refused deploy changed the state"
    );
    assert_eq!(
        home.state("ttl")["stack"]["expires_at"],
        "2026-12-24T18:00:00Z"
    );
}

#[test]
fn a_deploy_that_drops_the_cluster_deletes_what_kubernetes_left_in_it_too() {
    let moto = &moto::start();
    let home = Home::new();
    let name = "shrink";
    let run = aws(&home, moto, &["deploy", "aws", "--name", name, "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let d = deployed(&home, name);
    let made = rt().block_on(make_leftovers(moto, &d));
    let cheap = ["--var", "orchestrator=none"];

    let mut args = vec!["plan", "aws", "--name", name, "--output", "json"];
    args.extend(cheap);
    let planned = aws(&home, moto, &args);
    assert_eq!(planned.code(), 0, "{}", planned.transcript());
    let found = planned.json()["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["reason"]
                .as_str()
                .is_some_and(|r| r.ends_with("not in state"))
        })
        .count();
    assert_eq!(found, 10, "{}", planned.stdout());

    let mut args = vec!["deploy", "aws", "--name", name, "--yes"];
    args.extend(cheap);
    let run = aws(&home, moto, &args);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(rt().block_on(still(moto)), only_noise(&made));
    // What remains is the cheap stack, and its state says so.
    let state = home.state(name);
    let mut kept: Vec<&str> = state["resources"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    kept.sort();
    assert_eq!(kept, ["artifacts", "registry", "stack_access_role"]);
    assert_eq!(aws(&home, moto, &["destroy", name, "--yes"]).code(), 0);
}

#[test]
fn a_census_that_cannot_list_says_so_and_keeps_the_stack() {
    let (_server, proxy, home) = cheap_through_proxy("blind");
    let moto = &proxy.moto();
    let name = "blind";
    let stack_id = home.stack_id(name);
    // The identity may delete, but not list by tag.
    proxy.deny("GetResources");
    let run = aws(&home, moto, &["destroy", name, "--yes", "--output", "json"]);
    assert_eq!(run.code(), 1, "{}", run.transcript());
    let census_out = run.json()["destroy"]["census"].clone();
    assert!(
        census_out["incomplete"]
            .as_str()
            .is_some_and(|w| w.contains("tag:GetResources")),
        "{census_out}"
    );
    assert_eq!(run.json()["destroy"]["removed"], false);
    // What could be deleted was; the stack stays listed to finish the check later.
    assert_eq!(
        rt().block_on(census(moto, &stack_id, name)),
        Census::default()
    );
    assert!(home.path(&format!("stacks/{name}/state.json")).exists());
}

#[test]
fn a_tagged_resource_of_a_kind_stackform_cannot_delete_keeps_the_census_from_passing() {
    let (_server, proxy, home) = cheap_through_proxy("odd");
    let moto = &proxy.moto();
    let stack_id = home.stack_id("odd");
    let gateway = rt().block_on(async {
        let config = moto.sdk().await;
        let ec2 = aws_sdk_ec2::Client::new(&config);
        ec2.create_customer_gateway()
            .r#type(aws_sdk_ec2::types::GatewayType::Ipsec1)
            .ip_address("198.51.100.7")
            .bgp_asn(65000)
            .tag_specifications(ec2_tags(
                ResourceType::CustomerGateway,
                &[("stackform:stack-id", &stack_id)],
            ))
            .send()
            .await
            .unwrap()
            .customer_gateway()
            .unwrap()
            .customer_gateway_id()
            .unwrap()
            .to_owned()
    });
    let run = aws(
        &home,
        moto,
        &["destroy", "odd", "--yes", "--output", "json"],
    );
    assert_eq!(run.code(), 1, "{}", run.transcript());
    let remaining = run.json()["destroy"]["census"]["remaining"].to_string();
    assert!(
        remaining.contains(&format!("customer-gateway/{gateway}")),
        "{remaining}"
    );
    // Its own resources are gone all the same; the stack stays to say so.
    assert_eq!(
        rt().block_on(census(moto, &stack_id, "odd")),
        Census::default()
    );
    assert!(home.path("stacks/odd/state.json").exists());
    // A sweep shows it and leaves it.
    std::fs::remove_dir_all(home.path("stacks/odd")).unwrap();
    let dry = aws(&home, moto, &["sweep", "--stack-id", &stack_id]);
    assert_eq!(dry.code(), 0, "{}", dry.transcript());
    assert!(
        dry.stdout().contains("of a kind stackform cannot delete"),
        "{}",
        dry.transcript()
    );
}

#[test]
fn a_targeted_plan_saved_on_a_stack_with_leftovers_applies_without_being_called_stale() {
    let moto = &moto::start();
    let home = Home::new();
    let name = "aimed";
    let run = aws(&home, moto, &["deploy", "aws", "--name", name, "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let d = deployed(&home, name);
    rt().block_on(make_leftovers(moto, &d));
    // Dropping the cluster, aimed at the cluster alone: its deletion takes what Kubernetes left
    // in it along, in the saved plan and in the deploy that applies it.
    let out = home.path("aimed.plan.json");
    let out = out.to_str().unwrap();
    let planned = aws(
        &home,
        moto,
        &[
            "plan",
            "aws",
            "--name",
            name,
            "--var",
            "orchestrator=none",
            "--target",
            "cluster",
            "--out",
            out,
            "--output",
            "json",
        ],
    );
    assert_eq!(planned.code(), 0, "{}", planned.transcript());
    let found = planned.json()["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["reason"]
                .as_str()
                .is_some_and(|r| r.ends_with("not in state"))
        })
        .count();
    assert_eq!(
        found,
        10,
        "the cluster's leftovers go with it: {}",
        planned.stdout()
    );
    let applied = aws(
        &home,
        moto,
        &["deploy", "--name", name, "--plan", out, "--yes"],
    );
    assert_eq!(applied.code(), 0, "{}", applied.transcript());
    assert!(!applied.transcript().contains("stale"));
    let state = home.state(name);
    assert!(
        state["resources"]["cluster"].is_null(),
        "the cluster is gone"
    );
    assert!(
        state["resources"]["artifacts"].is_object(),
        "the rest is untouched"
    );
    assert_eq!(aws(&home, moto, &["destroy", name, "--yes"]).code(), 0);
}

#[test]
fn a_cluster_whose_api_cannot_be_reached_is_not_drained_and_the_census_still_takes_its_load_balancer()
 {
    let moto = &moto::start();
    let home = Home::new();
    let name = "unreached";
    let run = aws(
        &home,
        moto,
        &[
            "deploy",
            "aws",
            "--name",
            name,
            "--var",
            "cluster_workloads=false",
            "--yes",
        ],
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let d = deployed(&home, name);
    // A pipeline's LoadBalancer Service, and its load balancer on AWS.
    moto.kube
        .cluster(&d.cluster)
        .put_load_balancer("default", "web");
    let web_lb = || {
        rt().block_on(async {
            let config = moto.sdk().await;
            let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
            moto::service_load_balancers(&elb, &d.cluster, "default/web").await
        })
    };
    assert_eq!(web_lb().0.len(), 1);

    // The cluster's API is out of reach (a closed port): no drain, a warning, and the census
    // after the cluster deletes the load balancer by its tags.
    let mut env = moto.env();
    for (k, v) in &mut env {
        if *k == "STACKFORM_KUBERNETES_ENDPOINT" {
            *v = format!("http://127.0.0.1:{}/clusters/{{cluster}}", closed_port());
        }
    }
    let destroy = home.run_with(&["destroy", name, "--yes"], &env);
    assert_eq!(destroy.code(), 0, "{}", destroy.transcript());
    let err = destroy.stderr();
    assert!(
        err.contains(&format!("warning: cluster {} was not drained", d.cluster))
            && err.contains("left to the census"),
        "{err}"
    );
    assert_eq!(
        rt().block_on(census(moto, &d.stack_id, name)),
        Census::default()
    );
    assert_eq!(web_lb(), (vec![], vec![]));
    let deletes = moto.kube.cluster(&d.cluster).deletes();
    assert!(deletes.is_empty(), "{deletes:?}");
}

#[test]
fn a_cluster_deleted_outside_stackform_needs_no_drain_and_takes_its_objects_along() {
    let moto = &moto::start();
    let home = Home::new();
    let name = "outside";
    let run = aws(&home, moto, &["deploy", "aws", "--name", name, "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let d = deployed(&home, name);
    let state = home.state(name);
    assert!(state["resources"]["pipelines_namespace"].is_object());
    let nodegroup = state["resources"]["nodes"]["physical_id"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    // Someone deletes the cluster with the console.
    rt().block_on(async {
        let config = moto.sdk().await;
        let eks = aws_sdk_eks::Client::new(&config);
        eks.delete_nodegroup()
            .cluster_name(&d.cluster)
            .nodegroup_name(&nodegroup)
            .send()
            .await
            .unwrap();
        eks.delete_cluster().name(&d.cluster).send().await.unwrap();
    });
    let destroy = aws(&home, moto, &["destroy", name, "--yes", "--output", "json"]);
    assert_eq!(destroy.code(), 0, "{}", destroy.transcript());
    assert_eq!(destroy.json()["destroy"]["removed"], true);
    assert!(
        !destroy.stderr().contains("not drained"),
        "{}",
        destroy.stderr()
    );
    assert_eq!(
        rt().block_on(census(moto, &d.stack_id, name)),
        Census::default()
    );
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
