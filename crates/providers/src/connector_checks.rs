//! kubernetes and docker connectors: who they are, asked of the cluster's API server or of the
//! registry itself, with the connector's credentials from the secret store.
//!
//! A kubernetes connector's token (given, or the current context's user in a stored kubeconfig)
//! is shown to the API server in a `SelfSubjectReview`, which answers with the user the server
//! takes it for (https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/self-subject-review-v1/).
//! A docker connector logs in to its registry's `/v2/` endpoint as the distribution spec
//! describes: Basic credentials, or, when the registry answers with a `Bearer` challenge, a token
//! from the realm it names (https://distribution.github.io/distribution/spec/auth/token/).
//! Credentials appear in requests only, never in an error.

use base64::Engine as _;
use stackform_engine::connectors::Resolved;
use stackform_engine::provider::{ErrorKind, ProviderError};

fn invalid(message: String) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, message)
}

fn client(ca_pem: Option<&[u8]>) -> Result<reqwest::Client, ProviderError> {
    crate::tls::ensure();
    let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30));
    if let Some(pem) = ca_pem {
        let cert = reqwest::Certificate::from_pem(pem)
            .map_err(|e| invalid(format!("the certificate authority is not PEM: {e}")))?;
        builder = builder.add_root_certificate(cert);
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

/// The API server, its certificate authority and the bearer token a kubernetes connector uses.
fn kubernetes_target(
    resolved: &Resolved,
) -> Result<(String, Option<Vec<u8>>, String), ProviderError> {
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
            Ok((server.clone(), ca, token.clone()))
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

/// The server, certificate authority and token of a kubeconfig's context (`context`, else its
/// current one). Users that authenticate otherwise (exec plugins, client certificates) are not
/// checked here.
fn from_kubeconfig(
    name: &str,
    text: &str,
    context: Option<&str>,
) -> Result<(String, Option<Vec<u8>>, String), ProviderError> {
    use stackform_engine::value::Value;
    let source = stackform_engine::source::SourceFile::new("kubeconfig", text);
    let doc = stackform_engine::yaml::parse(&source)
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
    let token = text_of(get(&user, "token")).ok_or_else(|| {
        invalid(format!(
            "user `{user_name}` in the kubeconfig of connector `{name}` has no token: users that sign in otherwise (exec plugins, client certificates) are checked when kubectl uses them"
        ))
    })?;
    Ok((server, ca, token))
}

/// The API server a kubernetes connector reaches and the user it is taken for there.
pub async fn kubernetes_identity(resolved: &Resolved) -> Result<(String, String), ProviderError> {
    let (server, ca, token) = kubernetes_target(resolved)?;
    let server = server.trim_end_matches('/').to_owned();
    let what = format!("SelfSubjectReview at {server}");
    let answer = client(ca.as_deref())?
        .post(format!(
            "{server}/apis/authentication.k8s.io/v1/selfsubjectreviews"
        ))
        .bearer_auth(&token)
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
