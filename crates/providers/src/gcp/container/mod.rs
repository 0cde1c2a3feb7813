//! GKE: `gcp.container.cluster` and `gcp.container.node_pool`, one file each, and what they
//! share: their creates, changes and deletes are operations of the container API, followed by
//! the operation's name in the poll token (see `client/operation.rs`) so that a pending create
//! is followed, never repeated. A delete started as `recreate` (an object of ours left in
//! ERROR by a failed create) ends in a retryable error, so the executor creates it again.
//! A delete (not a recreate) first drains the cluster through its API (`drain.rs`).

mod cluster;
mod drain;
mod node_pool;

pub use cluster::Cluster;
pub use node_pool::NodePool;

use google_cloud_container_v1::model::{Operation, operation::Status as OpStatus};
use stackform_engine::provider::{ErrorKind, Outcome, Progress, ProviderError};

use super::client::api::Apis;
use super::client::{classify, operation};

/// How messages name one object: after "GKE could not delete " (`object`) and at the start of
/// a sentence (`subject`), each followed by the object's full name.
pub struct Named {
    pub object: &'static str,
    pub subject: &'static str,
}

/// Where a followed operation stands once what every GKE object shares is dealt with.
pub enum Followed<'t> {
    /// Still running, a finished delete, or a failed create deleted to be made again.
    Outcome(Outcome),
    /// `op` (not a delete) finished on `full`: the object's own read says the rest.
    Finished { op: &'t str, full: &'t str },
}

/// One poll of the operation in `token`; `running` says what a pending one is doing.
pub async fn follow<'t>(
    apis: &Apis,
    token: &'t str,
    named: &Named,
    running: impl FnOnce(&str, &Operation) -> String,
) -> Result<Followed<'t>, ProviderError> {
    let (op, full, n, name) = operation::split(token);
    let gke = apis.clusters().await?;
    let o = match gke.get_operation().set_name(name).send().await {
        Ok(o) => o,
        Err(e) => {
            return operation::transient(
                classify(e, &format!("container.operations.get {name}")),
                token,
            )
            .map(Followed::Outcome);
        }
    };
    if o.status != OpStatus::Done {
        let note = running(op, &o);
        return Ok(Followed::Outcome(operation::pending(
            op, full, n, name, note,
        )));
    }
    if let Some(e) = &o.error {
        return Err(ProviderError::new(
            ErrorKind::Other,
            format!(
                "GKE could not {op} {}{full}: {} (code {})",
                named.object, e.message, e.code
            ),
        ));
    }
    if op == "delete" {
        return Ok(Followed::Outcome(Progress::Done(None)));
    }
    if op == "recreate" {
        // The executor starts the create again on a retryable error.
        return Err(ProviderError::new(
            ErrorKind::Retryable,
            format!(
                "{}{full} failed to create and was deleted; creating it again",
                named.subject
            ),
        ));
    }
    Ok(Followed::Finished { op, full })
}

/// The answer to a delete of `id` sent as `op` (`delete`, or `recreate`): the operation to
/// follow, `None` when the object was gone already.
pub fn deleting(
    sent: Result<Operation, google_cloud_gax::error::Error>,
    what: &str,
    id: &str,
    op: &str,
    named: &Named,
) -> Result<Option<Operation>, ProviderError> {
    match sent {
        Ok(o) => Ok(Some(o)),
        Err(e) => {
            let err = busy(classify(e, what));
            match (err.kind, op) {
                (ErrorKind::NotFound, "recreate") => Err(ProviderError::new(
                    ErrorKind::Retryable,
                    format!("{}{id} is gone; creating it again", named.subject),
                )),
                (ErrorKind::NotFound, _) => Ok(None),
                _ => Err(err),
            }
        }
    }
}

/// The operation's full name (`projects/P/locations/L/operations/ID`) from its short one.
pub fn operation_name(full: &str, o: &Operation) -> String {
    let parent = full.split("/clusters/").next().unwrap_or(full);
    if o.name.starts_with("projects/") {
        o.name.clone()
    } else {
        format!("{parent}/operations/{}", o.name)
    }
}

/// The container API's "busy" answer (another operation is running on the cluster) is a wait,
/// not a mistake.
pub fn busy(mut e: ProviderError) -> ProviderError {
    if e.kind == ErrorKind::Invalid
        && (e.message.contains("incompatible operation")
            || e.message.contains("operation") && e.message.contains("running"))
    {
        e.kind = ErrorKind::Retryable;
    }
    e
}
