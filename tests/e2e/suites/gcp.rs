//! `gcp.storage.bucket` against fake-gcs-server: create, read back, change in place, refuse to
//! delete a bucket that holds objects unless `force_destroy`, delete; missing credentials.
//!
//! fake-gcs-server 1.54 keeps a bucket's versioning but not its location (always US-CENTRAL1),
//! storage class (always STANDARD) or labels: the template asks for what it keeps, and the tests
//! check versioning, objects and the lifecycle, never labels or class read back.

use crate::harness::{Home, physical_id};

const BUCKET: &str = "name: gcs\nproviders:\n  gcp:\n    project: stackform-test\ninputs:\n  versioning: { type: boolean, default: true }\n  force: { type: boolean, default: false }\nresources:\n  artifacts:\n    type: gcp.storage.bucket\n    properties:\n      name: ${stack.name}-artifacts-${stack.suffix}\n      location: US-CENTRAL1\n      versioning: ${inputs.versioning}\n      labels: { team: ml }\n      force_destroy: ${inputs.force}\noutputs:\n  url: ${artifacts.url}\n";

#[test]
fn a_gcs_bucket_is_created_changed_and_deleted() {
    let gcs = crate::harness::gcs::start();
    let home = Home::new();
    let env = gcs.env();
    let t = home.write("gcs.yaml", BUCKET);
    let run = home.run_with(&["deploy", &t, "--name", "gcsdev", "--yes"], &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let state = home.state("gcsdev");
    let name = physical_id(&state, "artifacts");
    assert_eq!(state["outputs"]["url"], format!("gs://{name}"));
    let bucket = gcs.bucket(&name).expect("the bucket exists");
    assert_eq!(bucket["versioning"]["enabled"], true, "{bucket}");
    // Nothing changes on a second look.
    let run = home.run_with(
        &["plan", &t, "--name", "gcsdev", "--detailed-exitcode"],
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());

    // Versioning changes in place.
    let run = home.run_with(
        &[
            "deploy",
            &t,
            "--name",
            "gcsdev",
            "--yes",
            "--var",
            "versioning=false",
            "--output",
            "json",
        ],
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(run.json()["deploy"]["plan"]["summary"]["change"], 1);
    let bucket = gcs.bucket(&name).unwrap();
    assert!(
        !bucket["versioning"]["enabled"].as_bool().unwrap_or(false),
        "{bucket}"
    );

    // A bucket holding artifacts is not deleted by accident...
    gcs.put(&name, "runs/1/model.pkl", b"weights");
    let run = home.run_with(&["destroy", "gcsdev", "--yes"], &env);
    assert_ne!(run.code(), 0, "{}", run.transcript());
    assert!(
        run.stderr().contains("still holds 1 objects"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("force_destroy"), "{}", run.stderr());
    assert!(gcs.bucket(&name).is_some());
    // ...only when the template says so.
    let vars = ["--var", "versioning=false", "--var", "force=true"];
    let mut args = vec!["deploy", t.as_str(), "--name", "gcsdev", "--yes"];
    args.extend(vars);
    let run = home.run_with(&args, &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let run = home.run_with(&["destroy", "gcsdev", "--yes"], &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(gcs.bucket(&name).is_none(), "the bucket is gone");
    assert!(!home.path("stacks/gcsdev/state.json").exists());
}

#[test]
fn missing_google_credentials_are_a_clear_error() {
    let home = Home::new();
    let t = home.write("gcs.yaml", BUCKET);
    // No emulator and no usable credentials file: stackform must stop before any request.
    let run = home.run_with(
        &["deploy", &t, "--name", "gcsauth", "--yes"],
        &[
            ("STORAGE_EMULATOR_HOST", ""),
            (
                "GOOGLE_APPLICATION_CREDENTIALS",
                "/nonexistent/credentials.json",
            ),
            ("HOME", home.dir.to_str().unwrap()),
        ],
    );
    assert_eq!(run.code(), 1, "{}", run.transcript());
    assert!(run.stderr().contains("credentials"), "{}", run.stderr());
}
