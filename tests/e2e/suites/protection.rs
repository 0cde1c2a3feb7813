//! Environments and protection: a production stack's resources are protected from the moment
//! they exist, destroying it takes `--confirm NAME`, protection lives in state (`stack
//! protect|unprotect`), and a plan that would delete or replace a protected resource fails
//! before anything changes.

use crate::harness::Home;

const T: &str = "name: t\nresources:\n  net:\n    type: sim.resource\n    properties: { name: net }\n  db:\n    type: sim.store\n    properties: { name: db, data: \"${net.arn}\" }\n";

fn world(home: &Home) -> Vec<String> {
    home.world().into_iter().map(|w| w.address).collect()
}

#[test]
fn a_production_stack_is_protected_and_destroying_it_takes_its_name() {
    let home = Home::new();
    let t = home.write("t.yaml", T);
    let run = home.run(&[
        "deploy",
        &t,
        "--name",
        "prod",
        "--yes",
        "--environment",
        "production",
    ]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let state = home.state("prod");
    assert_eq!(state["stack"]["environment"], "production");
    for a in ["net", "db"] {
        assert_eq!(state["resources"][a]["protect"], true, "{a}");
    }

    let run = home.run(&["destroy", "prod", "--yes"]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(run.stderr().contains("--confirm prod"), "{}", run.stderr());
    let run = home.run(&["destroy", "prod", "--confirm", "staging"]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert_eq!(world(&home), ["db", "net"]);

    // The name confirms; protection still holds.
    let run = home.run(&["destroy", "prod", "--confirm", "prod"]);
    assert_eq!(run.code(), 3, "{}", run.transcript());
    assert_eq!(world(&home), ["db", "net"]);

    let run = home.run(&["stack", "unprotect", "prod", "--output", "json"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(
        run.json()["protect"]["changed"],
        serde_json::json!(["db", "net"])
    );
    // A later deploy leaves the unprotected resources as they are.
    assert_eq!(
        home.run(&["deploy", &t, "--name", "prod", "--yes"]).code(),
        0
    );
    assert_eq!(home.state("prod")["resources"]["db"]["protect"], false);
    let run = home.run(&["destroy", "prod", "--confirm", "prod"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(home.world().is_empty());
}

#[test]
fn a_plan_that_would_delete_or_replace_a_protected_resource_fails_before_any_change() {
    let home = Home::new();
    let t = home.write("t.yaml", T);
    assert_eq!(
        home.run(&["deploy", &t, "--name", "guard", "--yes"]).code(),
        0
    );
    let run = home.run(&["stack", "protect", "guard", "--resource", "db"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(
        run.stdout().contains("Protected 1 resource of `guard`: db"),
        "{}",
        run.stdout()
    );
    let serial = home.state("guard")["serial"].clone();

    // Removed from the template.
    let gone = home.write(
        "gone.yaml",
        "name: t\nresources:\n  net:\n    type: sim.resource\n    properties: { name: net }\n",
    );
    let run = home.run(&["deploy", &gone, "--name", "guard", "--yes"]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    let err = run.stderr();
    assert!(
        err.contains("`db` is protected, and this plan would delete it"),
        "{err}"
    );
    assert!(
        err.contains("stackform stack unprotect guard --resource db"),
        "{err}"
    );
    // Replaced: a new name forces replacement.
    let renamed = home.write("renamed.yaml", &T.replace("name: db,", "name: db2,"));
    let run = home.run(&["plan", &renamed, "--name", "guard"]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("would replace it"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("renamed.yaml:6"), "{}", run.stderr());
    assert_eq!(
        home.state("guard")["serial"],
        serial,
        "a refused plan changed the state"
    );
    assert_eq!(world(&home), ["db", "net"]);

    // An unknown resource is named with a suggestion.
    let run = home.run(&["stack", "protect", "guard", "--resource", "dbb"]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("did you mean `db`?"),
        "{}",
        run.stderr()
    );

    // Unprotected, the same deploy goes through.
    assert_eq!(
        home.run(&["stack", "unprotect", "guard", "--resource", "db"])
            .code(),
        0
    );
    let run = home.run(&["deploy", &gone, "--name", "guard", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(world(&home), ["net"]);
}

#[test]
fn protect_true_added_to_a_template_protects_what_already_exists() {
    let home = Home::new();
    let t = home.write("t.yaml", T);
    assert_eq!(
        home.run(&["deploy", &t, "--name", "later", "--yes"]).code(),
        0
    );
    let protected = home.write(
        "p.yaml",
        &T.replace(
            "    type: sim.store\n",
            "    type: sim.store\n    protect: true\n",
        ),
    );
    let run = home.run(&["deploy", &protected, "--name", "later", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(home.state("later")["resources"]["db"]["protect"], true);
    let run = home.run(&["destroy", "later", "--yes"]);
    assert_eq!(run.code(), 3, "{}", run.transcript());
    assert_eq!(world(&home), ["db", "net"]);
}
