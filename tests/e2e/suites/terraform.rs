//! Terraform interop: a stack registered from a Terraform state file (a real one, made by
//! Terraform 1.11 from `tests/fixtures/terraform/*/main.tf` with `regenerate.sh`), and a deployed
//! stack exported as Terraform import blocks.

use super::aws::deploy_without_cluster;
use crate::harness::{Home, physical_id, repo_root};

fn fixture(dir: &str) -> String {
    repo_root()
        .join("tests/fixtures/terraform")
        .join(dir)
        .join("terraform.tfstate")
        .display()
        .to_string()
}

#[test]
fn a_stack_is_registered_from_a_terraform_state() {
    let moto = crate::harness::moto::start();
    let home = Home::new();
    let env = moto.env();
    // What the Terraform run made (the fixture's outputs name these).
    crate::harness::rt().block_on(async {
        moto.create_bucket("tf-artifacts").await;
        let config = moto.sdk().await;
        aws_sdk_ecr::Client::new(&config)
            .create_repository()
            .repository_name("tf-images")
            .send()
            .await
            .unwrap();
        aws_sdk_eks::Client::new(&config)
            .create_cluster()
            .name("tf-cluster")
            .role_arn("arn:aws:iam::123456789012:role/eks")
            .resources_vpc_config(aws_sdk_eks::types::VpcConfigRequest::builder().build())
            .send()
            .await
            .unwrap();
    });
    let reg = home.register_connector("team", "aws", &["--region", "eu-central-1"], "", &env);
    assert_eq!(reg.code(), 0, "{}", reg.transcript());
    let state = fixture("zenml-aws");
    let run = home.register_stack(
        "fromtf",
        "team",
        &["--from-terraform-state", &state, "--output", "json"],
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let stack = home.state("fromtf");
    let ids: Vec<(String, String)> = stack["resources"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(a, r)| (a.clone(), r["physical_id"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        ids,
        [
            ("artifact_store".to_owned(), "tf-artifacts".to_owned()),
            ("container_registry".to_owned(), "tf-images".to_owned()),
            ("orchestrator".to_owned(), "tf-cluster".to_owned()),
        ]
    );
    // Registered resources are external: destroy deregisters, the cloud keeps them.
    let run = home.run_with(&["destroy", "fromtf", "--yes"], &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let kept = crate::harness::rt().block_on(async {
        moto.s3()
            .await
            .head_bucket()
            .bucket("tf-artifacts")
            .send()
            .await
            .is_ok()
    });
    assert!(kept, "the registered bucket was deleted");

    // --map takes a component from a plain output; a map to an output the state lacks is refused.
    let run = home.register_stack(
        "mapped",
        "team",
        &[
            "--from-terraform-state",
            &state,
            "--map",
            "artifact_store=bucket_name",
        ],
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let run = home.register_stack(
        "badmap",
        "team",
        &[
            "--from-terraform-state",
            &state,
            "--map",
            "artifact_store=nope",
        ],
        &env,
    );
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("no output `nope`"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("bucket_name"), "{}", run.stderr());
    // Something that is not a version-4 state is refused with what it is.
    let bogus = home.write("old.tfstate", r#"{"version": 3, "modules": []}"#);
    let run = home.register_stack("old", "team", &["--from-terraform-state", &bogus], &env);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(run.stderr().contains("version 3"), "{}", run.stderr());
}

#[test]
fn a_deployed_stack_is_exported_as_terraform_import_blocks() {
    let moto = crate::harness::moto::start();
    let home = Home::new();
    let env = moto.env();
    let run = deploy_without_cluster(&home, &moto, "totf", &[]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let dir = home.path("tf");
    let run = home.run_with(
        &[
            "stack",
            "export",
            "totf",
            "--format",
            "terraform",
            "--out",
            dir.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(
        run.stderr().contains("-generate-config-out"),
        "{}",
        run.stderr()
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("imports.tf.json")).unwrap()).unwrap();
    let blocks: Vec<(String, String)> = doc["import"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["to"].as_str().unwrap().to_owned(),
                b["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let state = home.state("totf");
    let id = |a: &str| physical_id(&state, a);
    assert!(
        blocks.contains(&("aws_s3_bucket.artifacts".to_owned(), id("artifacts"))),
        "{blocks:?}"
    );
    assert!(
        blocks.contains(&("aws_ecr_repository.registry".to_owned(), id("registry"))),
        "{blocks:?}"
    );
    assert_eq!(
        blocks.len(),
        state["resources"].as_object().unwrap().len(),
        "every managed resource has an import block: {blocks:?}"
    );
    // No export without a directory to write into.
    let run = home.run_with(&["stack", "export", "totf", "--format", "terraform"], &env);
    assert_eq!(run.code(), 2, "{}", run.transcript());
}
