//! `azure.storage.container` against Azurite: create with metadata (public access off), read
//! back, change in place, refuse to delete a container holding blobs unless `force_destroy`,
//! delete; a wrong account key is a clear error.

use crate::harness::{Home, physical_id};

const CONTAINER: &str = "name: blob\ninputs:\n  team: { type: string, default: ml }\n  force: { type: boolean, default: false }\nresources:\n  artifacts:\n    type: azure.storage.container\n    properties:\n      name: ${stack.name}-artifacts-${stack.suffix}\n      metadata: { team: \"${inputs.team}\" }\n      force_destroy: ${inputs.force}\noutputs:\n  url: ${artifacts.url}\n";

#[test]
fn an_azure_container_is_created_changed_and_deleted() {
    let azurite = crate::harness::azurite::start();
    let home = Home::new();
    let env = azurite.env();
    let t = home.write("blob.yaml", CONTAINER);
    let run = home.run_with(&["deploy", &t, "--name", "blobdev", "--yes"], &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let state = home.state("blobdev");
    let name = physical_id(&state, "artifacts");
    assert_eq!(
        state["outputs"]["url"],
        format!("{}/{name}", azurite.endpoint())
    );
    let metadata = azurite.container(&name).expect("the container exists");
    assert_eq!(metadata["team"], "ml");
    assert_eq!(
        metadata["stackform_stack_id"],
        state["stack"]["id"].as_str().unwrap()
    );
    assert_eq!(metadata["stackform_address"], "artifacts");
    let run = home.run_with(
        &["plan", &t, "--name", "blobdev", "--detailed-exitcode"],
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());

    // Metadata changes in place, keeping the ownership marks.
    let run = home.run_with(
        &[
            "deploy",
            &t,
            "--name",
            "blobdev",
            "--yes",
            "--var",
            "team=research",
            "--output",
            "json",
        ],
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(run.json()["deploy"]["plan"]["summary"]["change"], 1);
    let metadata = azurite.container(&name).unwrap();
    assert_eq!(metadata["team"], "research");
    assert!(metadata.contains_key("stackform_stack_id"));
    // Drift: metadata changed outside stackform is reported.
    crate::harness::rt().block_on(async {
        let mut m: std::collections::HashMap<String, String> = metadata.clone();
        m.insert("team".into(), "someone-else".into());
        azurite
            .account()
            .container(&name)
            .unwrap()
            .set_metadata(&m, None)
            .await
            .unwrap();
    });
    let run = home.run_with(
        &[
            "plan",
            "--refresh-only",
            "--name",
            "blobdev",
            "--detailed-exitcode",
        ],
        &env,
    );
    assert_eq!(run.code(), 5, "{}", run.transcript());

    // A container holding blobs is not deleted by accident...
    azurite.put(&name, "runs/1/model.pkl", b"weights");
    let run = home.run_with(&["destroy", "blobdev", "--yes"], &env);
    assert_ne!(run.code(), 0, "{}", run.transcript());
    assert!(
        run.stderr().contains("still holds 1 blobs"),
        "{}",
        run.stderr()
    );
    assert!(azurite.container(&name).is_some());
    // ...only when the template says so.
    let run = home.run_with(
        &[
            "deploy",
            &t,
            "--name",
            "blobdev",
            "--yes",
            "--var",
            "team=research",
            "--var",
            "force=true",
        ],
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let run = home.run_with(&["destroy", "blobdev", "--yes"], &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(azurite.container(&name).is_none(), "the container is gone");
}

#[test]
fn a_wrong_account_key_is_a_clear_error() {
    let azurite = crate::harness::azurite::start();
    let home = Home::new();
    // A well-formed key that is not the account's.
    let wrong =
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODk=";
    let env = azurite.env_with_key(wrong);
    let t = home.write("blob.yaml", CONTAINER);
    let run = home.run_with(&["deploy", &t, "--name", "blobauth", "--yes"], &env);
    assert_eq!(run.code(), 1, "{}", run.transcript());
    assert!(run.stderr().contains("HTTP 403"), "{}", run.stderr());
    assert!(
        run.stderr().contains("AZURE_STORAGE_KEY"),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains(wrong), "{}", run.stderr());
}

#[test]
fn destroy_finds_and_deletes_a_container_the_state_lost() {
    let azurite = crate::harness::azurite::start();
    let home = Home::new();
    let env = azurite.env();
    let t = home.write("blob.yaml", CONTAINER);
    let run = home.run_with(&["deploy", &t, "--name", "census", "--yes"], &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let id = home.stack_id("census");
    // A container of this stack that no state records (its create was lost), and one of
    // another stack that must survive.
    let make = |name: &str, stack_id: &str| {
        crate::harness::rt().block_on(async {
            let metadata = std::collections::HashMap::from([
                ("stackform_stack".to_owned(), "census".to_owned()),
                ("stackform_stack_id".to_owned(), stack_id.to_owned()),
                ("stackform_address".to_owned(), "scratch".to_owned()),
            ]);
            azurite
                .account()
                .container(name)
                .unwrap()
                .create(Some(
                    azure_storage_blob::models::BlobContainerClientCreateOptions {
                        metadata: Some(metadata),
                        ..Default::default()
                    },
                ))
                .await
                .unwrap();
        });
    };
    make("lost-scratch", &id);
    make("someone-elses", "00000000-0000-4000-8000-000000000000");
    azurite.put("lost-scratch", "tmp/x", b"x");
    let run = home.run_with(&["destroy", "census", "--yes", "--output", "json"], &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(
        azurite.container("lost-scratch").is_none(),
        "the census deleted it"
    );
    assert!(azurite.container("someone-elses").is_some());
    assert!(!home.path("stacks/census/state.json").exists());
}

#[test]
fn without_an_account_key_entra_sign_in_is_used_and_its_failure_says_what_to_do() {
    let home = Home::new();
    let t = home.write("blob.yaml", CONTAINER);
    let dir = home.dir.to_str().unwrap();
    let run = home.run_with(
        &["deploy", &t, "--name", "entra", "--yes"],
        &[
            ("AZURE_STORAGE_ACCOUNT", "devstoreaccount1"),
            // Loopback, on a port nothing listens on: no request can reach a real endpoint.
            (
                "AZURE_STORAGE_BLOB_ENDPOINT",
                "https://127.0.0.1:1/devstoreaccount1",
            ),
            // No `az` or `azd` to sign in with, and no signed-in profile.
            ("PATH", "/nonexistent"),
            ("HOME", dir),
            ("AZURE_CONFIG_DIR", dir),
        ],
    );
    assert_eq!(run.code(), 1, "{}", run.transcript());
    assert!(run.stderr().contains("az login"), "{}", run.stderr());
    assert!(
        run.stderr().contains("AZURE_STORAGE_KEY"),
        "{}",
        run.stderr()
    );
}
