//! What the Google APIs' errors mean to the executor: the generated clients' errors
//! ([`classify`]) and the GCS JSON API's answers ([`error`]).

use google_cloud_gax::error::rpc::Code;
use serde_json::Value as Json;
use stackform_engine::provider::{ErrorKind, ProviderError};

use super::json::Answer;

/// What a failed call means: `what` names the call and its target, e.g.
/// `container.clusters.create projects/p/locations/l/clusters/c`.
pub fn classify(e: google_cloud_gax::error::Error, what: &str) -> ProviderError {
    let code = e.status().map(|s| s.code);
    let message = e
        .status()
        .map(|s| s.message.clone())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| e.to_string());
    let kind = match (e.http_status_code(), code) {
        (Some(404), _) | (_, Some(Code::NotFound)) => ErrorKind::NotFound,
        (Some(409), _) | (_, Some(Code::AlreadyExists | Code::Aborted)) => ErrorKind::Conflict,
        (Some(401 | 403), _) | (_, Some(Code::PermissionDenied | Code::Unauthenticated)) => {
            ErrorKind::Permission
        }
        (Some(429 | 500..=599), _)
        | (_, Some(Code::ResourceExhausted | Code::Unavailable | Code::Internal)) => {
            ErrorKind::Retryable
        }
        (Some(400), _) | (_, Some(Code::InvalidArgument | Code::FailedPrecondition)) => {
            ErrorKind::Invalid
        }
        _ if e.is_timeout() || e.is_io() || e.is_connect() || e.is_transport() => {
            if e.is_transient_and_before_rpc() {
                ErrorKind::Retryable
            } else {
                ErrorKind::OutcomeUnknown
            }
        }
        _ if e.is_authentication() => ErrorKind::Permission,
        _ => ErrorKind::Other,
    };
    let hint = match kind {
        ErrorKind::Permission => {
            "; check the Google credentials (application default credentials or GOOGLE_APPLICATION_CREDENTIALS) and their roles on the project"
        }
        _ => "",
    };
    ProviderError::new(kind, format!("{what}: {message}{hint}"))
}

/// Whether an error is "already exists" (a create that an earlier attempt made).
pub fn exists(e: &ProviderError) -> bool {
    e.kind == ErrorKind::Conflict
}

/// The classified error of an answer that was not a success.
pub fn error(what: &str, a: &Answer) -> ProviderError {
    let message = a.body["error"]["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| match &a.body {
            Json::String(s) => s.trim().to_owned(),
            Json::Null => String::new(),
            other => other.to_string(),
        });
    let code = a.status.as_u16();
    let kind = match code {
        404 => ErrorKind::NotFound,
        409 | 412 => ErrorKind::Conflict,
        401 | 403 => ErrorKind::Permission,
        429 | 503 => ErrorKind::Retryable,
        500..=599 => ErrorKind::OutcomeUnknown,
        _ => ErrorKind::Invalid,
    };
    let hint = if kind == ErrorKind::Permission {
        "; check the Google credentials (application default credentials or GOOGLE_APPLICATION_CREDENTIALS)"
    } else {
        ""
    };
    ProviderError::new(kind, format!("{what}: HTTP {code} {message}{hint}"))
}

/// The answer of a call whose target may be gone: `None` then, the classified error of `what`
/// for anything else that went wrong.
pub fn unless_missing<T>(
    sent: Result<T, google_cloud_gax::error::Error>,
    what: &str,
) -> Result<Option<T>, ProviderError> {
    match sent {
        Ok(found) => Ok(Some(found)),
        Err(e) => {
            let err = classify(e, what);
            if err.kind == ErrorKind::NotFound {
                return Ok(None);
            }
            Err(err)
        }
    }
}
