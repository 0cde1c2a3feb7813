//! What Azure's errors mean to the executor: the Blob service's ([`error`], [`code`]) and ARM's
//! answers ([`classify`]).

use stackform_engine::provider::{ErrorKind, ProviderError};

use super::arm::Answer;

/// The classified error of a failed call `what`.
pub fn error(what: &str, e: &azure_core::Error) -> ProviderError {
    if matches!(e.kind(), azure_core::error::ErrorKind::Credential) {
        return ProviderError::new(
            ErrorKind::Permission,
            format!(
                "{what}: no Entra ID token: {}; sign in with `az login`, set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or give the account key (AZURE_STORAGE_KEY or AZURE_STORAGE_CONNECTION_STRING)",
                causes(e)
            ),
        );
    }
    let status = e.http_status().map(u16::from);
    let code = match e.kind() {
        azure_core::error::ErrorKind::HttpResponse { error_code, .. } => error_code.clone(),
        _ => None,
    }
    .unwrap_or_default();
    let kind = match status {
        Some(404) => ErrorKind::NotFound,
        Some(409) | Some(412) => ErrorKind::Conflict,
        Some(401) | Some(403) => ErrorKind::Permission,
        Some(429) | Some(503) => ErrorKind::Retryable,
        Some(500..=599) => ErrorKind::OutcomeUnknown,
        Some(_) => ErrorKind::Invalid,
        None => ErrorKind::Retryable,
    };
    let hint = if kind == ErrorKind::Permission {
        "; check the storage account's key (AZURE_STORAGE_KEY or AZURE_STORAGE_CONNECTION_STRING)"
    } else {
        ""
    };
    let status = status.map_or_else(|| "no answer".to_owned(), |s| format!("HTTP {s}"));
    ProviderError::new(kind, format!("{what}: {status} {code}{hint}"))
}

/// An error with what caused it, innermost last (the SDK's outer messages say little).
pub fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        next = cause.source();
    }
    text
}

/// The error code Azure answered with (`ContainerAlreadyExists`, `BlobNotFound`, ...).
pub fn code(e: &azure_core::Error) -> Option<&str> {
    match e.kind() {
        azure_core::error::ErrorKind::HttpResponse { error_code, .. } => error_code.as_deref(),
        _ => None,
    }
}

/// What a failed answer means.
pub fn classify(what: &str, a: &Answer) -> ProviderError {
    let code = a.body["error"]["code"].as_str().unwrap_or_default();
    let message = a.body["error"]["message"].as_str().unwrap_or_default();
    let kind = match (a.status, code) {
        (404, _) => ErrorKind::NotFound,
        // Just made, not yet known everywhere (a new identity's principal, ...).
        (400, "PrincipalNotFound") => ErrorKind::Retryable,
        (409, "OperationNotAllowed" | "AnotherOperationInProgress") => ErrorKind::Retryable,
        (409, _) => ErrorKind::Conflict,
        (401 | 403, _) => ErrorKind::Permission,
        (429 | 502 | 503 | 504, _) => ErrorKind::Retryable,
        (500..=599, _) => ErrorKind::OutcomeUnknown,
        _ => ErrorKind::Invalid,
    };
    let hint = if kind == ErrorKind::Permission {
        "; check the identity's role assignments on the subscription (Contributor, and User Access Administrator for role assignments)"
    } else {
        ""
    };
    ProviderError::new(
        kind,
        format!("{what}: HTTP {} {code}: {message}{hint}", a.status),
    )
}
