//! Day-2 state refactoring: `state mv` after renaming an address (no replacement), `state rm`
//! (the resource stays in the cloud and destroy leaves it).

use super::aws::deploy_without_cluster;
use crate::harness::{Home, physical_id, summary};

const T: &str = "name: t\nresources:\n  db:\n    type: sim.store\n    properties: { name: db }\n  app:\n    type: sim.resource\n    properties: { name: app, data: \"${db.arn}\" }\n";

#[test]
fn state_mv_follows_a_renamed_address_without_replacing_anything() {
    let home = Home::new();
    let t = home.write("t.yaml", T);
    assert_eq!(home.run(&["deploy", &t, "--name", "mv", "--yes"]).code(), 0);
    let before: Vec<String> = home.world().into_iter().map(|w| w.id).collect();
    let renamed = home.write(
        "renamed.yaml",
        &T.replace("  db:\n", "  database:\n")
            .replace("${db.arn}", "${database.arn}"),
    );
    // Without the move, the plan would delete `db` and create `database`.
    let plan = home
        .run(&["plan", &renamed, "--name", "mv", "--output", "json"])
        .json();
    assert_eq!(plan["plan"]["summary"]["destroy"], 1, "{plan}");

    let run = home.run(&["state", "mv", "mv", "db", "database"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let plan = home
        .run(&["plan", &renamed, "--name", "mv", "--output", "json"])
        .json();
    let s = &plan["plan"]["summary"];
    assert_eq!(
        (
            s["add"].as_u64(),
            s["destroy"].as_u64(),
            s["replace"].as_u64(),
            s["change"].as_u64()
        ),
        (Some(0), Some(0), Some(0), Some(0)),
        "{plan}"
    );
    assert_eq!(
        home.state("mv")["resources"]["app"]["dependencies"],
        serde_json::json!(["database"])
    );
    let after: Vec<String> = home.world().into_iter().map(|w| w.id).collect();
    assert_eq!(before, after, "the cloud changed");

    for (args, says) in [
        (
            vec!["state", "mv", "mv", "nope", "x"],
            "has no resource `nope`",
        ),
        (
            vec!["state", "mv", "mv", "app", "database"],
            "already has a resource at `database`",
        ),
        (vec!["state", "mv", "mv", "app", "9bad"], "not an address"),
    ] {
        let run = home.run(&args);
        assert_eq!(run.code(), 2, "{args:?}: {}", run.transcript());
        assert!(run.stderr().contains(says), "{args:?}: {}", run.stderr());
    }
}

#[test]
fn state_rm_lets_a_resource_go_and_destroy_leaves_it_in_the_cloud() {
    let moto = crate::harness::moto::start();
    let home = Home::new();
    let env = moto.env();
    let run = deploy_without_cluster(&home, &moto, "keepone", &[]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let repo = physical_id(&home.state("keepone"), "registry");
    let run = home.run_with(&["state", "rm", "keepone", "registry"], &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(home.state("keepone")["resources"].get("registry").is_none());

    let run = home.run_with(&["destroy", "keepone", "--yes", "--output", "json"], &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let unmanaged = run.json()["destroy"]["census"]["unmanaged"].to_string();
    assert!(unmanaged.contains(&repo), "{unmanaged}");
    let still = crate::harness::rt().block_on(async {
        let config = moto.sdk().await;
        aws_sdk_ecr::Client::new(&config)
            .describe_repositories()
            .repository_names(&repo)
            .send()
            .await
            .is_ok()
    });
    assert!(still, "the forgotten repository was deleted");
}

#[test]
fn refresh_only_reports_drift_for_ci_and_records_nothing() {
    let moto = crate::harness::moto::start();
    let home = Home::new();
    let env = moto.env();
    let run = deploy_without_cluster(&home, &moto, "drifty", &[]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let args = [
        "plan",
        "--refresh-only",
        "--name",
        "drifty",
        "--detailed-exitcode",
        "--output",
        "json",
    ];
    let clean = home.run_with(&args, &env);
    assert_eq!(clean.code(), 0, "{}", clean.transcript());
    assert_eq!(clean.json()["drift"]["resources"], serde_json::json!([]));

    let state = home.state("drifty");
    let bucket = physical_id(&state, "artifacts");
    let repo = physical_id(&state, "registry");
    crate::harness::rt().block_on(async {
        let config = moto.sdk().await;
        let s3 = crate::harness::moto::s3(&config);
        s3.put_bucket_versioning()
            .bucket(&bucket)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        aws_sdk_ecr::Client::new(&config)
            .delete_repository()
            .repository_name(&repo)
            .force(true)
            .send()
            .await
            .unwrap();
    });
    let serial = home.state("drifty")["serial"].clone();
    let run = home.run_with(&args, &env);
    assert_eq!(run.code(), 5, "{}", run.transcript());
    let resources = run.json()["drift"]["resources"].clone();
    let by = |a: &str| {
        resources
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == a)
            .cloned()
    };
    assert_eq!(by("registry").unwrap()["status"], "gone", "{resources}");
    let artifacts = by("artifacts").unwrap_or_else(|| panic!("{resources}"));
    assert_eq!(artifacts["status"], "changed");
    let versioning = artifacts["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "versioning")
        .unwrap_or_else(|| panic!("{artifacts}"))
        .clone();
    assert_eq!(versioning["before"], serde_json::json!({"value": true}));
    assert_eq!(versioning["after"], serde_json::json!({"value": false}));
    assert_eq!(
        home.state("drifty")["serial"],
        serial,
        "refresh-only recorded something"
    );
    assert!(by("stack_access_role").is_none(), "{resources}");
}

/// Deploys the aws template as `name` (with `extra` inputs), loses its state, rebuilds it from
/// the cloud and returns the plan that follows.
fn rebuilt_plan(name: &str, extra: &[&str]) -> serde_json::Value {
    let moto = crate::harness::moto::start();
    let home = Home::new();
    let env = moto.env();
    let mut args = vec!["deploy", "aws", "--name", name, "--yes"];
    args.extend(extra);
    let run = home.run_with(&args, &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let before = home.state(name);
    let id = before["stack"]["id"].as_str().unwrap().to_owned();
    std::fs::remove_dir_all(home.path(&format!("stacks/{name}"))).unwrap();

    let mut args = vec![
        "state",
        "rebuild",
        name,
        "--stack-id",
        &id,
        "--template",
        "aws",
    ];
    args.extend(extra);
    let run = home.run_with(&args, &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let after = home.state(name);
    assert_eq!(after["stack"]["suffix"], before["stack"]["suffix"]);
    let (mut a, mut b): (Vec<&String>, Vec<&String>) = (
        before["resources"].as_object().unwrap().keys().collect(),
        after["resources"].as_object().unwrap().keys().collect(),
    );
    a.sort();
    b.sort();
    assert_eq!(a, b, "addresses differ");
    for (addr, r) in before["resources"].as_object().unwrap() {
        assert_eq!(
            r["physical_id"], after["resources"][addr]["physical_id"],
            "{addr}"
        );
    }
    let mut args = vec!["plan", "aws", "--name", name, "--output", "json"];
    args.extend(extra);
    home.run_with(&args, &env).json()
}

#[test]
fn a_lost_state_is_rebuilt_from_tags_and_the_next_plan_changes_nothing() {
    let plan = rebuilt_plan("rebuilt", &["--var", "orchestrator=none"]);
    assert_eq!(
        summary(&plan),
        (0, 0, 0, 0),
        "{:#}",
        plan["plan"]["changes"]
    );
}

#[test]
fn the_full_aws_stack_is_rebuilt_with_its_cluster_and_network() {
    let plan = rebuilt_plan("rebuiltk", &[]);
    assert_eq!(
        summary(&plan),
        (0, 0, 0, 0),
        "{}",
        plan["plan"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["action"] != "noop")
            .map(|c| format!("{c:#}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn state_rm_then_import_gives_an_empty_plan() {
    let moto = crate::harness::moto::start();
    let home = Home::new();
    let env = moto.env();
    assert_eq!(deploy_without_cluster(&home, &moto, "adopt", &[]).code(), 0);
    let cheap = ["--var", "orchestrator=none"];
    let repo = physical_id(&home.state("adopt"), "registry");
    assert_eq!(
        home.run_with(&["state", "rm", "adopt", "registry"], &env)
            .code(),
        0
    );
    let mut plan = vec!["plan", "aws", "--name", "adopt", "--output", "json"];
    plan.extend(cheap);
    // Forgotten, the template would create it again.
    assert_eq!(
        home.run_with(&plan, &env).json()["plan"]["summary"]["add"],
        1
    );

    let run = home.run_with(&["import", "adopt", "registry", &repo], &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let planned = home.run_with(&plan, &env).json();
    assert_eq!(
        summary(&planned),
        (0, 0, 0, 0),
        "{}",
        planned["plan"]["summary"]
    );
    for (args, code, says) in [
        (
            vec!["import", "adopt", "registry", &repo],
            2,
            "already manages `registry`",
        ),
        (
            vec!["import", "adopt", "nowhere", "x"],
            2,
            "has no resource `nowhere`",
        ),
    ] {
        let run = home.run_with(&args, &env);
        assert_eq!(run.code(), code, "{}", run.transcript());
        assert!(run.stderr().contains(says), "{}", run.stderr());
    }
}

const CHAIN: &str = "name: chain\ninputs:\n  size: { type: integer, default: 1 }\nresources:\n  a:\n    type: sim.resource\n    properties: { name: a }\n  b:\n    type: sim.resource\n    properties: { name: b, data: \"${a.arn}\" }\n  c:\n    type: sim.resource\n    properties: { name: c, data: \"${b.arn}\", size: \"${inputs.size}\" }\n  d:\n    type: sim.resource\n    properties: { name: d, size: \"${inputs.size}\" }\n";

fn actions(run: &crate::harness::Run, key: &str) -> Vec<(String, String)> {
    let doc = run.json();
    doc[key]["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "noop")
        .map(|c| {
            (
                c["address"].as_str().unwrap().to_owned(),
                c["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn target_and_replace_change_only_what_they_name() {
    let home = Home::new();
    let t = home.write("chain.yaml", CHAIN);
    assert_eq!(home.run(&["deploy", &t, "--name", "tg", "--yes"]).code(), 0);

    // Both c and d would change; --target c touches c alone (and what it needs).
    let run = home.run(&[
        "deploy", &t, "--name", "tg", "--yes", "--var", "size=2", "--target", "c", "--output",
        "json",
    ]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(
        actions(&run, "deploy"),
        [("c".to_owned(), "update".to_owned())]
    );
    let state = home.state("tg");
    assert_eq!(state["resources"]["c"]["properties"]["size"], 2);
    assert_eq!(state["resources"]["d"]["properties"]["size"], 1);

    // --replace replaces what it names, and only that.
    let run = home.run(&[
        "deploy",
        &t,
        "--name",
        "tg",
        "--yes",
        "--replace",
        "a",
        "--target",
        "a",
        "--output",
        "json",
    ]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(
        actions(&run, "deploy"),
        [("a".to_owned(), "replace".to_owned())]
    );
    let run = home.run(&["plan", &t, "--name", "tg", "--replace", "nope"]);
    assert_eq!(run.code(), 2, "{}", run.transcript());

    // What reads a replaced resource's outputs (b reads a's arn) sees them unknown until the
    // replacement exists, and is updated with what it gets.
    let run = home.run(&[
        "deploy",
        &t,
        "--name",
        "tg",
        "--yes",
        "--var",
        "size=2",
        "--replace",
        "a",
        "--target",
        "b",
        "--output",
        "json",
    ]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(
        actions(&run, "deploy"),
        [
            ("a".to_owned(), "replace".to_owned()),
            ("b".to_owned(), "update".to_owned())
        ]
    );
    let doc = run.json();
    let b = doc["deploy"]["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "b")
        .unwrap();
    let data = b["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "data")
        .unwrap_or_else(|| panic!("{b}"));
    assert_eq!(data["after"]["unknown"], true, "{b}");
    let state = home.state("tg");
    assert_eq!(
        state["resources"]["b"]["properties"]["data"],
        state["resources"]["a"]["outputs"]["arn"]
    );

    // A saved plan keeps its --target: applying it changes d alone, and it cannot be re-aimed.
    let saved = home.path("d.plan");
    let saved = saved.to_str().unwrap();
    let run = home.run(&[
        "plan", &t, "--name", "tg", "--var", "size=3", "--target", "d", "--out", saved,
    ]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let run = home.run(&[
        "deploy", "--name", "tg", "--plan", saved, "--yes", "--target", "c",
    ]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("cannot change a saved plan"),
        "{}",
        run.stderr()
    );
    let run = home.run(&[
        "deploy", "--name", "tg", "--plan", saved, "--yes", "--output", "json",
    ]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(
        actions(&run, "deploy"),
        [("d".to_owned(), "update".to_owned())]
    );
    let state = home.state("tg");
    assert_eq!(state["resources"]["d"]["properties"]["size"], 3);
    assert_eq!(state["resources"]["c"]["properties"]["size"], 2);

    // Destroy honours --target: b and what depends on it (c) go; a and d stay, and so does the stack.
    let run = home.run(&[
        "destroy", "tg", "--yes", "--target", "b", "--output", "json",
    ]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let mut gone = actions(&run, "destroy");
    gone.sort();
    assert_eq!(
        gone,
        [
            ("b".to_owned(), "delete".to_owned()),
            ("c".to_owned(), "delete".to_owned())
        ]
    );
    let mut left: Vec<String> = home.world().into_iter().map(|w| w.address).collect();
    left.sort();
    assert_eq!(left, ["a", "d"]);
    assert!(home.path("stacks/tg/state.json").exists());
}

#[test]
fn a_moved_entry_moves_instead_of_destroying_and_creating() {
    let home = Home::new();
    let t = home.write("t.yaml", T);
    assert_eq!(
        home.run(&["deploy", &t, "--name", "mvd", "--yes"]).code(),
        0
    );
    let before: Vec<String> = home.world().into_iter().map(|w| w.id).collect();
    let moved = format!(
        "{}moved:\n  - {{ from: db, to: database }}\n",
        T.replace("  db:\n", "  database:\n")
            .replace("${db.arn}", "${database.arn}")
    );
    let m = home.write("moved.yaml", &moved);
    let run = home.run(&["plan", &m, "--name", "mvd"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(
        run.stdout().contains("(moved from `db`)"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout().contains("0 to destroy, 1 to move."),
        "{}",
        run.stdout()
    );
    let run = home.run(&["deploy", &m, "--name", "mvd", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let state = home.state("mvd");
    assert!(state["resources"].get("db").is_none());
    assert_eq!(
        state["resources"]["app"]["dependencies"],
        serde_json::json!(["database"])
    );
    let after: Vec<String> = home.world().into_iter().map(|w| w.id).collect();
    assert_eq!(before, after, "the cloud changed");
    let again = home.run(&["plan", &m, "--name", "mvd", "--detailed-exitcode"]);
    assert_eq!(again.code(), 0, "{}", again.transcript());

    // A moved entry must point at a resource and move one that is gone.
    let bad = home.write(
        "bad.yaml",
        &format!("{T}moved:\n  - {{ from: app, to: db }}\n"),
    );
    let run = home.run(&["plan", &bad, "--name", "mvd"]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("still a resource of the template"),
        "{}",
        run.stderr()
    );
}

#[test]
fn renaming_the_eks_clusters_address_never_replaces_the_cluster() {
    let moto = crate::harness::moto::start();
    let home = Home::new();
    let env = moto.env();
    let source =
        std::fs::read_to_string(crate::harness::repo_root().join("templates/aws.yaml")).unwrap();
    let original = home.write("aws.yaml", &source);
    assert_eq!(
        home.run_with(&["deploy", &original, "--name", "rename", "--yes"], &env)
            .code(),
        0
    );
    let cluster = home.state("rename")["resources"]["cluster"]["physical_id"].clone();
    let renamed = format!(
        "{}\nmoved:\n  - {{ from: cluster, to: eks }}\n",
        source
            .replace("\n  cluster:\n", "\n  eks:\n")
            .replace("${cluster.", "${eks.")
    );
    let r = home.write("renamed.yaml", &renamed);
    let run = home.run_with(
        &[
            "deploy", &r, "--name", "rename", "--yes", "--output", "json",
        ],
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let summary = run.json()["deploy"]["plan"]["summary"].clone();
    assert_eq!(
        (
            summary["replace"].as_u64(),
            summary["destroy"].as_u64(),
            summary["add"].as_u64()
        ),
        (Some(0), Some(0), Some(0)),
        "{summary}"
    );
    assert_eq!(summary["moved"], 1);
    assert_eq!(
        home.state("rename")["resources"]["eks"]["physical_id"],
        cluster
    );
    assert_eq!(
        home.run_with(&["destroy", "rename", "--yes"], &env).code(),
        0
    );
}

#[test]
fn refresh_reads_a_large_stack_in_bulk() {
    let home = Home::new();
    let t = home.write("dag.yaml", &crate::harness::sim_dag(200, |_| String::new()));
    let run = home.run(&["deploy", &t, "--name", "bulk", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let counter = home.path("sim/calls/read-requests");
    let reads = || {
        std::fs::read_to_string(&counter)
            .map(|t| t.trim().parse::<u64>().unwrap())
            .unwrap_or(0)
    };
    let _ = std::fs::remove_file(&counter);
    // A redeploy refreshes all 200 resources first.
    let run = home.run(&["deploy", &t, "--name", "bulk", "--yes", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(run.json()["deploy"]["done"], serde_json::json!([]));
    let after_deploy = reads();
    assert!(
        (1..=4).contains(&after_deploy),
        "{after_deploy} read requests for 200 resources"
    );
    // And so does a drift check.
    let run = home.run(&[
        "plan",
        "--refresh-only",
        "--name",
        "bulk",
        "--detailed-exitcode",
    ]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let after_drift = reads() - after_deploy;
    assert!(
        (1..=4).contains(&after_drift),
        "{after_drift} read requests for 200 resources"
    );
}

/// A network of `n` subnets and `n` security groups in one VPC.
fn network(n: usize) -> String {
    let mut t = String::from(
        "name: net\nproviders:\n  aws:\n    region: eu-central-1\nresources:\n  vpc:\n    type: aws.ec2.vpc\n    properties: { cidr_block: 10.0.0.0/16 }\n",
    );
    for i in 0..n {
        t.push_str(&format!(
            "  subnet_{i}:\n    type: aws.ec2.subnet\n    properties: {{ vpc_id: \"${{vpc.id}}\", cidr_block: 10.0.{i}.0/24 }}\n  sg_{i}:\n    type: aws.ec2.security_group\n    properties: {{ name: \"${{stack.name}}-{i}-${{stack.suffix}}\", vpc_id: \"${{vpc.id}}\" }}\n"
        ));
    }
    t
}

#[test]
fn aws_networks_are_refreshed_with_one_describe_call_per_type() {
    let server = crate::harness::moto::start();
    let proxy = crate::harness::proxy::start(&server.url, 0, 0);
    let moto = proxy.moto();
    let home = Home::new();
    let env = moto.env();
    let t = home.write("net.yaml", &network(8));
    let run = home.run_with(&["deploy", &t, "--name", "net", "--yes"], &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());

    let count = |from: usize, action: &str| {
        proxy.log()[from..]
            .iter()
            .filter(|a| a.as_str() == action)
            .count()
    };
    let args = [
        "plan",
        "--refresh-only",
        "--name",
        "net",
        "--detailed-exitcode",
        "--output",
        "json",
    ];
    let before = proxy.log().len();
    let run = home.run_with(&args, &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(count(before, "DescribeSubnets"), 1, "{:?}", proxy.log());
    assert_eq!(count(before, "DescribeSecurityGroups"), 1);
    assert_eq!(count(before, "DescribeVpcs"), 1);

    // A subnet deleted out of band is missing from the bulk answer: reported gone, the rest not.
    let state = home.state("net");
    let gone = physical_id(&state, "subnet_3");
    crate::harness::rt().block_on(async {
        aws_sdk_ec2::Client::new(&moto.sdk().await)
            .delete_subnet()
            .subnet_id(&gone)
            .send()
            .await
            .unwrap();
    });
    let before = proxy.log().len();
    let run = home.run_with(&args, &env);
    assert_eq!(run.code(), 5, "{}", run.transcript());
    assert_eq!(count(before, "DescribeSubnets"), 1);
    let drift = run.json()["drift"]["resources"].clone();
    let drifted: Vec<(&str, &str)> = drift
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(drifted, [("subnet_3", "gone")], "{drift}");

    // A redeploy refreshes in bulk too, and recreates the subnet.
    let before = proxy.log().len();
    let run = home.run_with(
        &["deploy", &t, "--name", "net", "--yes", "--output", "json"],
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(
        count(before, "DescribeSubnets"),
        1 + 1,
        "one refresh, one read after create"
    );
    assert_ne!(
        home.state("net")["resources"]["subnet_3"]["physical_id"],
        gone
    );
}

/// A corrupt state is never "fixed" with the backup, which is a command behind (its advice once
/// made a deploy create a second VPC): the error points at `state rebuild`, which runs on the
/// corrupt stack as it is, with the id, template and inputs the backup records, and finds every
/// resource by its tags.
#[test]
fn a_corrupt_state_is_rebuilt_from_tags_without_deleting_it_first_and_nothing_is_made_twice() {
    let moto = crate::harness::moto::start();
    let home = Home::new();
    let env = moto.env();
    let deploy = [
        "deploy",
        "aws",
        "--name",
        "torn",
        "--yes",
        "--var",
        "orchestrator=none",
    ];
    let run = home.run_with(&deploy, &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let before = home.state("torn");
    let state = home.path("stacks/torn/state.json");
    let bytes = std::fs::read(&state).unwrap();
    std::fs::write(&state, &bytes[..bytes.len() / 2]).unwrap();

    let run = home.run_with(&deploy, &env);
    assert_ne!(run.code(), 0, "{}", run.transcript());
    let flat = run
        .stderr()
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(flat.contains("stackform state rebuild torn"), "{flat}");
    assert!(!flat.contains("`cp "), "{flat}");
    assert_eq!(
        std::fs::read(&state).unwrap().len(),
        bytes.len() / 2,
        "the failed deploy wrote"
    );

    // The stack id and template come from the backup; inputs given since its first deploy
    // are given again, as to any rebuild.
    let run = home.run_with(
        &["state", "rebuild", "torn", "--var", "orchestrator=none"],
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(home.path("stacks/torn/state.json.corrupt").exists());
    let after = home.state("torn");
    assert_eq!(after["stack"]["id"], before["stack"]["id"]);
    for (addr, r) in before["resources"].as_object().unwrap() {
        assert_eq!(
            r["physical_id"], after["resources"][addr]["physical_id"],
            "{addr}"
        );
    }
    let run = home.run_with(
        &[
            "plan",
            "aws",
            "--name",
            "torn",
            "--var",
            "orchestrator=none",
            "--output",
            "json",
        ],
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(summary(&run.json()), (0, 0, 0, 0), "{}", run.stdout());

    // With neither a backup nor the flags, it says what to give.
    std::fs::write(&state, b"{").unwrap();
    std::fs::remove_file(home.path("stacks/torn/state.json.backup")).unwrap();
    let run = home.run_with(&["state", "rebuild", "torn"], &env);
    assert_ne!(run.code(), 0);
    assert!(run.stderr().contains("--stack-id"), "{}", run.transcript());
    assert_eq!(
        std::fs::read(&state).unwrap(),
        b"{",
        "set aside before it could rebuild"
    );
}
