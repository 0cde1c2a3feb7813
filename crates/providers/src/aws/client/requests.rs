//! The shapes of answers every AWS type handles alike: all pages of a listing, the idempotency
//! token of a create, "already gone" as success for a delete and its steps, "already done" for
//! a step an earlier attempt may have made, and a named create that an earlier attempt made
//! (adopted only when it carries this stack's marks).

use std::future::Future;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use stackform_engine::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, ProviderError, RecoveryKey,
};

use super::Clients;
use super::error::{classify, is_not_found};

/// The result of one SDK call.
type Sent<T, E> = Result<T, SdkError<E, Response>>;

/// Every item of a paginated listing: `fetch(token)` returns one page and the next token (none,
/// or empty, after the last page).
pub async fn pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, ProviderError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), ProviderError>>,
{
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let (items, next) = fetch(token.take()).await?;
        out.extend(items);
        match next {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(out),
        }
    }
}

/// The idempotency token recorded with this create's intent, for APIs that take one.
pub fn client_token(ctx: &OpContext) -> Option<String> {
    match &ctx.recovery {
        RecoveryKey::Token { token } => Some(token.clone()),
        _ => None,
    }
}

/// The answer of a call whose target may be gone: `None` then, the classified error of
/// `action` for anything else that went wrong.
pub fn unless_missing<T, E>(
    sent: Sent<T, E>,
    action: &str,
    c: &Clients,
) -> Result<Option<T>, ProviderError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match sent {
        Ok(out) => Ok(Some(out)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(classify(e, action, c)),
    }
}

/// A delete's answer: deleted now, or gone already, is done.
pub fn deleted<T, E>(sent: Sent<T, E>, action: &str, c: &Clients) -> Result<Outcome, ProviderError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    unless_missing(sent, action, c).map(|_| Progress::Done(None))
}

/// For the steps of a delete: something already gone is what the step wanted.
pub fn gone_is_fine<T, E>(sent: Sent<T, E>, action: &str, c: &Clients) -> Result<(), ProviderError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    unless_missing(sent, action, c).map(|_| ())
}

/// A step that an earlier attempt (whose answer was lost, then retried by the SDK) may already
/// have done: the "already there" codes in `done_codes` mean success.
pub fn already<T, E>(
    sent: Sent<T, E>,
    action: &str,
    c: &Clients,
    done_codes: &[&str],
) -> Result<(), ProviderError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match sent {
        Ok(_) => Ok(()),
        Err(e) => {
            let err = classify(e, action, c);
            if done_codes.iter().any(|code| err.message.contains(code)) {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}

/// A named create refused because the name is taken: if `find` (the type's lookup by its
/// recovery key and marks) finds it this stack's, an earlier attempt whose answer was lost made
/// it and it is adopted; anything else is `err`.
pub async fn adopt(
    err: ProviderError,
    find: impl Future<Output = Result<Option<Applied>, ProviderError>>,
) -> Result<Applied, ProviderError> {
    let taken = err.kind == ErrorKind::Conflict;
    adopt_when(taken, err, find).await
}

/// [`adopt`] for an API whose "name taken" is not a conflict (or only some conflicts are):
/// `taken` says whether `err` means it.
pub async fn adopt_when(
    taken: bool,
    err: ProviderError,
    find: impl Future<Output = Result<Option<Applied>, ProviderError>>,
) -> Result<Applied, ProviderError> {
    if taken && let Some(found) = find.await? {
        return Ok(found);
    }
    Err(err)
}
