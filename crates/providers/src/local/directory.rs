//! `local.directory`: a directory on this machine, e.g. a local artifact store.
//!
//! A marker file inside the directory carries the ownership marks; it is the recovery key, and
//! stackform never deletes a directory whose marker does not name its stack.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{OutputSchema, PropType, PropertySchema, ResourceSchema};
use stackform_engine::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, ResourceType,
};

const MARKER: &str = ".stackform-owner.json";

pub struct Directory {
    schema: ResourceSchema,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Marker {
    stack: String,
    stack_id: String,
    address: String,
}

impl Directory {
    pub fn new() -> Directory {
        let schema = ResourceSchema::new(
            "local.directory",
            "A directory on this machine. A relative path is taken inside the stack's own directory \
             under STACKFORM_HOME.",
        )
        .property(
            PropertySchema::new("path", PropType::String, "Where the directory is.")
                .required()
                .force_new(),
        )
        .output(OutputSchema::new(
            "absolute_path",
            PropType::String,
            "The directory's absolute path.",
        ))
        .output(OutputSchema::new(
            "uri",
            PropType::String,
            "The directory as a file:// URI.",
        ))
        .stateful();
        Directory { schema }
    }
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> ProviderError {
    let kind = match e.kind() {
        std::io::ErrorKind::PermissionDenied => ErrorKind::Permission,
        std::io::ErrorKind::NotFound => ErrorKind::NotFound,
        _ => ErrorKind::Other,
    };
    ProviderError::new(kind, format!("cannot {what} {}: {e}", path.display()))
}

fn path_of(ctx: &OpContext, props: &Props) -> Result<PathBuf, ProviderError> {
    let Some(Value::String(p)) = props.get("path") else {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            "`path` must be a string",
        ));
    };
    let path = Path::new(p);
    Ok(if path.is_absolute() {
        path.to_owned()
    } else {
        ctx.stack_dir.join(path)
    })
}

fn marker_of(ctx: &OpContext) -> Marker {
    Marker {
        stack: ctx.ownership.stack.clone(),
        stack_id: ctx.ownership.stack_id.to_string(),
        address: ctx.ownership.address.clone(),
    }
}

fn read_marker(dir: &Path) -> Option<Marker> {
    serde_json::from_slice(&std::fs::read(dir.join(MARKER)).ok()?).ok()
}

fn applied(path: &Path, props: &Props) -> Applied {
    let abs = path.display().to_string();
    Applied {
        physical_id: abs.clone(),
        properties: props.clone(),
        outputs: Props::from([
            ("absolute_path".to_owned(), Value::String(abs.clone())),
            ("uri".to_owned(), Value::String(format!("file://{abs}"))),
        ]),
    }
}

/// Ours if the marker names this stack's id.
fn owned(dir: &Path, ctx: &OpContext) -> bool {
    read_marker(dir).is_some_and(|m| m.stack_id == ctx.ownership.stack_id.to_string())
}

#[async_trait::async_trait]
impl ResourceType for Directory {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let path = path_of(ctx, props)?;
        if path.exists() {
            if owned(&path, ctx) {
                return Ok(Progress::Done(Some(applied(&path, props))));
            }
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "{} already exists and was not created by this stack; choose another `path` or remove it",
                    path.display()
                ),
            ));
        }
        std::fs::create_dir_all(&path).map_err(|e| io_error("create", &path, e))?;
        let marker = serde_json::to_vec_pretty(&marker_of(ctx)).unwrap_or_default();
        std::fs::write(path.join(MARKER), marker).map_err(|e| io_error("mark", &path, e))?;
        Ok(Progress::Done(Some(applied(&path, props))))
    }

    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let path = Path::new(id);
        Ok(owned(path, ctx).then(|| applied(path, props)))
    }

    async fn update(
        &self,
        _ctx: &OpContext,
        id: &str,
        _old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        // Only `path` exists and it forces replacement: nothing changes in place.
        Ok(Progress::Done(Some(applied(Path::new(id), new))))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _props: &Props,
    ) -> Result<Outcome, ProviderError> {
        let path = Path::new(id);
        if !path.exists() {
            return Ok(Progress::Done(None));
        }
        if !owned(path, ctx) {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "{} is not marked as this stack's; stackform will not delete it",
                    path.display()
                ),
            ));
        }
        std::fs::remove_dir_all(path).map_err(|e| io_error("delete", path, e))?;
        Ok(Progress::Done(None))
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let path = path_of(ctx, props)?;
        Ok(owned(&path, ctx).then(|| applied(&path, props)))
    }
}
