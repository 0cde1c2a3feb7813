//! The `kubernetes` and `docker` connector kinds: who they are, asked of the cluster's API
//! server or of the registry itself, with the connector's credentials from the secret store. No
//! stackform resource type runs on these connectors, so there are no declared actions to check.
//!
//! A kubernetes connector's credential (a token given, or the current context's user's in a
//! stored kubeconfig: its token, its embedded client certificate, or what its `exec` plugin
//! prints) is shown to the API server with a `SelfSubjectReview`, which answers with the user
//! the server takes it for (https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/self-subject-review-v1/).
//! A docker connector logs in to its registry's `/v2/` endpoint as the distribution spec
//! describes: Basic credentials, or, when the registry answers with a `Bearer` challenge, a token
//! from the realm it names (https://distribution.github.io/distribution/spec/auth/token/).
//! Credentials appear in requests only, never in an error.

use base64::Engine as _;
use stackform_engine::ext::connectors::Resolved;
use stackform_engine::provider::{
    AuthMethod, ConnectorFailure, ConnectorKind, ErrorKind, Identity, ProviderError,
};

/// The `kubernetes` connector kind: one cluster's API server.
pub struct Kubernetes;

/// The `docker` connector kind: one registry.
pub struct Docker;

const KUBERNETES: &[AuthMethod] = &[
    AuthMethod::new("token", &["token"], &["server", "certificate_authority"]),
    AuthMethod::new("kubeconfig", &["kubeconfig"], &["context"]),
];

const DOCKER: &[AuthMethod] = &[AuthMethod::new(
    "username-password",
    &["username", "password"],
    &["registry"],
)];

#[async_trait::async_trait]
impl ConnectorKind for Kubernetes {
    fn name(&self) -> &str {
        "kubernetes"
    }

    fn auth_methods(&self) -> &[AuthMethod] {
        KUBERNETES
    }

    /// The API server, and the user it takes the credential for.
    async fn identify(&self, connector: &Resolved) -> Result<Identity, ConnectorFailure> {
        let (scope, identity) = kubernetes_identity(connector).await?;
        Ok(Identity { scope, identity })
    }
}

#[async_trait::async_trait]
impl ConnectorKind for Docker {
    fn name(&self) -> &str {
        "docker"
    }

    fn auth_methods(&self) -> &[AuthMethod] {
        DOCKER
    }

    /// The registry, and the user it logged in.
    async fn identify(&self, connector: &Resolved) -> Result<Identity, ConnectorFailure> {
        let (scope, identity) = docker_identity(connector).await?;
        Ok(Identity { scope, identity })
    }
}

fn invalid(message: String) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, message)
}

fn client(ca_pem: Option<&[u8]>) -> Result<reqwest::Client, ProviderError> {
    client_as(ca_pem, None)
}

/// A client trusting `ca_pem`, presenting `identity` (a certificate and its key, PEM) when the
/// server asks for one.
fn client_as(
    ca_pem: Option<&[u8]>,
    identity: Option<&[u8]>,
) -> Result<reqwest::Client, ProviderError> {
    crate::tls::ensure();
    let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30));
    if let Some(pem) = ca_pem {
        let cert = reqwest::Certificate::from_pem(pem)
            .map_err(|e| invalid(format!("the certificate authority is not PEM: {e}")))?;
        builder = builder.add_root_certificate(cert);
    }
    if let Some(pem) = identity {
        // Never the key's text in the message.
        let id = reqwest::Identity::from_pem(pem).map_err(|_| {
            invalid(
                "the client certificate and key are not PEM (a certificate and its private key)"
                    .into(),
            )
        })?;
        builder = builder.identity(id);
    }
    builder
        .build()
        .map_err(|e| ProviderError::new(ErrorKind::Other, format!("http client: {e}")))
}

fn unreachable(what: &str, e: reqwest::Error) -> ProviderError {
    // reqwest's text names the URL, never headers.
    ProviderError::new(ErrorKind::Retryable, format!("{what}: unreachable: {e}"))
}

/// A certificate authority as kubeconfigs give it: base64 of PEM, or PEM itself.
fn pem(ca: &str) -> Vec<u8> {
    if ca.contains("-----BEGIN") {
        return ca.as_bytes().to_vec();
    }
    base64::engine::general_purpose::STANDARD
        .decode(ca.trim())
        .unwrap_or_else(|_| ca.as_bytes().to_vec())
}

/// How a kubernetes user proves who it is: a bearer token, or an `exec` credential plugin that
/// prints one (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins),
/// such as the `stackform connector token` entry that `connector login` writes.
enum Credential {
    Token(String),
    /// A client certificate and its key, PEM, shown in the TLS handshake.
    Certificate(Vec<u8>),
    Exec {
        command: String,
        args: Vec<String>,
        env: Vec<(String, String)>,
    },
}

/// The API server, its certificate authority and the credential a kubernetes connector uses.
fn kubernetes_target(
    resolved: &Resolved,
) -> Result<(String, Option<Vec<u8>>, Credential), ProviderError> {
    let c = &resolved.connector;
    match c.auth_method.as_str() {
        "token" => {
            let server = c.settings.get("server").ok_or_else(|| {
                invalid(format!(
                    "kubernetes connector `{}` names no API server: register it with `--setting server=https://HOST:PORT`",
                    c.name
                ))
            })?;
            let token = resolved.secrets.get("token").ok_or_else(|| {
                invalid(format!(
                    "kubernetes connector `{}` has no `token` in the secret store",
                    c.name
                ))
            })?;
            let ca = c.settings.get("certificate_authority").map(|a| pem(a));
            Ok((server.clone(), ca, Credential::Token(token.clone())))
        }
        "kubeconfig" => {
            let text = resolved.secrets.get("kubeconfig").ok_or_else(|| {
                invalid(format!(
                    "kubernetes connector `{}` has no `kubeconfig` in the secret store",
                    c.name
                ))
            })?;
            from_kubeconfig(&c.name, text, c.settings.get("context").map(String::as_str))
        }
        other => Err(invalid(format!(
            "kubernetes connector `{}` uses unknown auth method `{other}`",
            c.name
        ))),
    }
}

/// The server, certificate authority and credential of a kubeconfig's context (`context`, else
/// its current one): the user's token, or its `exec` plugin. Users that authenticate with client
/// certificates are not checked here.
fn from_kubeconfig(
    name: &str,
    text: &str,
    context: Option<&str>,
) -> Result<(String, Option<Vec<u8>>, Credential), ProviderError> {
    use stackform_engine::base::value::Value;
    let source = stackform_engine::base::source::SourceFile::new("kubeconfig", text);
    let doc = stackform_engine::lang::yaml::parse(&source)
        .map_err(|_| invalid(format!("the kubeconfig of connector `{name}` is not YAML")))?
        .to_value();
    let get = |v: &Value, k: &str| match v {
        Value::Map(m) => m.get(k).cloned(),
        _ => None,
    };
    let text_of = |v: Option<Value>| match v {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let named = |list: &str, wanted: &str, field: &str| -> Option<Value> {
        match get(&doc, list) {
            Some(Value::List(items)) => items
                .into_iter()
                .find(|i| text_of(get(i, "name")).as_deref() == Some(wanted))
                .and_then(|i| get(&i, field)),
            _ => None,
        }
    };
    let context_name = context
        .map(str::to_owned)
        .or_else(|| text_of(get(&doc, "current-context")))
        .ok_or_else(|| {
            invalid(format!(
                "the kubeconfig of connector `{name}` has no current context: register it with `--setting context=NAME`"
            ))
        })?;
    let ctx = named("contexts", &context_name, "context").ok_or_else(|| {
        invalid(format!(
            "the kubeconfig of connector `{name}` has no context `{context_name}`"
        ))
    })?;
    let cluster_name = text_of(get(&ctx, "cluster")).unwrap_or_default();
    let user_name = text_of(get(&ctx, "user")).unwrap_or_default();
    let cluster = named("clusters", &cluster_name, "cluster").ok_or_else(|| {
        invalid(format!(
            "the kubeconfig of connector `{name}` has no cluster `{cluster_name}`"
        ))
    })?;
    let server = text_of(get(&cluster, "server")).ok_or_else(|| {
        invalid(format!(
            "cluster `{cluster_name}` in the kubeconfig of connector `{name}` has no server"
        ))
    })?;
    let ca = text_of(get(&cluster, "certificate-authority-data")).map(|a| pem(&a));
    let user = named("users", &user_name, "user").unwrap_or(Value::Null);
    if let Some(token) = text_of(get(&user, "token")) {
        return Ok((server, ca, Credential::Token(token)));
    }
    if let (Some(cert), Some(key)) = (
        text_of(get(&user, "client-certificate-data")),
        text_of(get(&user, "client-key-data")),
    ) {
        let mut identity = pem(&cert);
        identity.push(b'\n');
        identity.extend(pem(&key));
        return Ok((server, ca, Credential::Certificate(identity)));
    }
    if text_of(get(&user, "client-certificate")).is_some() {
        return Err(invalid(format!(
            "user `{user_name}` in the kubeconfig of connector `{name}` names its client certificate by a file path: the connector holds only what the kubeconfig carries; embed them (`kubectl config view --minify --flatten`) and register it again"
        )));
    }
    if let Some(exec) = get(&user, "exec") {
        let command = text_of(get(&exec, "command")).ok_or_else(|| {
            invalid(format!(
                "user `{user_name}` in the kubeconfig of connector `{name}` has an exec entry without a command"
            ))
        })?;
        let args = match get(&exec, "args") {
            Some(Value::List(items)) => {
                items.into_iter().filter_map(|a| text_of(Some(a))).collect()
            }
            _ => Vec::new(),
        };
        let env = match get(&exec, "env") {
            Some(Value::List(items)) => items
                .iter()
                .filter_map(|e| Some((text_of(get(e, "name"))?, text_of(get(e, "value"))?)))
                .collect(),
            _ => Vec::new(),
        };
        return Ok((server, ca, Credential::Exec { command, args, env }));
    }
    Err(invalid(format!(
        "user `{user_name}` in the kubeconfig of connector `{name}` has no token, client certificate or exec plugin to sign in with"
    )))
}

/// Runs an exec credential plugin as kubectl would (no terminal, 30 s at most) and returns the
/// token, or the client certificate and key (PEM), its `ExecCredential` carries.
fn exec_token(
    command: &str,
    args: &[String],
    env: &[(String, String)],
) -> Result<(Option<String>, Option<Vec<u8>>), ProviderError> {
    use std::io::Read;
    let failed = |m: String| ProviderError::new(ErrorKind::Permission, m);
    let mut child = std::process::Command::new(command)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env(
            "KUBERNETES_EXEC_INFO",
            r#"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{"interactive":false}}"#,
        )
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("the kubeconfig's exec plugin `{command}` cannot run: {e}")))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| failed(e.to_string()))? {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            return Err(failed(format!(
                "the kubeconfig's exec plugin `{command}` gave no credential within 30s"
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        return Err(failed(format!(
            "the kubeconfig's exec plugin `{command}` failed ({status}): {}",
            err.lines().last().unwrap_or("").trim()
        )));
    }
    let credential: serde_json::Value = serde_json::from_str(&out).map_err(|_| {
        failed(format!(
            "the kubeconfig's exec plugin `{command}` did not print an ExecCredential"
        ))
    })?;
    let status = &credential["status"];
    if let Some(token) = status["token"].as_str() {
        return Ok((Some(token.to_owned()), None));
    }
    match (
        status["clientCertificateData"].as_str(),
        status["clientKeyData"].as_str(),
    ) {
        (Some(cert), Some(key)) => Ok((
            None,
            Some(format!("{}\n{}", cert.trim_end(), key.trim_end()).into_bytes()),
        )),
        _ => Err(failed(format!(
            "the ExecCredential of `{command}` has neither `status.token` nor `status.clientCertificateData` and `status.clientKeyData`"
        ))),
    }
}

/// The API server a kubernetes connector reaches and the user it is taken for there.
pub async fn kubernetes_identity(resolved: &Resolved) -> Result<(String, String), ProviderError> {
    let (server, ca, credential) = kubernetes_target(resolved)?;
    let (token, identity) = match credential {
        Credential::Token(t) => (Some(t), None),
        Credential::Certificate(pem) => (None, Some(pem)),
        Credential::Exec { command, args, env } => {
            tokio::task::spawn_blocking(move || exec_token(&command, &args, &env))
                .await
                .map_err(|e| ProviderError::new(ErrorKind::Other, e.to_string()))??
        }
    };
    let server = server.trim_end_matches('/').to_owned();
    let what = format!("SelfSubjectReview at {server}");
    let mut request = client_as(ca.as_deref(), identity.as_deref())?.post(format!(
        "{server}/apis/authentication.k8s.io/v1/selfsubjectreviews"
    ));
    if let Some(token) = &token {
        request = request.bearer_auth(token);
    }
    let answer = request
        .json(&serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "SelfSubjectReview",
        }))
        .send()
        .await
        .map_err(|e| unreachable(&what, e))?;
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.unwrap_or_default();
    if status.as_u16() == 401 || status.as_u16() == 403 {
        return Err(ProviderError::new(
            ErrorKind::Permission,
            format!(
                "{what}: HTTP {status}: the API server does not accept the connector's token{}",
                body["message"]
                    .as_str()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ),
        ));
    }
    if !status.is_success() {
        return Err(ProviderError::new(
            ErrorKind::Other,
            format!(
                "{what}: HTTP {status} {}",
                body["message"].as_str().unwrap_or("")
            ),
        ));
    }
    let user = body["status"]["userInfo"]["username"]
        .as_str()
        .unwrap_or("(no username)")
        .to_owned();
    Ok((server, user))
}

/// The registry a docker connector logs in to and the user it logs in as, once the registry
/// has accepted the login.
pub async fn docker_identity(resolved: &Resolved) -> Result<(String, String), ProviderError> {
    let c = &resolved.connector;
    let registry = c.settings.get("registry").ok_or_else(|| {
        invalid(format!(
            "docker connector `{}` names no registry: register it with `--setting registry=HOST`",
            c.name
        ))
    })?;
    let (user, password) = match (
        resolved.secrets.get("username"),
        resolved.secrets.get("password"),
    ) {
        (Some(u), Some(p)) => (u.clone(), p.clone()),
        _ => {
            return Err(invalid(format!(
                "docker connector `{}` lacks `username` or `password` in the secret store",
                c.name
            )));
        }
    };
    let base = if registry.contains("://") {
        registry.trim_end_matches('/').to_owned()
    } else {
        format!("https://{}", registry.trim_end_matches('/'))
    };
    let what = format!("login to {base}/v2/");
    let http = client(None)?;
    let refused = |status: reqwest::StatusCode| {
        ProviderError::new(
            ErrorKind::Permission,
            format!(
                "{what}: HTTP {status}: the registry does not accept user `{user}` with the connector's password"
            ),
        )
    };
    let first = http
        .get(format!("{base}/v2/"))
        .basic_auth(&user, Some(&password))
        .send()
        .await
        .map_err(|e| unreachable(&what, e))?;
    if first.status().is_success() {
        return Ok((base, user.clone()));
    }
    if first.status().as_u16() != 401 {
        return Err(ProviderError::new(
            ErrorKind::Other,
            format!("{what}: HTTP {}", first.status()),
        ));
    }
    // A token registry: the challenge names where to get one.
    let challenge = first
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Some(params) = challenge.strip_prefix("Bearer ") else {
        return Err(refused(first.status()));
    };
    let param = |key: &str| {
        params.split(',').find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            (k == key).then(|| v.trim_matches('"').to_owned())
        })
    };
    let Some(realm) = param("realm") else {
        return Err(refused(first.status()));
    };
    let mut query = vec![("account", user.clone())];
    if let Some(service) = param("service") {
        query.push(("service", service));
    }
    let issued = http
        .get(&realm)
        .query(&query)
        .basic_auth(&user, Some(&password))
        .send()
        .await
        .map_err(|e| unreachable(&what, e))?;
    if !issued.status().is_success() {
        return Err(refused(issued.status()));
    }
    let body: serde_json::Value = issued.json().await.unwrap_or_default();
    let Some(token) = body["token"].as_str().or(body["access_token"].as_str()) else {
        return Err(ProviderError::new(
            ErrorKind::Other,
            format!("{what}: the token service at {realm} answered without a token"),
        ));
    };
    let second = http
        .get(format!("{base}/v2/"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| unreachable(&what, e))?;
    if second.status().is_success() {
        Ok((base, user.clone()))
    } else {
        Err(refused(second.status()))
    }
}
