//! Service connectors against moto: registered once with their key material in the secret
//! store, verified against STS, used by name for a deploy while the environment's own
//! credentials are refused, limited to environments, and kept while a stack uses them.

use crate::harness::azurite::{ACCOUNT, Azurite, KEY};
use crate::harness::moto::{self, Moto};
use crate::harness::{Home, NO_ENV, Run, component};

/// An IAM user of moto's with administrator access: its access key id and secret.
fn deployer(moto: &Moto) -> (String, String) {
    crate::harness::rt().block_on(async {
        let config = moto.sdk().await;
        let iam = aws_sdk_iam::Client::new(&config);
        iam.create_user()
            .user_name("deployer")
            .send()
            .await
            .unwrap();
        iam.attach_user_policy()
            .user_name("deployer")
            .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
            .send()
            .await
            .unwrap();
        let key = iam
            .create_access_key()
            .user_name("deployer")
            .send()
            .await
            .unwrap();
        let key = key.access_key().unwrap();
        (
            key.access_key_id().to_owned(),
            key.secret_access_key().to_owned(),
        )
    })
}

/// moto's environment, with credentials that moto refuses once it checks them.
fn env(moto: &Moto) -> Vec<(&'static str, String)> {
    let mut env: Vec<(&'static str, String)> = moto
        .env()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS_KEY_ID") && *k != "AWS_SECRET_ACCESS_KEY")
        .collect();
    env.push(("AWS_ACCESS_KEY_ID", "AKIANOBODY0000000000".into()));
    env.push(("AWS_SECRET_ACCESS_KEY", "not-a-real-secret".into()));
    env
}

/// How an AWS connector with access keys (given on stdin) is registered here.
const ACCESS_KEYS: &[&str] = &["--auth-method", "access-keys", "--region", "eu-central-1"];

/// Registers a kubernetes connector `name` from `kubeconfig` (written to a file in the home).
fn register_kubeconfig(home: &Home, name: &str, kubeconfig: &str) -> Run {
    let path = home.write(&format!("{name}.yaml"), kubeconfig);
    let from = format!("kubeconfig={path}");
    home.register_connector(
        name,
        "kubernetes",
        &["--auth-method", "kubeconfig", "--from-file", &from],
        "",
        NO_ENV,
    )
}

/// Registers an azure connector `name` to Azurite's account with `key` as its account key.
fn register_shared_key(home: &Home, azurite: &Azurite, name: &str, key: &str) -> Run {
    home.register_connector(
        name,
        "azure",
        &[
            "--auth-method",
            "storage-shared-key",
            "--setting",
            &format!("account_name={ACCOUNT}"),
            "--setting",
            &format!("blob_endpoint={}", azurite.endpoint()),
        ],
        &format!(
            "account_key={key}
"
        ),
        NO_ENV,
    )
}

fn run(home: &Home, moto: &Moto, args: &[&str], stdin: &str) -> Run {
    let env = env(moto);
    home.run_stdin(args, stdin, &env)
}

#[test]
fn a_connector_holds_the_credentials_a_deploy_uses_and_never_shows_them() {
    let moto = moto::start();
    let home = Home::new();
    let (id, secret) = deployer(&moto);
    let keys = format!("aws_access_key_id={id}\naws_secret_access_key={secret}\n");
    let reg = home.register_connector("ops", "aws", ACCESS_KEYS, &keys, &env(&moto));
    assert_eq!(reg.code(), 0, "{}", reg.transcript());
    let described = run(
        &home,
        &moto,
        &["connector", "describe", "ops", "--output", "json"],
        "",
    );
    let c = described.json()["connector"].clone();
    assert_eq!(
        c["secret_keys"],
        serde_json::json!(["aws_access_key_id", "aws_secret_access_key"])
    );
    let record = std::fs::read_to_string(home.path("connectors/ops.json")).unwrap();
    for text in [
        record.as_str(),
        &described.stdout(),
        &reg.stdout(),
        &reg.stderr(),
    ] {
        assert!(!text.contains(&secret), "key material shown: {text}");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(home.path("connectors/ops.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // From here on moto checks credentials: the environment's are refused.
    moto.enforce_auth(true);
    let verified = run(
        &home,
        &moto,
        &["connector", "verify", "ops", "--output", "json"],
        "",
    );
    assert_eq!(verified.code(), 0, "{}", verified.transcript());
    assert_eq!(verified.json()["verify"]["account"], "123456789012");
    assert!(
        verified.json()["verify"]["arn"]
            .as_str()
            .unwrap()
            .ends_with("user/deployer")
    );
    let wrong = home.register_connector(
        "bad",
        "aws",
        &["--auth-method", "access-keys"],
        "aws_access_key_id=AKIAWRONG0000000000\naws_secret_access_key=wrong\n",
        &env(&moto),
    );
    assert_eq!(wrong.code(), 0, "{}", wrong.transcript());
    let refused = run(&home, &moto, &["connector", "verify", "bad"], "");
    assert_eq!(refused.code(), 1, "{}", refused.transcript());
    assert!(
        refused.stderr().contains("was refused for connector `bad`"),
        "{}",
        refused.stderr()
    );

    let cheap = ["--var", "orchestrator=none", "--yes"];
    let mut args = vec!["deploy", "aws", "--name", "viaops", "--connector", "ops"];
    args.extend(cheap);
    let deployed = run(&home, &moto, &args, "");
    assert_eq!(deployed.code(), 0, "{}", deployed.transcript());
    assert_eq!(home.state("viaops")["providers"]["aws"]["connector"], "ops");
    let mut args = vec!["deploy", "aws", "--name", "noconn"];
    args.extend(cheap);
    let denied = run(&home, &moto, &args, "");
    assert_eq!(
        denied.code(),
        1,
        "the environment's credentials were accepted: {}",
        denied.transcript()
    );

    // In use: kept. Destroy reaches the resources through the recorded connector.
    let del = run(&home, &moto, &["connector", "delete", "ops"], "");
    assert_eq!(del.code(), 1, "{}", del.transcript());
    assert!(del.stderr().contains("viaops"), "{}", del.stderr());
    let destroyed = run(&home, &moto, &["destroy", "viaops", "--yes"], "");
    assert_eq!(destroyed.code(), 0, "{}", destroyed.transcript());
    assert_eq!(
        run(&home, &moto, &["connector", "delete", "ops"], "").code(),
        0
    );
    let list = run(&home, &moto, &["connector", "list", "--output", "json"], "").json();
    assert_eq!(list["connectors"].as_array().unwrap().len(), 1, "{list}");
    moto.enforce_auth(false);
}

#[test]
fn an_assumed_role_connector_acts_as_the_role() {
    let moto = moto::start();
    let home = Home::new();
    let role = crate::harness::rt().block_on(async {
        let config = moto.sdk().await;
        let iam = aws_sdk_iam::Client::new(&config);
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
        let arn = iam
            .create_role()
            .role_name("platform")
            .assume_role_policy_document(trust)
            .send()
            .await
            .unwrap()
            .role()
            .unwrap()
            .arn()
            .to_owned();
        iam.attach_role_policy()
            .role_name("platform")
            .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
            .send()
            .await
            .unwrap();
        arn
    });
    let env = moto.env();
    let reg = home.register_connector(
        "platform",
        "aws",
        &[
            "--auth-method",
            "assume-role",
            "--role-arn",
            &role,
            "--external-id",
            "team-ml",
            "--session-duration",
            "1h",
        ],
        "",
        &env,
    );
    assert_eq!(reg.code(), 0, "{}", reg.transcript());
    let verified = home.run_with(
        &["connector", "verify", "platform", "--output", "json"],
        &env,
    );
    assert_eq!(verified.code(), 0, "{}", verified.transcript());
    let arn = verified.json()["verify"]["arn"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        arn.contains("assumed-role/platform/stackform-platform"),
        "{arn}"
    );
}

#[test]
fn a_connector_limited_to_staging_is_refused_for_production_and_bad_registrations_are_explained() {
    let home = Home::new();
    let reg = home.register_connector("stg", "aws", &["--environment", "staging"], "", NO_ENV);
    assert_eq!(reg.code(), 0, "{}", reg.transcript());
    let t = home.write(
        "t.yaml",
        "name: t\nresources:\n  a:\n    type: sim.resource\n    properties: { name: a }\n",
    );
    let run = home.run(&[
        "deploy",
        &t,
        "--name",
        "prodish",
        "--yes",
        "--environment",
        "production",
        "--connector",
        "stg",
    ]);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains(
            "connector `stg` may serve staging stacks, and `prodish` is a production stack"
        ),
        "{}",
        run.stderr()
    );
    assert!(!home.path("stacks/prodish/state.json").exists());
    let run = home.run(&[
        "deploy",
        &t,
        "--name",
        "stage",
        "--yes",
        "--environment",
        "staging",
        "--connector",
        "stg",
    ]);
    // The environment is right; what is refused now is a connector of a cloud the template
    // has no resource in (it would be recorded and never used).
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr()
            .contains("connector `stg` is for aws, and template `t` has no aws resources"),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains("may serve"), "{}", run.stderr());

    for (args, stdin, says) in [
        (vec!["--type", "ibm"], "", "unknown connector type `ibm`"),
        (
            vec!["--type", "aws", "--auth-method", "password"],
            "",
            "no auth method `password`",
        ),
        (
            vec!["--type", "aws", "--auth-method", "access-keys"],
            "aws_access_key_id=AKIA1\n",
            "needs aws_secret_access_key",
        ),
        (
            vec!["--type", "aws", "--auth-method", "assume-role"],
            "",
            "needs --role-arn",
        ),
        (
            vec!["--type", "aws", "--profile", "x"],
            "",
            "take no setting `profile`",
        ),
    ] {
        let mut all = vec!["connector", "register", "c1"];
        all.extend(args);
        let run = home.run_input(&all, stdin);
        assert_eq!(run.code(), 2, "{all:?}: {}", run.transcript());
        assert!(run.stderr().contains(says), "{all:?}: {}", run.stderr());
        assert!(!run.stderr().contains("AKIA1"), "{}", run.stderr());
    }
    assert!(!home.path("connectors/c1.json").exists());
    // A bad name is a bad connector name, not a secret's.
    for args in [
        vec!["connector", "register", "9lives", "--type", "aws"],
        vec!["connector", "verify", "../x"],
    ] {
        let run = home.run(&args);
        assert_eq!(run.code(), 2, "{args:?}: {}", run.transcript());
        assert!(
            run.stderr().contains("not a valid connector name") && !run.stderr().contains("secret"),
            "{args:?}: {}",
            run.stderr()
        );
    }
}

#[test]
fn a_stack_registered_from_existing_resources_is_described_and_never_deleted() {
    let moto = moto::start();
    let home = Home::new();
    let env = moto.env();
    // What a platform team made by hand.
    let (repo_uri, cluster) = crate::harness::rt().block_on(async {
        moto.create_bucket("team-artifacts").await;
        let config = moto.sdk().await;
        let ecr = aws_sdk_ecr::Client::new(&config);
        let repo = ecr
            .create_repository()
            .repository_name("team-images")
            .send()
            .await
            .unwrap();
        let eks = aws_sdk_eks::Client::new(&config);
        let c = eks
            .create_cluster()
            .name("team-cluster")
            .role_arn("arn:aws:iam::123456789012:role/eks")
            .resources_vpc_config(aws_sdk_eks::types::VpcConfigRequest::builder().build())
            .send()
            .await
            .unwrap();
        (
            repo.repository()
                .unwrap()
                .repository_uri()
                .unwrap()
                .to_owned(),
            c.cluster().unwrap().name().unwrap().to_owned(),
        )
    });
    let reg = home.register_connector("team", "aws", &["--region", "eu-central-1"], "", &env);
    assert_eq!(reg.code(), 0, "{}", reg.transcript());
    let listed = home.run_with(
        &["connector", "list-resources", "team", "--output", "json"],
        &env,
    );
    assert_eq!(listed.code(), 0, "{}", listed.transcript());
    let ids: Vec<String> = listed.json()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}={}",
                r["type"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            )
        })
        .collect();
    for want in [
        "s3-bucket=s3://team-artifacts".to_owned(),
        format!("docker-registry={repo_uri}"),
        format!("kubernetes-cluster={cluster}"),
    ] {
        assert!(ids.contains(&want), "{want} not in {ids:?}");
    }
    let only = home.run_with(
        &[
            "connector",
            "list-resources",
            "team",
            "--resource-type",
            "s3-bucket",
            "--output",
            "json",
        ],
        &env,
    );
    assert_eq!(only.json()["resources"].as_array().unwrap().len(), 1);

    let orchestrator = format!("kubernetes:{cluster}");
    let run = home.register_stack(
        "shared",
        "team",
        &[
            "--artifact-store",
            "s3://team-artifacts",
            "--container-registry",
            &repo_uri,
            "--orchestrator",
            &orchestrator,
        ],
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let described = home
        .run_with(&["stack", "describe", "shared", "--output", "json"], &env)
        .json();
    let by = |t: &str| component(&described["stack"], t)["configuration"].clone();
    assert_eq!(by("artifact_store")["path"], "s3://team-artifacts");
    assert_eq!(by("container_registry")["uri"], repo_uri.as_str());
    assert!(
        by("orchestrator")["endpoint"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    // A resource that does not exist is refused before anything is recorded.
    let bad = home.register_stack(
        "typo",
        "team",
        &["--artifact-store", "s3://no-such-bucket"],
        &env,
    );
    assert_eq!(bad.code(), 2, "{}", bad.transcript());
    assert!(
        bad.stderr().contains("s3://no-such-bucket"),
        "{}",
        bad.stderr()
    );
    assert!(!home.path("stacks/typo/state.json").exists());

    // Destroy deregisters, deletes nothing, exits 0.
    let destroyed = home.run_with(&["destroy", "shared", "--yes", "--output", "json"], &env);
    assert_eq!(destroyed.code(), 0, "{}", destroyed.transcript());
    let mut external: Vec<String> = destroyed.json()["destroy"]["external"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    external.sort();
    assert_eq!(
        external,
        ["artifact_store", "container_registry", "orchestrator"]
    );
    assert!(!home.path("stacks/shared/state.json").exists());
    let after = home.run_with(
        &["connector", "list-resources", "team", "--output", "json"],
        &env,
    );
    assert_eq!(
        after.json()["resources"].as_array().unwrap().len(),
        3,
        "something was deleted"
    );

    // --discover takes what the connector finds when there is one of a kind ...
    let run = home.register_stack("auto", "team", &["--discover", "--output", "json"], &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    assert_eq!(
        run.json()["stack"]["components"].as_array().unwrap().len(),
        3
    );
    // ... and lists the candidates when there are several.
    crate::harness::rt().block_on(moto.create_bucket("team-artifacts-2"));
    let run = home.register_stack("auto2", "team", &["--discover"], &env);
    assert_eq!(run.code(), 2, "{}", run.transcript());
    assert!(
        run.stderr().contains("s3://team-artifacts-2"),
        "{}",
        run.stderr()
    );
}

/// The presigned STS URL inside an EKS token (`k8s-aws-v1.` + unpadded base64url).
fn presigned_url(token: &str) -> String {
    let b64 = token.strip_prefix("k8s-aws-v1.").expect("an EKS token");
    let mut padded = b64.replace('-', "+").replace('_', "/");
    while !padded.len().is_multiple_of(4) {
        padded.push('=');
    }
    String::from_utf8(aws_smithy_types::base64::decode(&padded).unwrap()).unwrap()
}

#[test]
fn login_writes_a_docker_config_from_an_ecr_token_and_a_kubeconfig_that_asks_for_fresh_eks_tokens()
{
    let moto = moto::start();
    let home = Home::new();
    let env = moto.env();
    crate::harness::rt().block_on(async {
        let config = moto.sdk().await;
        aws_sdk_eks::Client::new(&config)
            .create_cluster()
            .name("ml")
            .role_arn("arn:aws:iam::123456789012:role/eks")
            .resources_vpc_config(aws_sdk_eks::types::VpcConfigRequest::builder().build())
            .send()
            .await
            .unwrap();
    });
    let keys = "aws_access_key_id=AKIAEXAMPLE000000000\naws_secret_access_key=login-secret-value\n";
    let reg = home.register_connector("eks", "aws", ACCESS_KEYS, keys, &env);
    assert_eq!(reg.code(), 0, "{}", reg.transcript());

    // Docker: an auth entry from ECR's token, in a 0600 file, the token never printed.
    let run = home.run_with(
        &[
            "connector",
            "login",
            "eks",
            "--resource-type",
            "docker-registry",
            "--output",
            "json",
        ],
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let login = run.json()["login"].clone();
    assert!(
        login["target"]
            .as_str()
            .unwrap()
            .ends_with(".dkr.ecr.eu-central-1.amazonaws.com"),
        "{login}"
    );
    assert!(login["expires_at"].is_string(), "{login}");
    let file = std::path::PathBuf::from(login["file"].as_str().unwrap());
    let docker: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let auth = docker["auths"][login["target"].as_str().unwrap()]["auth"]
        .as_str()
        .unwrap()
        .to_owned();
    let decoded = String::from_utf8(aws_smithy_types::base64::decode(&auth).unwrap()).unwrap();
    assert!(decoded.starts_with("AWS:"), "{decoded}");
    assert!(!run.stdout().contains(&auth));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Kubernetes: the user is an exec entry running `stackform connector token`.
    let run = home.run_with(
        &[
            "connector",
            "login",
            "eks",
            "--resource-type",
            "kubernetes-cluster",
            "--resource-id",
            "ml",
            "--output",
            "json",
        ],
        &env,
    );
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let file = run.json()["login"]["file"].as_str().unwrap().to_owned();
    let kube: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(
        kube["clusters"][0]["cluster"]["server"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    let exec = kube["users"][0]["user"]["exec"].clone();
    assert_eq!(
        exec["args"],
        serde_json::json!(["connector", "token", "eks", "--cluster", "ml"])
    );
    // What kubectl would run, run as it would: a fresh token each time.
    let token = |home: &Home| {
        let run = home.run_with(&["connector", "token", "eks", "--cluster", "ml"], &env);
        assert_eq!(run.code(), 0, "{}", run.transcript());
        let cred: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
        assert_eq!(cred["kind"], "ExecCredential");
        cred["status"]["token"].as_str().unwrap().to_owned()
    };
    let first = token(&home);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = token(&home);
    assert_ne!(first, second, "a token was reused");
    let url = presigned_url(&first);
    assert!(
        url.starts_with("https://sts.eu-central-1.amazonaws.com/?Action=GetCallerIdentity"),
        "{url}"
    );
    for part in [
        "X-Amz-Signature=",
        "X-Amz-Expires=60",
        "x-k8s-aws-id",
        "AKIAEXAMPLE000000000",
    ] {
        assert!(url.contains(part), "{part} not in {url}");
    }
    assert!(!url.contains("login-secret-value"));

    // A cluster the stack made in another region than the connector's: its ARN (what `stack
    // describe` shows as kubernetes_context) says where it is.
    let arn = crate::harness::rt().block_on(async {
        let config = moto.sdk().await;
        let west = aws_sdk_eks::config::Builder::from(&config)
            .region(aws_sdk_eks::config::Region::new("us-west-2"))
            .build();
        aws_sdk_eks::Client::from_conf(west)
            .create_cluster()
            .name("far")
            .role_arn("arn:aws:iam::123456789012:role/eks")
            .resources_vpc_config(aws_sdk_eks::types::VpcConfigRequest::builder().build())
            .send()
            .await
            .unwrap()
            .cluster()
            .unwrap()
            .arn()
            .unwrap()
            .to_owned()
    });
    assert!(arn.contains(":us-west-2:"), "{arn}");
    let login = |id: &str| {
        home.run_with(
            &[
                "connector",
                "login",
                "eks",
                "--resource-type",
                "kubernetes-cluster",
                "--resource-id",
                id,
                "--output",
                "json",
            ],
            &env,
        )
    };
    let by_name = login("far");
    assert_ne!(by_name.code(), 0, "{}", by_name.transcript());
    let said = by_name.transcript();
    assert!(
        said.contains("no EKS cluster `far` in eu-central-1"),
        "{said}"
    );
    assert!(said.contains("ARN"), "{said}");
    let by_arn = login(&arn);
    assert_eq!(by_arn.code(), 0, "{}", by_arn.transcript());
    let file = by_arn.json()["login"]["file"].as_str().unwrap().to_owned();
    let kube: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(kube["clusters"][0]["name"], arn.as_str());
    let run = home.run_with(&["connector", "token", "eks", "--cluster", &arn], &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let cred: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let url = presigned_url(cred["status"]["token"].as_str().unwrap());
    assert!(
        url.starts_with("https://sts.us-west-2.amazonaws.com/"),
        "{url}"
    );
}

#[test]
fn verify_names_the_actions_a_template_needs_that_the_identity_may_not_do() {
    let moto = moto::start();
    let home = Home::new();
    let env = moto.env();
    let (admin_id, admin_secret) = deployer(&moto);
    // A user who may work with buckets and registries, and read its own policies, nothing more.
    let (id, secret) = crate::harness::rt().block_on(async {
        let config = moto.sdk().await;
        let iam = aws_sdk_iam::Client::new(&config);
        iam.create_user().user_name("limited").send().await.unwrap();
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","ecr:*","iam:List*","iam:Get*"],"Resource":"*"},{"Effect":"Deny","Action":"s3:DeleteBucket","Resource":"*"}]}"#;
        iam.put_user_policy()
            .user_name("limited")
            .policy_name("buckets-and-images")
            .policy_document(policy)
            .send()
            .await
            .unwrap();
        let key = iam.create_access_key().user_name("limited").send().await.unwrap();
        let key = key.access_key().unwrap();
        (key.access_key_id().to_owned(), key.secret_access_key().to_owned())
    });
    for (name, id, secret) in [
        ("admin", &admin_id, &admin_secret),
        ("limited", &id, &secret),
    ] {
        let run = home.register_connector(
            name,
            "aws",
            ACCESS_KEYS,
            &format!("aws_access_key_id={id}\naws_secret_access_key={secret}\n"),
            &env,
        );
        assert_eq!(run.code(), 0, "{}", run.transcript());
    }
    let run = home.run_with(&["connector", "verify", "admin", "--output", "json"], &env);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let v = run.json()["verify"].clone();
    assert!(v["actions_checked"].as_u64().unwrap() > 50, "{v}");
    assert_eq!(v["missing_actions"], serde_json::json!([]));

    let run = home.run_with(
        &["connector", "verify", "limited", "--output", "json"],
        &env,
    );
    assert_eq!(run.code(), 1, "{}", run.transcript());
    let missing: Vec<String> = run.json()["verify"]["missing_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    for a in [
        "iam:CreateRole",
        "eks:CreateCluster",
        "ec2:CreateVpc",
        "s3:DeleteBucket",
    ] {
        assert!(missing.contains(&a.to_owned()), "{a} not in {missing:?}");
    }
    for a in ["s3:CreateBucket", "ecr:CreateRepository", "iam:GetRole"] {
        assert!(!missing.contains(&a.to_owned()), "{a} in {missing:?}");
    }
    // A template of buckets alone is within its rights, but for the explicit Deny.
    let t = home.write(
        "buckets.yaml",
        "name: b\nresources:\n  a:\n    type: aws.s3.bucket\n    properties: { name: b-bucket }\n",
    );
    let run = home.run_with(&["connector", "verify", "limited", "--template", &t], &env);
    assert_eq!(run.code(), 1, "{}", run.transcript());
    assert!(
        run.stdout().contains("1 of the 14 actions"),
        "{}",
        run.stdout()
    );
    assert!(run.stdout().contains("s3:DeleteBucket"), "{}", run.stdout());
}

#[test]
fn an_azure_shared_key_connector_is_verified_and_lists_its_containers_on_azurite() {
    let azurite = crate::harness::azurite::start();
    azurite.create_container("artifacts");
    azurite.create_container("models");
    let home = Home::new();
    let register = |name: &str, key: &str| register_shared_key(&home, &azurite, name, key);
    let reg = register("blob", KEY);
    assert_eq!(reg.code(), 0, "{}", reg.transcript());
    assert!(!reg.transcript().contains(KEY));

    let verified = home.run(&["connector", "verify", "blob", "--output", "json"]);
    assert_eq!(verified.code(), 0, "{}", verified.transcript());
    assert_eq!(verified.json()["verify"]["account"], ACCOUNT);
    let listed = home.run(&["connector", "list-resources", "blob", "--output", "json"]);
    assert_eq!(listed.code(), 0, "{}", listed.transcript());
    let uris: Vec<String> = listed.json()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["type"], "blob-container");
            r["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(uris, ["az://artifacts", "az://models"]);
    let wrong_type = home.run(&[
        "connector",
        "list-resources",
        "blob",
        "--resource-type",
        "s3-bucket",
    ]);
    assert_eq!(wrong_type.code(), 2, "{}", wrong_type.transcript());
    assert!(
        wrong_type.stderr().contains("blob-container"),
        "{}",
        wrong_type.stderr()
    );

    // A key the service does not accept: refused, exit 1, the key never printed.
    let wrong_key =
        "d3JvbmcwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=";
    let reg = register("stale", wrong_key);
    assert_eq!(reg.code(), 0, "{}", reg.transcript());
    let refused = home.run(&["connector", "verify", "stale"]);
    assert_eq!(refused.code(), 1, "{}", refused.transcript());
    assert!(
        refused.stderr().contains("connector::refused"),
        "{}",
        refused.stderr()
    );
    assert!(refused.stderr().contains(ACCOUNT), "{}", refused.stderr());
    assert!(!refused.transcript().contains(wrong_key));
    let refused = home.run(&["connector", "list-resources", "stale"]);
    assert_eq!(refused.code(), 1, "{}", refused.transcript());

    // An Entra ID connector that names no subscription cannot be checked, and says what to add.
    let reg = home.register_connector("entra", "azure", &["--auth-method", "implicit"], "", NO_ENV);
    assert_eq!(reg.code(), 0, "{}", reg.transcript());
    let unsupported = home.run(&["connector", "verify", "entra"]);
    assert_eq!(unsupported.code(), 2, "{}", unsupported.transcript());
    // A template with no azure resources is not deployed through an azure connector, which
    // would be recorded and never used.
    let deploy = home.run(&[
        "deploy",
        "local",
        "--name",
        "via-azure",
        "--connector",
        "blob",
        "--yes",
        "--output",
        "json",
    ]);
    assert_eq!(deploy.code(), 2, "{}", deploy.transcript());
    assert!(
        deploy.stdout().contains("stack::connector_unused")
            || deploy.stderr().contains("stack::connector_unused"),
        "{}",
        deploy.transcript()
    );
    assert!(!home.path("stacks/via-azure/state.json").exists());
    assert!(
        unsupported.stderr().contains("--setting subscription_id="),
        "{}",
        unsupported.stderr()
    );
    // Nor can it list what it reaches (ARM lists by subscription), and it holds no account key
    // to list containers with.
    let listed = home.run(&["connector", "list-resources", "entra"]);
    assert_eq!(listed.code(), 2, "{}", listed.transcript());
    assert!(
        listed.stderr().contains("--setting subscription_id="),
        "{}",
        listed.stderr()
    );
    let containers = home.run(&[
        "connector",
        "list-resources",
        "entra",
        "--resource-type",
        "blob-container",
    ]);
    assert_eq!(containers.code(), 2, "{}", containers.transcript());
    assert!(
        containers.stderr().contains("storage-shared-key"),
        "{}",
        containers.stderr()
    );
}

#[test]
fn kubernetes_and_docker_connectors_are_verified_by_the_server_they_name() {
    use crate::contract::identity_api::{Known, start};
    let api = start(Known {
        tokens: [(
            "kube-token-1".to_owned(),
            "system:serviceaccount:ml:deployer".to_owned(),
        )]
        .into(),
        logins: [("ci".to_owned(), "registry-pass-1".to_owned())].into(),
        basic_only: false,
        ..Known::default()
    });
    let home = Home::new();
    let register = |args: &[&str], stdin: &str| {
        let mut all = vec!["connector", "register"];
        all.extend_from_slice(args);
        let run = home.run_input(&all, stdin);
        assert_eq!(run.code(), 0, "{}", run.transcript());
    };
    let server = format!("server={}", api.url);
    register(
        &[
            "kube",
            "--type",
            "kubernetes",
            "--auth-method",
            "token",
            "--setting",
            &server,
        ],
        "token=kube-token-1\n",
    );
    let verified = home.run(&["connector", "verify", "kube", "--output", "json"]);
    assert_eq!(verified.code(), 0, "{}", verified.transcript());
    assert_eq!(
        verified.json()["verify"]["arn"],
        "system:serviceaccount:ml:deployer"
    );
    assert!(!verified.transcript().contains("kube-token-1"));

    // The same cluster through a stored kubeconfig's current context.
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: ml\nclusters:\n- name: c\n  cluster:\n    server: {}\ncontexts:\n- name: ml\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: kube-token-1\n",
        api.url
    );
    let run = register_kubeconfig(&home, "kubecfg", &kubeconfig);
    assert_eq!(run.code(), 0, "{}", run.transcript());
    let verified = home.run(&["connector", "verify", "kubecfg", "--output", "json"]);
    assert_eq!(verified.code(), 0, "{}", verified.transcript());
    assert_eq!(
        verified.json()["verify"]["arn"],
        "system:serviceaccount:ml:deployer"
    );

    // A kubeconfig whose user is an exec plugin (as `connector login` writes): run as kubectl
    // runs it, with its env and KUBERNETES_EXEC_INFO, and its token shown to the server.
    let plugin = home.write(
        "credential.sh",
        "#!/bin/sh\n[ -n \"$KUBERNETES_EXEC_INFO\" ] || exit 9\n[ \"$1\" = --cluster ] || exit 8\nif [ \"$TOKEN\" = expired ]; then echo 'token expired, sign in again' >&2; exit 1; fi\nprintf '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s\"}}' \"$TOKEN\"\n",
    );
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for (name, token, code) in [
        ("exec-ok", "kube-token-1", 0),
        ("exec-expired", "expired", 1),
    ] {
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: ml\nclusters:\n- name: c\n  cluster:\n    server: {}\ncontexts:\n- name: ml\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: {plugin}\n      args: [--cluster, c]\n      env:\n      - name: TOKEN\n        value: {token}\n",
            api.url
        );
        let run = register_kubeconfig(&home, name, &kubeconfig);
        assert_eq!(run.code(), 0, "{}", run.transcript());
        let verified = home.run(&["connector", "verify", name, "--output", "json"]);
        assert_eq!(verified.code(), code, "{name}: {}", verified.transcript());
        if code == 0 {
            assert_eq!(
                verified.json()["verify"]["arn"],
                "system:serviceaccount:ml:deployer"
            );
        } else {
            let message = verified.json()["error"]["message"].to_string();
            assert!(
                message.contains("token expired, sign in again"),
                "{message}"
            );
        }
    }

    // A token the server does not know: refused, exit 1, the token not shown.
    register(
        &[
            "stale-kube",
            "--type",
            "kubernetes",
            "--auth-method",
            "token",
            "--setting",
            &server,
        ],
        "token=revoked-token-9\n",
    );
    let refused = home.run(&["connector", "verify", "stale-kube", "--output", "json"]);
    assert_eq!(refused.code(), 1, "{}", refused.transcript());
    let message = refused.json()["error"]["message"].to_string();
    assert!(
        message.contains("does not accept the connector's token"),
        "{message}"
    );
    assert!(!refused.transcript().contains("revoked-token-9"));

    // A token registry: challenged, a token fetched with the login, then accepted.
    let registry = format!("registry={}", api.url);
    register(
        &[
            "hub",
            "--type",
            "docker",
            "--auth-method",
            "username-password",
            "--setting",
            &registry,
        ],
        "username=ci\npassword=registry-pass-1\n",
    );
    let verified = home.run(&["connector", "verify", "hub", "--output", "json"]);
    assert_eq!(verified.code(), 0, "{}", verified.transcript());
    assert_eq!(verified.json()["verify"]["arn"], "ci");
    let log = api.log();
    let tail: Vec<&str> = log.iter().rev().take(3).rev().map(String::as_str).collect();
    assert_eq!(tail, ["GET /v2/", "GET /token", "GET /v2/"], "{log:#?}");
    register(
        &[
            "bad-hub",
            "--type",
            "docker",
            "--auth-method",
            "username-password",
            "--setting",
            &registry,
        ],
        "username=ci\npassword=wrong-pass-7\n",
    );
    let refused = home.run(&["connector", "verify", "bad-hub", "--output", "json"]);
    assert_eq!(refused.code(), 1, "{}", refused.transcript());
    let message = refused.json()["error"]["message"].to_string();
    assert!(message.contains("does not accept user `ci`"), "{message}");
    assert!(!refused.transcript().contains("wrong-pass-7"));

    // A registry that takes Basic credentials directly.
    let plain = start(Known {
        logins: [("ci".to_owned(), "registry-pass-1".to_owned())].into(),
        basic_only: true,
        ..Known::default()
    });
    let registry = format!("registry={}", plain.url);
    register(
        &[
            "plain",
            "--type",
            "docker",
            "--auth-method",
            "username-password",
            "--setting",
            &registry,
        ],
        "username=ci\npassword=registry-pass-1\n",
    );
    let verified = home.run(&["connector", "verify", "plain"]);
    assert_eq!(verified.code(), 0, "{}", verified.transcript());
    assert_eq!(plain.log(), ["GET /v2/"]);
}

#[test]
fn an_azure_shared_key_connector_deploys_and_registers_containers_the_environment_cannot_reach() {
    let azurite = crate::harness::azurite::start();
    azurite.create_container("models");
    let home = Home::new();
    let reg = register_shared_key(&home, &azurite, "blob", KEY);
    assert_eq!(reg.code(), 0, "{}", reg.transcript());
    let t = home.write(
        "blobs.yaml",
        "name: blobs\nresources:\n  artifacts:\n    type: azure.storage.container\n    properties: { name: stack-artifacts }\n",
    );
    // The environment names no storage account: without the connector there is nothing to
    // sign with, and the deploy says so.
    let bare = home.run(&["deploy", &t, "--name", "bare", "--yes"]);
    assert_eq!(bare.code(), 1, "{}", bare.transcript());
    assert!(
        bare.stderr().contains("no Azure storage account"),
        "{}",
        bare.stderr()
    );
    assert!(azurite.container("stack-artifacts").is_none());
    // A create refused before anything was sent leaves nothing pending: the stack is destroyed
    // without the credentials it never had.
    assert_eq!(home.state("bare")["pending"], serde_json::json!({}));
    let destroyed = home.run(&["destroy", "bare", "--yes"]);
    assert_eq!(destroyed.code(), 0, "{}", destroyed.transcript());

    let deploy = home.run(&[
        "deploy",
        &t,
        "--name",
        "blobs",
        "--connector",
        "blob",
        "--yes",
    ]);
    assert_eq!(deploy.code(), 0, "{}", deploy.transcript());
    let metadata = azurite
        .container("stack-artifacts")
        .expect("the container was made with the connector's key");
    assert_eq!(
        metadata.get("stackform_address").map(String::as_str),
        Some("artifacts"),
        "{metadata:?}"
    );
    let state = home.state("blobs");
    assert_eq!(state["providers"]["azure"]["connector"], "blob");
    assert!(!state.to_string().contains(KEY));

    // An existing container is registered through the same connector, as an external
    // artifact store with ZenML's azure flavor.
    let registered = home.register_stack(
        "existing",
        "blob",
        &["--artifact-store", "az://models"],
        NO_ENV,
    );
    assert_eq!(registered.code(), 0, "{}", registered.transcript());
    let existing = home.state("existing");
    let store = &existing["resources"]["artifact_store"];
    assert_eq!(store["type"], "azure.storage.container");
    assert_eq!(store["found"]["external"], true);
    let component = &existing["components"][0];
    assert_eq!(component["flavor"], "azure");
    assert_eq!(component["configuration"]["path"], "az://models");
    assert_eq!(component["configuration"]["account_name"], ACCOUNT);
    let missing = home.register_stack(
        "ghost",
        "blob",
        &["--artifact-store", "az://no-such-container"],
        NO_ENV,
    );
    assert_eq!(missing.code(), 2, "{}", missing.transcript());
    assert!(
        missing.stderr().contains("az://no-such-container"),
        "{}",
        missing.stderr()
    );
    let registry = home.register_stack(
        "ghost",
        "blob",
        &["--container-registry", "ml.azurecr.io"],
        NO_ENV,
    );
    assert_eq!(registry.code(), 2, "{}", registry.transcript());
    assert!(
        registry.stderr().contains("az://CONTAINER"),
        "{}",
        registry.stderr()
    );
    assert!(!home.path("stacks/ghost/state.json").exists());

    // Deregistering leaves the container; the deployed stack's destroy removes its own through
    // the connector its state records.
    let gone = home.run(&["destroy", "existing", "--yes"]);
    assert_eq!(gone.code(), 0, "{}", gone.transcript());
    assert!(azurite.container("models").is_some());
    let destroy = home.run(&["destroy", "blobs", "--yes"]);
    assert_eq!(destroy.code(), 0, "{}", destroy.transcript());
    assert!(azurite.container("stack-artifacts").is_none());

    // ARM takes no account key: an ARM resource through this connector is refused, naming the
    // connector methods that work.
    let arm = home.write(
        "group.yaml",
        "name: group\nproviders:\n  azure:\n    subscription_id: 00000000-0000-0000-0000-000000000001\n    location: westeurope\nresources:\n  group:\n    type: azure.resource_group\n    properties: { name: rg-ml }\n",
    );
    let refused = home.run(&[
        "deploy",
        &arm,
        "--name",
        "group",
        "--connector",
        "blob",
        "--yes",
    ]);
    assert_ne!(refused.code(), 0, "{}", refused.transcript());
    assert!(
        refused.stderr().contains("service-principal"),
        "{}",
        refused.stderr()
    );
}

#[test]
fn a_kubeconfig_user_with_a_client_certificate_is_verified_in_the_tls_handshake() {
    use crate::contract::identity_api::{Known, start_tls};
    use base64::Engine as _;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let tls = crate::harness::repo_root().join("tests/fixtures/tls");
    let read = |f: &str| std::fs::read(tls.join(f)).unwrap();
    let client = CertificateDer::from_pem_file(tls.join("client.pem")).unwrap();
    let api = start_tls(Known {
        certificates: [(
            client.as_ref().to_vec(),
            ("ops-admin".to_owned(), vec!["system:masters".to_owned()]),
        )]
        .into(),
        ..Known::default()
    });
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let home = Home::new();
    let kubeconfig = |cert: &str, key: &str| {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: admin\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority-data: {}\ncontexts:\n- name: admin\n  context:\n    cluster: c\n    user: admin\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            api.url,
            b64(&read("ca.pem")),
            b64(&read(cert)),
            b64(&read(key)),
        )
    };
    let register = |name: &str, text: &str| {
        let run = register_kubeconfig(&home, name, text);
        assert_eq!(run.code(), 0, "{}", run.transcript());
    };
    register("admin", &kubeconfig("client.pem", "client-key.pem"));
    let verified = home.run(&["connector", "verify", "admin", "--output", "json"]);
    assert_eq!(verified.code(), 0, "{}", verified.transcript());
    assert_eq!(verified.json()["verify"]["arn"], "ops-admin");
    let key = String::from_utf8(read("client-key.pem")).unwrap();
    let key_line = key.lines().nth(1).unwrap();
    assert!(!verified.transcript().contains(key_line));
    assert_eq!(
        api.log(),
        ["POST /apis/authentication.k8s.io/v1/selfsubjectreviews"]
    );

    // A certificate from a CA the API server does not trust fails the handshake: refused, exit
    // 1, nothing of the key shown.
    register("stranger", &kubeconfig("server.pem", "server-key.pem"));
    let refused = home.run(&["connector", "verify", "stranger", "--output", "json"]);
    assert_eq!(refused.code(), 1, "{}", refused.transcript());
    let server_key = String::from_utf8(read("server-key.pem")).unwrap();
    assert!(
        !refused
            .transcript()
            .contains(server_key.lines().nth(1).unwrap())
    );

    // An exec plugin may answer with a client certificate and key instead of a token.
    let plugin = home.write(
        "cert-plugin.sh",
        &format!(
            "#!/bin/sh\n[ -n \"$KUBERNETES_EXEC_INFO\" ] || exit 9\npython3 -c 'import json,sys; print(json.dumps({{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{{\"clientCertificateData\":open(sys.argv[1]).read(),\"clientKeyData\":open(sys.argv[2]).read()}}}}))' {} {}\n",
            tls.join("client.pem").display(),
            tls.join("client-key.pem").display()
        ),
    );
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    register(
        "exec-cert",
        &format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: admin\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority-data: {}\ncontexts:\n- name: admin\n  context:\n    cluster: c\n    user: admin\nusers:\n- name: admin\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: {plugin}\n",
            api.url,
            b64(&read("ca.pem")),
        ),
    );
    let verified = home.run(&["connector", "verify", "exec-cert", "--output", "json"]);
    assert_eq!(verified.code(), 0, "{}", verified.transcript());
    assert_eq!(verified.json()["verify"]["arn"], "ops-admin");
}
