//! Crash injection on the AWS stack against moto: SIGKILL at 30 points across deploy and
//! destroy; each time the next run converges, nothing is created twice (a census through the
//! SDK counts every resource), and destroy leaves nothing.

use super::aws::census;
use crate::harness::moto::{self, Moto};
use crate::harness::rt;
use crate::harness::{Home, Run};

fn aws(home: &Home, moto: &Moto, args: &[&str], crash: Option<&str>) -> Run {
    let mut env = moto.env();
    if let Some(spec) = crash {
        env.push(("STACKFORM_TEST_CRASH_AT", spec.to_owned()));
    }
    home.run_with(args, &env)
}

/// Counts of what exists for the stack: (buckets, repositories, roles, vpcs, subnets,
/// gateways, route tables, security groups, clusters), from the AWS suite's census of names
/// starting with `{prefix}-` and of the stack's tags.
fn count(moto: &Moto, stack_id: &str, prefix: &str) -> [usize; 9] {
    let c = rt().block_on(census(moto, stack_id, &format!("{prefix}-")));
    [
        c.buckets.len(),
        c.repositories.len(),
        c.roles.len(),
        c.vpcs,
        c.subnets,
        c.gateways,
        c.route_tables,
        c.security_groups,
        c.clusters.len(),
    ]
}

const FULL: [usize; 9] = [1, 1, 3, 1, 2, 1, 1, 1, 1];

fn deploy_crashes(name: &str, points: &[&str]) {
    let moto = &moto::start();
    let home = Home::new();
    for spec in points {
        let crashed = aws(
            &home,
            moto,
            &["deploy", "aws", "--name", name, "--yes"],
            Some(spec),
        );
        assert_eq!(
            crashed.code(),
            -1,
            "{spec}: not killed: {}",
            crashed.transcript()
        );
        let rerun = aws(
            &home,
            moto,
            &["deploy", "aws", "--name", name, "--yes"],
            None,
        );
        assert_eq!(rerun.code(), 0, "{spec}: rerun: {}", rerun.transcript());
        let id = home.stack_id(name);
        assert_eq!(
            count(moto, &id, name),
            FULL,
            "{spec}: duplicates or missing resources"
        );
        let state = home.state(name);
        assert_eq!(state["resources"].as_object().unwrap().len(), 16, "{spec}");
        let destroy = aws(&home, moto, &["destroy", name, "--yes"], None);
        assert_eq!(
            destroy.code(),
            0,
            "{spec}: destroy: {}",
            destroy.transcript()
        );
        assert_eq!(
            count(moto, &id, name),
            [0; 9],
            "{spec}: destroy left something"
        );
    }
}

#[test]
fn aws_deploy_survives_crashes_after_intents() {
    deploy_crashes(
        "crashi",
        &[
            "intent:1",
            "intent:2",
            "intent:3",
            "intent:5",
            "intent:7",
            "intent:9",
            "intent:11",
            "intent:12",
            "intent:13",
        ],
    );
}

#[test]
fn aws_deploy_survives_crashes_after_calls_and_in_snapshots() {
    deploy_crashes(
        "crashc",
        &[
            "call:1",
            "call:2",
            "call:4",
            "call:6",
            "call:8",
            "call:10",
            "call:12",
            "call:13",
            "snapshot:1",
            "snapshot:2",
        ],
    );
}

#[test]
fn aws_destroy_survives_crashes() {
    let moto = &moto::start();
    let home = Home::new();
    let name = "crashd";
    for spec in [
        "intent:1",
        "intent:3",
        "intent:5",
        "intent:7",
        "intent:10",
        "intent:13",
        "call:1",
        "call:2",
        "call:5",
        "call:8",
        "call:11",
        "call:13",
    ] {
        let deploy = aws(
            &home,
            moto,
            &["deploy", "aws", "--name", name, "--yes"],
            None,
        );
        assert_eq!(deploy.code(), 0, "{spec}: {}", deploy.transcript());
        let id = home.stack_id(name);
        let crashed = aws(&home, moto, &["destroy", name, "--yes"], Some(spec));
        assert_eq!(
            crashed.code(),
            -1,
            "{spec}: not killed: {}",
            crashed.transcript()
        );
        let rerun = aws(&home, moto, &["destroy", name, "--yes"], None);
        assert_eq!(rerun.code(), 0, "{spec}: rerun: {}", rerun.transcript());
        assert_eq!(
            count(moto, &id, name),
            [0; 9],
            "{spec}: destroy left something"
        );
    }
}

#[test]
fn deploy_and_destroy_succeed_through_throttling_errors_resets_and_latency() {
    let moto = &moto::start();
    let proxy = crate::harness::proxy::start(&moto.url, 100, 0x5eed_f00d);
    let faulty = proxy.moto();
    let home = Home::new();
    let name = "faulty";
    let run = aws(
        &home,
        &faulty,
        &["deploy", "aws", "--name", name, "--yes"],
        None,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let id = home.stack_id(name);
    // Counted directly against moto: nothing missing, nothing created twice.
    assert_eq!(count(moto, &id, name), FULL);
    let state = home.state(name);
    let destroy = aws(&home, &faulty, &["destroy", name, "--yes"], None);
    assert_eq!(destroy.code(), 0, "{}", destroy.transcript());
    let roles: Vec<String> = proxy
        .log()
        .into_iter()
        .filter(|l| l.contains("Role"))
        .collect();
    assert_eq!(
        count(moto, &id, name),
        [0; 9],
        "deploy:\n{}\nstate before destroy: {}\ndestroy:\n{}\nrole calls: {roles:?}",
        run.transcript(),
        state["resources"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
        destroy.transcript()
    );
    assert!(
        proxy.injected() >= 5,
        "only {} faults were injected",
        proxy.injected()
    );
}

#[test]
fn destroy_deletes_in_the_order_aws_demands() {
    // moto deletes subnets still in use and attached policies; AWS does not. The order of the
    // delete calls is therefore checked from the request log.
    let moto = &moto::start();
    let proxy = crate::harness::proxy::start(&moto.url, 0, 0);
    let logged = proxy.moto();
    let home = Home::new();
    let name = "order";
    assert_eq!(
        aws(
            &home,
            &logged,
            &["deploy", "aws", "--name", name, "--yes"],
            None
        )
        .code(),
        0
    );
    let before = proxy.log().len();
    let destroy = aws(&home, &logged, &["destroy", name, "--yes"], None);
    assert_eq!(destroy.code(), 0, "{}", destroy.transcript());
    let log: Vec<String> = proxy.log()[before..].to_vec();
    let first = |what: &str| {
        log.iter()
            .position(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what} in {log:#?}"))
    };
    let last = |what: &str| {
        log.iter()
            .rposition(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what} in {log:#?}"))
    };
    // The node group goes before the cluster, the cluster before its network and roles.
    assert!(last("DELETE /clusters/") > first("node-groups"), "{log:#?}");
    let cluster_deleted = log
        .iter()
        .position(|l| l.starts_with("DELETE /clusters/") && !l.contains("node-groups"))
        .unwrap();
    assert!(cluster_deleted < first("DeleteSubnet"), "{log:#?}");
    assert!(cluster_deleted < first("DeleteSecurityGroup"), "{log:#?}");
    // Roles: policies detached before the role is deleted.
    assert!(last("DetachRolePolicy") < last("DeleteRole"), "{log:#?}");
    // Routes and gateway before subnets' VPC; the VPC last of the network.
    assert!(
        first("DisassociateRouteTable") < first("DeleteRouteTable"),
        "{log:#?}"
    );
    assert!(
        first("DetachInternetGateway") < first("DeleteInternetGateway"),
        "{log:#?}"
    );
    let vpc = first("DeleteVpc");
    for before_vpc in [
        "DeleteSubnet",
        "DeleteSecurityGroup",
        "DeleteInternetGateway",
        "DeleteRouteTable",
    ] {
        assert!(
            last(before_vpc) < vpc,
            "{before_vpc} after DeleteVpc: {log:#?}"
        );
    }
}
