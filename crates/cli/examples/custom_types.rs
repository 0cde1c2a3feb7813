//! A stackform binary with a resource type, a component flavor and a connector kind of its own,
//! added from Rust.
//!
//! `demo.note` is a text file owned by a stack: a type as small as a real one can be, showing
//! what the engine needs of any type (a recovery key recorded before create, so an interrupted
//! create is found rather than repeated; reads that report drift; deletes that touch only what is
//! the stack's). Build and run it like stackform itself:
//!
//! ```sh
//! cargo run -p stackform-cli --example custom_types -- deploy notes.yaml --name demo --yes
//! ```
//!
//! with a template such as
//!
//! ```yaml
//! name: notes
//! providers:
//!   demo: { dir: /tmp/notes }
//! resources:
//!   hello: { type: demo.note, properties: { name: hello, text: hi } }
//! components:
//!   alerter: { flavor: note, channel: "${hello.path}" }
//! ```
//!
//! The `notes` connector kind reaches a shared notes directory with a token that its `.tokens`
//! file (`WHO=TOKEN` lines) accepts: `connector register book --type notes --auth-method token
//! --setting dir=/tmp/notes` (the token on stdin as `token=...`), then `connector verify book`
//! says who the token is and `connector list-resources book` lists the notes. It goes through
//! the same registry, and the same commands, as the built-in aws, gcp and azure kinds.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{
    FlavorField, FlavorSchema, OutputSchema, PropType, PropertySchema, ResourceSchema,
};
use stackform_engine::provider::{
    Ability, Applied, AuthMethod, Checks, Connector, ConnectorFailure, ConnectorKind, ErrorKind,
    Identity, OpContext, Outcome, Progress, Props, ProviderError, Reached, RecoveryKind, Registry,
    Resolved, ResourceType,
};

fn main() -> ExitCode {
    stackform_providers::extend(|registry: &mut Registry, _: &stackform_providers::Config| {
        registry.add(Arc::new(Note::new()));
        registry.add_flavor(FlavorSchema {
            component: "alerter".into(),
            flavor: "note".into(),
            description: "Alerts written to a note.".into(),
            fields: vec![FlavorField {
                name: "channel".into(),
                ty: PropType::String,
                required: true,
                secret: false,
                description: "the note alerts are written to".into(),
            }],
            integration: "custom_types example".into(),
        });
        registry.add_connector_kind(Arc::new(NotesConnector));
    });
    stackform_cli::main()
}

struct Note {
    schema: ResourceSchema,
}

impl Note {
    fn new() -> Note {
        Note {
            schema: ResourceSchema::new("demo.note", "A text file owned by a stack.")
                .property(
                    PropertySchema::new("name", PropType::String, "The file's name.")
                        .required()
                        .force_new(),
                )
                .property(PropertySchema::new("text", PropType::String, "What it says.").required())
                .output(OutputSchema::new("path", PropType::String, "Where it is.")),
        }
    }
}

/// What a note file holds: its text and whose it is.
#[derive(serde::Serialize, serde::Deserialize)]
struct Content {
    stack_id: String,
    address: String,
    text: String,
}

fn text_of(props: &Props, key: &str) -> Result<String, ProviderError> {
    match props.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(ProviderError::new(
            ErrorKind::Invalid,
            format!("`{key}` must be a string"),
        )),
    }
}

/// `providers.demo.dir`, else the stack's own directory.
fn path_of(ctx: &OpContext, name: &str) -> Result<PathBuf, ProviderError> {
    if name.contains('/') || name.starts_with('.') {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            format!("`{name}` is not a file name"),
        ));
    }
    let dir = match ctx.settings.get("dir") {
        Some(Value::String(d)) => PathBuf::from(d),
        _ => ctx.stack_dir.join("notes"),
    };
    Ok(dir.join(format!("{name}.txt")))
}

fn io(e: std::io::Error, path: &std::path::Path) -> ProviderError {
    ProviderError::new(ErrorKind::Other, format!("{}: {e}", path.display()))
}

/// The note at `path` if it is this stack's.
fn ours(ctx: &OpContext, path: &std::path::Path) -> Option<Content> {
    let content: Content = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    (content.stack_id == ctx.ownership.stack_id.to_string()).then_some(content)
}

fn applied(path: &std::path::Path, name: &str, text: &str) -> Applied {
    Applied {
        physical_id: path.display().to_string(),
        properties: Props::from([
            ("name".to_owned(), Value::String(name.to_owned())),
            ("text".to_owned(), Value::String(text.to_owned())),
        ]),
        outputs: Props::from([("path".to_owned(), Value::String(path.display().to_string()))]),
    }
}

fn write(ctx: &OpContext, path: &std::path::Path, text: &str) -> Result<(), ProviderError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(e, dir))?;
    }
    let content = Content {
        stack_id: ctx.ownership.stack_id.to_string(),
        address: ctx.ownership.address.clone(),
        text: text.to_owned(),
    };
    let bytes = serde_json::to_vec(&content).unwrap_or_default();
    std::fs::write(path, bytes).map_err(|e| io(e, path))
}

#[async_trait::async_trait]
impl ResourceType for Note {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// The name picks the file: an interrupted create is found by it.
    fn recovery(&self) -> RecoveryKind {
        RecoveryKind::Name("name")
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        let (name, text) = (text_of(props, "name")?, text_of(props, "text")?);
        let path = path_of(ctx, &name)?;
        if path.exists() && ours(ctx, &path).is_none() {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "{} exists and is not this stack's; choose another `name`",
                    path.display()
                ),
            ));
        }
        write(ctx, &path, &text)?;
        Ok(Progress::Done(Some(applied(&path, &name, &text))))
    }

    async fn read(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        let path = PathBuf::from(id);
        let name = text_of(props, "name")?;
        Ok(ours(ctx, &path).map(|c| applied(&path, &name, &c.text)))
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        _old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        let path = PathBuf::from(id);
        let (name, text) = (text_of(new, "name")?, text_of(new, "text")?);
        write(ctx, &path, &text)?;
        Ok(Progress::Done(Some(applied(&path, &name, &text))))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _props: &Props,
    ) -> Result<Outcome, ProviderError> {
        let path = PathBuf::from(id);
        if !path.exists() {
            return Ok(Progress::Done(None));
        }
        if ours(ctx, &path).is_none() {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!("{} is not this stack's; it is left alone", path.display()),
            ));
        }
        std::fs::remove_file(&path).map_err(|e| io(e, &path))?;
        Ok(Progress::Done(None))
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        let name = text_of(props, "name")?;
        let path = path_of(ctx, &name)?;
        Ok(ours(ctx, &path).map(|c| applied(&path, &name, &c.text)))
    }
}

/// The `notes` connector kind: a notes directory shared by the holders of the tokens its
/// `.tokens` file lists (`WHO=TOKEN` lines).
struct NotesConnector;

const NOTES_METHODS: &[AuthMethod] =
    &[AuthMethod::new("token", &["token"], &["dir"]).requires(&["dir"])];

impl NotesConnector {
    /// The directory a connector names.
    fn dir(connector: &Connector) -> Result<PathBuf, ProviderError> {
        let dir = PathBuf::from(connector.settings.get("dir").cloned().unwrap_or_default());
        if !dir.is_dir() {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!("{} is not a directory", dir.display()),
            ));
        }
        Ok(dir)
    }
}

#[async_trait::async_trait]
impl ConnectorKind for NotesConnector {
    fn name(&self) -> &str {
        "notes"
    }

    fn auth_methods(&self) -> &[AuthMethod] {
        NOTES_METHODS
    }

    fn can(&self, ability: Ability) -> bool {
        ability == Ability::List
    }

    /// The directory, and whose token the connector holds.
    async fn identify(&self, connector: &Resolved) -> Result<Identity, ConnectorFailure> {
        let dir = Self::dir(&connector.connector)?;
        let tokens = std::fs::read_to_string(dir.join(".tokens")).unwrap_or_default();
        let token = connector
            .secrets
            .get("token")
            .map(String::as_str)
            .unwrap_or_default();
        let who = tokens
            .lines()
            .filter_map(|l| l.split_once('='))
            .find(|(_, t)| !token.is_empty() && *t == token)
            .map(|(who, _)| who.to_owned())
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::Permission,
                    format!("{} does not accept the connector's token", dir.display()),
                )
            })?;
        Ok(Identity {
            scope: dir.display().to_string(),
            identity: who,
        })
    }

    fn checks(&self, _connector: &Connector) -> Checks {
        Checks::Nothing("a notes token may read and write every note of its directory".into())
    }

    /// Every note of the directory, once the token is accepted.
    async fn list(
        &self,
        connector: &Resolved,
        resource_type: Option<&str>,
    ) -> Result<Vec<Reached>, ConnectorFailure> {
        if let Some(t) = resource_type.filter(|t| *t != "note") {
            return Err(ConnectorFailure::Advised {
                usage: true,
                code: "connector::list_type",
                message: format!("notes connectors list `note` resources, not `{t}`"),
                help: "use --resource-type note, or leave it out".into(),
            });
        }
        self.identify(connector).await?;
        let dir = Self::dir(&connector.connector)?;
        let entries = std::fs::read_dir(&dir).map_err(|e| io(e, &dir))?;
        let mut out: Vec<Reached> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "txt"))
            .map(|p| Reached {
                resource_type: "note".into(),
                id: p.display().to_string(),
                component: None,
            })
            .collect();
        out.sort();
        Ok(out)
    }
}
