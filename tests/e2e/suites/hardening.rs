//! Issue 19, hardening: hostile or damaged inputs get a clear error and exit non-zero, never a
//! panic, an exhausted machine, another home's files or a blocked reap.

use crate::harness::Home;

/// `levels` anchors, each a list of ten aliases of the one before: 10^levels nodes.
fn bomb(levels: usize) -> String {
    let mut text = String::from("a0: &a0 [x]\n");
    for i in 1..levels {
        let items = vec![format!("*a{}", i - 1); 10].join(",");
        text.push_str(&format!("a{i}: &a{i} [{items}]\n"));
    }
    text
}

#[test]
fn alias_bombs_are_refused_in_templates_var_files_and_manifests() {
    let home = Home::new();
    let template = home.write("bomb.yaml", &format!("name: t\n{}", bomb(10)));
    let run = home.run(&["plan", &template, "--name", "dev"]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("yaml::too_large"),
        "{}",
        run.transcript()
    );
    assert!(run.stderr().contains("bomb.yaml"), "{}", run.transcript());
    assert!(run.stderr().contains("250000"), "{}", run.transcript());

    let vars = home.write("vars.yaml", &bomb(10));
    let run = home.run(&["plan", "local", "--name", "dev", "--var-file", &vars]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("yaml::too_large"),
        "{}",
        run.transcript()
    );

    std::fs::create_dir_all(home.path("integ")).unwrap();
    home.write("integ/stackform-integration.yaml", &bomb(10));
    let run = home.run(&[
        "integration",
        "add",
        &home.path("integ").display().to_string(),
    ]);
    assert_ne!(run.code(), 0, "{}", run.transcript());
    assert!(
        run.stderr().contains("yaml::too_large"),
        "{}",
        run.transcript()
    );

    // A file too large is refused without being read whole.
    let big = home.write("big.yaml", &format!("a: \"{}\"\n", "x".repeat(9 << 20)));
    let run = home.run(&["plan", "local", "--name", "dev", "--var-file", &big]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("input::too_large"),
        "{}",
        run.transcript()
    );
    assert!(run.stderr().contains("8 MiB"), "{}", run.transcript());
}

#[test]
fn stack_names_never_reach_outside_the_home() {
    let victim = Home::new();
    let run = victim.run(&["deploy", "local", "--name", "x1", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let before = std::fs::read(victim.path("stacks/x1/state.json")).unwrap();
    let attacker = Home::new();
    let other = victim
        .dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let name = format!("../../{other}/stacks/x1");
    let commands: Vec<Vec<&str>> = vec![
        vec!["state", "show", &name],
        vec!["state", "rm", &name, "artifacts"],
        vec!["state", "mv", &name, "artifacts", "moved"],
        vec!["state", "unlock", &name, "--force"],
        vec!["stack", "describe", &name],
        vec!["stack", "export", &name],
        vec!["stack", "protect", &name],
        vec!["plan", "local", "--name", &name],
        vec!["deploy", "local", "--name", &name, "--yes"],
        vec!["destroy", &name, "--yes"],
        vec!["state", "migrate", &name, "--to", "local"],
    ];
    for args in commands {
        let run = attacker.run(&args);
        assert_eq!(run.code(), 2, "{args:?}: {}", run.transcript());
        assert!(
            run.stderr().contains("not a valid stack name"),
            "{args:?}: {}",
            run.transcript()
        );
    }
    assert_eq!(
        std::fs::read(victim.path("stacks/x1/state.json")).unwrap(),
        before
    );
    assert!(
        !attacker.path("stacks").exists()
            || std::fs::read_dir(attacker.path("stacks")).unwrap().count() == 0
    );
}

#[test]
fn a_damaged_stack_does_not_stop_reap_from_reaping_the_others() {
    let home = Home::new();
    for (name, ttl) in [("aa", "1h"), ("bb", "1h")] {
        let run = home.run(&["deploy", "local", "--name", name, "--ttl", ttl, "--yes"]);
        assert_eq!(run.code(), 0, "{}", run.transcript());
    }
    std::fs::write(home.path("stacks/aa/state.json"), "garbage").unwrap();
    // reap also looks for expired stacks by their tags in every cloud: moto answers for AWS.
    let mut later = crate::harness::moto::shared().env();
    later.push(("STACKFORM_TEST_NOW", "2999-01-01T00:00:00Z".to_owned()));
    let list = home.run_with(&["stack", "list"], &later);
    assert_eq!(list.code(), 0, "{}", list.transcript());
    assert!(list.stdout().contains("damaged"), "{}", list.transcript());
    let run = home.run_with(&["reap", "--yes"], &later);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert!(
        run.stderr().contains("stack `aa` skipped"),
        "{}",
        run.transcript()
    );
    assert!(
        !home.path("stacks/bb/state.json").exists(),
        "bb was reaped: {}",
        run.transcript()
    );
    assert_eq!(
        std::fs::read_to_string(home.path("stacks/aa/state.json")).unwrap(),
        "garbage"
    );
}

#[test]
fn an_error_far_along_a_long_line_is_rendered_not_a_panic() {
    let home = Home::new();
    let long = format!(
        "{{name: t, description: \"{}\", resources: {{r: {{type: sim.nope}}}}}}\n",
        "a".repeat(70_000)
    );
    let template = home.write("long.yaml", &long);
    let run = home.run(&["plan", &template, "--name", "dev"]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(!run.stderr().contains("panicked"), "{}", run.transcript());
    assert!(
        run.stderr().contains("long.yaml:1:"),
        "{}",
        run.transcript()
    );
    assert!(run.stderr().len() < 20_000, "{}", run.stderr().len());
}

#[test]
fn a_lost_secret_key_is_not_silently_replaced_and_directories_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    let run = home.run_input(&["secret", "create", "first"], "k=v\n");
    assert_eq!(run.code(), 0, "{}", run.transcript());
    std::fs::remove_file(home.path("secrets.key")).unwrap();
    let run = home.run_input(&["secret", "create", "second"], "k=v\n");
    assert_ne!(run.code(), 0, "{}", run.transcript());
    assert!(
        run.stderr().contains("secret::key_missing"),
        "{}",
        run.transcript()
    );
    assert!(run.stderr().contains("first"), "{}", run.transcript());
    assert!(!home.path("secrets.key").exists());

    let run = home.run(&["deploy", "local", "--name", "dev", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    for dir in ["stacks", "stacks/dev", "secrets"] {
        let mode = std::fs::metadata(home.path(dir))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{dir}: {mode:o}");
    }
}

#[test]
fn directories_an_older_version_left_open_are_made_private_on_next_use() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    let run = home.run_input(&["secret", "create", "db"], "password=p\n");
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let run = home.run(&["deploy", "local", "--name", "dev", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let dirs = ["stacks", "stacks/dev", "secrets"];
    for dir in dirs {
        std::fs::set_permissions(home.path(dir), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let run = home.run(&["deploy", "local", "--name", "dev", "--yes"]);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let run = home.run_input(&["secret", "create", "db2"], "password=q\n");
    assert_eq!(run.code(), 0, "{}", run.transcript());
    for dir in dirs {
        let mode = std::fs::metadata(home.path(dir))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{dir}: {mode:o}");
    }
}

#[test]
fn secret_values_on_stdin_are_bounded() {
    let home = Home::new();
    // 129 MiB of one line: more than a secret may hold, refused without reading it all.
    let big = format!("k={}\n", "x".repeat((129 << 20) as usize));
    let run = home.run_input(&["secret", "create", "huge"], &big);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(
        run.stderr().contains("input::too_large"),
        "{}",
        run.stderr()
    );
    assert!(!home.path("secrets/huge").exists());
    let run = home.run(&["secret", "list", "--output", "json"]);
    assert!(!run.stdout().contains("huge"), "{}", run.stdout());
}
