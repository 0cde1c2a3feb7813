//! AWS SDK errors as the engine's classes, with the request id and what the user can do.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::request_id::RequestId;
use stackform_engine::provider::{ErrorKind, ProviderError};

use super::Clients;

const RETRYABLE: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "TooManyRequestsException",
    "SlowDown",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
    // Deletes blocked by something being deleted at the same moment: retried with a bounded wait.
    "DependencyViolation",
    "DeleteConflict",
    "OperationAborted",
    "ConcurrentModification",
    "ResourceInUseException",
    "ResourceInUse",
    "VolumeInUse",
    "InvalidNetworkInterface.InUse",
];

const PERMISSION: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "AuthFailure",
    "UnrecognizedClientException",
];

const NOT_FOUND: &[&str] = &[
    "NoSuchBucket",
    "NotFound",
    "NoSuchEntity",
    "RepositoryNotFoundException",
    "ResourceNotFoundException",
    "InvalidVpcID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidInternetGatewayID.NotFound",
    "InvalidRouteTableID.NotFound",
    "InvalidGroup.NotFound",
    "InvalidGroupId.NotFound",
    "InvalidAssociationID.NotFound",
    "InvalidNetworkInterfaceID.NotFound",
    "InvalidVolume.NotFound",
    "LoadBalancerNotFound",
    "TargetGroupNotFound",
    "ListenerNotFound",
];

const CONFLICT: &[&str] = &[
    "BucketAlreadyExists",
    "BucketAlreadyOwnedByYou",
    "EntityAlreadyExists",
    "RepositoryAlreadyExistsException",
    "InvalidGroup.Duplicate",
    "ResourceAlreadyExistsException",
];

/// Turns an SDK error of the call `action` (e.g. `s3:CreateBucket`) into a classified error.
pub fn classify<E>(err: SdkError<E, HttpResponse>, action: &str, clients: &Clients) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let request_id = err.request_id().map(str::to_owned);
    let (kind, message) = match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let status = service.raw().status().as_u16();
            let fallback = format!("HTTP {status}");
            let code = e.code().unwrap_or(&fallback);
            let text = e.message().unwrap_or("");
            // EKS refuses a role created a moment ago until IAM has propagated it.
            let iam_lag =
                code == "InvalidParameterException" && text.contains("could not be assumed");
            let kind = if RETRYABLE.contains(&code) || iam_lag || status == 429 || status == 503 {
                // Throttled or unavailable: the request was not carried out.
                ErrorKind::Retryable
            } else if status >= 500 {
                // An internal error may have happened after the work was done: look before retrying.
                ErrorKind::OutcomeUnknown
            } else if PERMISSION.contains(&code) || status == 403 {
                ErrorKind::Permission
            } else if NOT_FOUND.contains(&code) {
                ErrorKind::NotFound
            } else if CONFLICT.contains(&code) {
                ErrorKind::Conflict
            } else {
                ErrorKind::Invalid
            };
            let message = if kind == ErrorKind::Permission {
                format!(
                    "{action} was refused for {} in {}: {code}: {text}",
                    clients.identity, clients.region
                )
            } else {
                format!("{action}: {code}: {text}")
            };
            (kind, message)
        }
        // The request may have reached AWS: the caller must look before trying again.
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => (
            ErrorKind::OutcomeUnknown,
            format!(
                "{action}: no answer from AWS ({})",
                aws_smithy_types::error::display::DisplayErrorContext(&err)
            ),
        ),
        _ => (
            ErrorKind::Other,
            format!(
                "{action}: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&err)
            ),
        ),
    };
    ProviderError {
        kind,
        message,
        request_id,
    }
}

/// Whether an SDK error means "not found".
pub fn is_not_found<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(s) => s.err().code().is_some_and(|c| NOT_FOUND.contains(&c)),
        _ => false,
    }
}
