//! Integrations: a directory with a manifest (`stackform-integration.yaml`) that adds component
//! flavors (with configuration schemas), the providers they need (plugin executables inside the
//! directory, or built-in ones this build must have) and templates, without forking stackform.
//!
//! `integration add` copies the directory into `$STACKFORM_HOME/integrations/<name>/`, so an
//! installed integration does not depend on where it was added from and removing it removes
//! everything it brought. The copy is made beside its final place and renamed into it, so a
//! crash leaves either the old integration or the new one, never half of one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::base::diagnostic::{Diagnostic, Diagnostics};
use crate::base::fsio::{self, ReadError};
use crate::base::source::{Located, SourceFile, Span};
use crate::base::suggest::did_you_mean;
use crate::lang::schema::{COMPONENT_TYPES, FlavorField, FlavorSchema, PropType};
use crate::lang::yaml::{Node, NodeKind};

/// The manifest's file name inside an integration directory.
pub const MANIFEST: &str = "stackform-integration.yaml";

/// An integration as its manifest describes it, and where its files are.
#[derive(Debug, Clone)]
pub struct Integration {
    pub name: String,
    pub version: String,
    pub description: String,
    /// The directory holding the manifest.
    pub dir: PathBuf,
    pub providers: Vec<ProviderNeed>,
    pub flavors: Vec<FlavorSchema>,
    pub templates: Vec<TemplateEntry>,
}

/// A provider the integration's templates and flavors need.
#[derive(Debug, Clone)]
pub struct ProviderNeed {
    pub name: String,
    /// The plugin executable serving it, inside the integration (absolute); `None`: a built-in
    /// provider that this build of stackform must have.
    pub plugin: Option<PathBuf>,
}

/// A template the integration adds, deployable by name.
#[derive(Debug, Clone)]
pub struct TemplateEntry {
    pub name: String,
    /// Absolute, inside the integration.
    pub path: PathBuf,
    pub description: String,
}

impl Integration {
    /// The plugin executables it brings.
    pub fn plugins(&self) -> impl Iterator<Item = &Path> {
        self.providers.iter().filter_map(|p| p.plugin.as_deref())
    }

    pub fn template(&self, name: &str) -> Option<&TemplateEntry> {
        self.templates.iter().find(|t| t.name == name)
    }

    /// Whether a stack's state uses it: a resource of one of its plugin providers, or a component
    /// of one of its flavors.
    pub fn used_by(&self, state: &crate::state::State) -> bool {
        let plugin_providers: Vec<&str> = self
            .providers
            .iter()
            .filter(|p| p.plugin.is_some())
            .map(|p| p.name.as_str())
            .collect();
        state
            .resources
            .values()
            .any(|r| plugin_providers.contains(&crate::provider::provider_of(&r.type_name)))
            || state.components.iter().any(|c| {
                self.flavors
                    .iter()
                    .any(|f| f.component == c.kind && f.flavor == c.flavor)
            })
    }
}

impl Integration {
    /// What `state` uses of this integration that `replacement` no longer provides: a plugin
    /// provider its resources need, or a flavor its components have.
    pub fn dropped_for(
        &self,
        replacement: &Integration,
        state: &crate::state::State,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for p in self.providers.iter().filter(|p| p.plugin.is_some()) {
            let used = state
                .resources
                .values()
                .any(|r| crate::provider::provider_of(&r.type_name) == p.name);
            let kept = replacement
                .providers
                .iter()
                .any(|q| q.plugin.is_some() && q.name == p.name);
            if used && !kept {
                out.push(format!("provider `{}`", p.name));
            }
        }
        for f in &self.flavors {
            let used = state
                .components
                .iter()
                .any(|c| c.kind == f.component && c.flavor == f.flavor);
            if used && replacement.flavor(&f.component, &f.flavor).is_none() {
                out.push(format!("flavor `{}` of `{}`", f.flavor, f.component));
            }
        }
        out
    }

    pub fn flavor(&self, component: &str, flavor: &str) -> Option<&FlavorSchema> {
        self.flavors
            .iter()
            .find(|f| f.component == component && f.flavor == flavor)
    }
}

/// Why an integration could not be read, added or removed.
#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    #[error("cannot use {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    TooLarge(crate::base::fsio::ReadError),
    #[error("{dir} is not an integration: it has no {MANIFEST}")]
    NoManifest { dir: PathBuf },
    #[error("the manifest of {dir} is not valid")]
    Invalid {
        dir: PathBuf,
        diagnostics: Diagnostics,
    },
    #[error("no integration named `{name}` is installed")]
    NotInstalled {
        name: String,
        installed: Vec<String>,
    },
    #[error("integration `{name}` is installed already (version {version})")]
    Exists { name: String, version: String },
    #[error("integration `{name}` is used by stack(s) {}", stacks.join(", "))]
    InUse { name: String, stacks: Vec<String> },
    #[error("integration `{name}` clashes with what is installed: {}", problems.join("; "))]
    Conflict { name: String, problems: Vec<String> },
    #[error("this copy of integration `{name}` drops what stacks use: {}", problems.join("; "))]
    Strands { name: String, problems: Vec<String> },
    /// A symbolic link that leads out of the integration's directory: copying it would install
    /// whatever it points at (a credentials file).
    #[error("{} is a link to {}, outside the integration", link.display(), target.display())]
    LinkOutside { link: PathBuf, target: PathBuf },
    /// A link to a directory that holds the link: copying it would never end.
    #[error("{} is a link back up to {}, which holds it", link.display(), target.display())]
    LinkLoop { link: PathBuf, target: PathBuf },
    /// Not a file, a directory or a link (a FIFO would block the copy forever).
    #[error("{} is not a regular file or directory", path.display())]
    SpecialFile { path: PathBuf },
    /// More than an integration holds: a link or a build directory dragged in a large tree.
    #[error("{} holds more than an integration may ({what})", dir.display())]
    TooBig { dir: PathBuf, what: String },
}

impl IntegrationError {
    /// What the user can do about it.
    pub fn help(&self) -> String {
        match self {
            IntegrationError::Io { .. } => {
                "check that the path exists and that STACKFORM_HOME is writable".into()
            }
            IntegrationError::TooLarge(e) => e.help(),
            IntegrationError::NoManifest { .. } => format!(
                "give the directory that holds {MANIFEST} (README.md, \"Integrations\", shows its fields)"
            ),
            IntegrationError::Invalid { .. } => "fix the manifest and add it again".into(),
            IntegrationError::NotInstalled { installed, .. } if installed.is_empty() => {
                "no integrations are installed; add one with `stackform integration add PATH`"
                    .into()
            }
            IntegrationError::NotInstalled { name, installed } => {
                did_you_mean(name, installed.iter().map(String::as_str), "integrations")
            }
            IntegrationError::Exists { name, .. } => format!(
                "to install this copy instead, run `stackform integration add PATH --replace`; `stackform integration remove {name}` removes it"
            ),
            IntegrationError::InUse { stacks, .. } => format!(
                "destroy or re-deploy those stacks without it first (`stackform destroy {}`)",
                stacks.first().map(String::as_str).unwrap_or("NAME")
            ),
            IntegrationError::Conflict { .. } => {
                "rename what clashes in the manifest, or remove the integration that has it".into()
            }
            IntegrationError::Strands { .. } => {
                "keep those in the new version, or destroy (or re-deploy without them) the stacks that use them first".into()
            }
            IntegrationError::LinkLoop { .. } => "remove the link (nothing was installed)".into(),
            IntegrationError::LinkOutside { .. } => "copy the file into the integration's directory instead of linking to it (nothing was installed)".into(),
            IntegrationError::SpecialFile { .. } => "remove it from the integration's directory (nothing was installed)".into(),
            IntegrationError::TooBig { .. } => format!(
                "an integration is a manifest, its plugins and templates: move build output and data out of its directory (at most {} files and {} MiB; nothing was installed)",
                MAX_FILES,
                MAX_BYTES >> 20
            ),
        }
    }
}

/// Reads the integration in `path`: a directory holding [`MANIFEST`], or the manifest itself.
pub fn load(path: &Path) -> Result<Integration, IntegrationError> {
    let manifest = if path.is_dir() {
        path.join(MANIFEST)
    } else {
        path.to_path_buf()
    };
    let dir = manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let dir = std::fs::canonicalize(&dir).map_err(|source| IntegrationError::Io {
        path: dir.clone(),
        source,
    })?;
    let text = match fsio::read_input(&manifest, "integration manifest", fsio::MAX_YAML_BYTES) {
        Ok(t) => t,
        Err(ReadError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Err(IntegrationError::NoManifest { dir });
        }
        Err(e @ ReadError::TooLarge { .. }) => return Err(IntegrationError::TooLarge(e)),
        Err(ReadError::Io { source, .. }) => {
            return Err(IntegrationError::Io {
                path: manifest,
                source,
            });
        }
    };
    let source = SourceFile::new(manifest.display().to_string(), text);
    parse(&source, &dir).map_err(|diagnostics| IntegrationError::Invalid {
        dir: dir.clone(),
        diagnostics,
    })
}

/// Parses a manifest whose files live in `dir`, reporting every problem with its position.
pub fn parse(source: &Arc<SourceFile>, dir: &Path) -> Result<Integration, Diagnostics> {
    let root = crate::lang::yaml::parse(source).map_err(|d| Diagnostics(vec![d]))?;
    let mut p = ManifestParser {
        source,
        dir,
        diags: Diagnostics::default(),
    };
    let integration = p.integration(&root);
    if !p.diags.is_empty() {
        p.diags.sort();
        return Err(p.diags);
    }
    integration.ok_or_else(Diagnostics::default)
}

struct ManifestParser<'a> {
    source: &'a Arc<SourceFile>,
    dir: &'a Path,
    diags: Diagnostics,
}

fn is_word(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

impl ManifestParser<'_> {
    fn error(&mut self, span: Span, message: impl Into<String>, help: impl Into<String>) {
        self.diags.push(
            Diagnostic::new("integration::manifest", message)
                .at(Located::new(self.source, span))
                .help(help),
        );
    }

    fn map<'n>(&mut self, node: &'n Node, what: &str) -> &'n [(Node, Node)] {
        match &node.kind {
            NodeKind::Map(entries) => entries,
            NodeKind::Null => &[],
            _ => {
                self.error(
                    node.span,
                    format!("{what} must be a map, found {}", node.kind_name()),
                    "write it as `key: value` lines indented under it",
                );
                &[]
            }
        }
    }

    fn text(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Str { value, .. } => Some(value.clone()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::Float(f) => Some(f.to_string()),
            _ => {
                self.error(
                    node.span,
                    format!("{what} must be a string, found {}", node.kind_name()),
                    "quote it",
                );
                None
            }
        }
    }

    fn flag(&mut self, node: &Node, what: &str) -> bool {
        match node.kind {
            NodeKind::Bool(b) => b,
            _ => {
                self.error(
                    node.span,
                    format!("{what} must be true or false, found {}", node.kind_name()),
                    "write `true` or `false`",
                );
                false
            }
        }
    }

    /// A path inside the integration directory that exists.
    fn inside(&mut self, node: &Node, what: &str) -> Option<PathBuf> {
        let rel = self.text(node, what)?;
        let relative = Path::new(&rel);
        if relative.is_absolute()
            || relative
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            self.error(
                node.span,
                format!("{what} `{rel}` is outside the integration"),
                "give a path relative to the manifest, inside its directory: the directory is copied on `integration add`",
            );
            return None;
        }
        let path = self.dir.join(relative);
        // A link that leads out of the directory would run (a plugin) or install (on `add`)
        // whatever it points at.
        if let (Ok(target), Ok(root)) = (
            std::fs::canonicalize(&path),
            std::fs::canonicalize(self.dir),
        ) && !target.starts_with(&root)
        {
            self.error(
                node.span,
                format!(
                    "{what} `{rel}` is a link to {}, outside the integration",
                    target.display()
                ),
                "copy the file into the integration's directory instead of linking to it",
            );
            return None;
        }
        if !path.is_file() {
            self.error(
                node.span,
                format!("{what} `{rel}` does not exist in {}", self.dir.display()),
                "check the file name; paths are relative to the manifest",
            );
            return None;
        }
        Some(path)
    }

    fn integration(&mut self, root: &Node) -> Option<Integration> {
        let entries = match &root.kind {
            NodeKind::Map(entries) => entries,
            _ => {
                self.error(
                    root.span,
                    format!("a manifest must be a map, found {}", root.kind_name()),
                    "start with `name:`, `version:` and `flavors:`",
                );
                return None;
            }
        };
        let mut name = None;
        let mut version = None;
        let mut description = String::new();
        let mut providers = Vec::new();
        let mut flavors = Vec::new();
        let mut templates = Vec::new();
        let mut name_span = root.span;
        for (k, v) in entries {
            let key = k.key_text().unwrap_or_default();
            match key.as_str() {
                "name" => {
                    name_span = v.span;
                    name = self.text(v, "`name`");
                }
                "version" => version = self.text(v, "`version`"),
                "description" => description = self.text(v, "`description`").unwrap_or_default(),
                "providers" => providers = self.providers(v),
                "flavors" => flavors = self.flavors(v),
                "templates" => templates = self.templates(v),
                other => self.error(
                    k.span,
                    format!("a manifest has no field `{other}`"),
                    did_you_mean(
                        other,
                        [
                            "name",
                            "version",
                            "description",
                            "providers",
                            "flavors",
                            "templates",
                        ],
                        "fields",
                    ),
                ),
            }
        }
        let Some(name) = name else {
            self.error(
                root.span,
                "the manifest has no `name`",
                "add `name: <integration>` (lowercase letters, digits, `-` and `_`)",
            );
            return None;
        };
        if !is_word(&name) {
            self.error(
                name_span,
                format!("`{name}` is not a valid integration name"),
                "lowercase letters, digits, `-` and `_`, starting with a letter",
            );
        }
        if flavors.is_empty() && templates.is_empty() && providers.is_empty() {
            self.error(
                root.span,
                format!("integration `{name}` adds nothing"),
                "declare `flavors:`, `templates:` or `providers:`",
            );
        }
        for f in &mut flavors {
            f.integration = name.clone();
        }
        Some(Integration {
            name,
            version: version.unwrap_or_else(|| "0.0.0".into()),
            description,
            dir: self.dir.to_path_buf(),
            providers,
            flavors,
            templates,
        })
    }

    fn providers(&mut self, node: &Node) -> Vec<ProviderNeed> {
        let mut out = Vec::new();
        for (k, v) in self.map(node, "`providers`") {
            let name = k.key_text().unwrap_or_default();
            if !is_word(&name) {
                self.error(
                    k.span,
                    format!("`{name}` is not a valid provider name"),
                    "lowercase letters, digits, `-` and `_`, starting with a letter",
                );
                continue;
            }
            let mut plugin = None;
            for (pk, pv) in self.map(v, &format!("provider `{name}`")) {
                match pk.key_text().unwrap_or_default().as_str() {
                    "plugin" => {
                        plugin = self.inside(pv, &format!("provider `{name}`'s plugin"));
                        if let Some(path) = &plugin {
                            let file = path.file_name().unwrap_or_default().to_string_lossy();
                            let wanted = format!("stackform-provider-{name}");
                            if file != wanted.as_str() {
                                self.error(
                                    pv.span,
                                    format!(
                                        "provider `{name}`'s plugin is named `{file}`, not `{wanted}`"
                                    ),
                                    format!(
                                        "plugins are found by name: rename the file to `{wanted}`"
                                    ),
                                );
                            } else if !is_executable(path) {
                                self.error(
                                    pv.span,
                                    format!("provider `{name}`'s plugin `{file}` is not executable"),
                                    format!("run `chmod +x {}`", path.display()),
                                );
                            }
                        }
                    }
                    other => self.error(
                        pk.span,
                        format!("provider `{name}` has no field `{other}`"),
                        "a provider takes `plugin: <executable in this directory>`, or nothing for a built-in provider",
                    ),
                }
            }
            out.push(ProviderNeed { name, plugin });
        }
        out
    }

    fn flavors(&mut self, node: &Node) -> Vec<FlavorSchema> {
        let items = match &node.kind {
            NodeKind::Seq(items) => items.as_slice(),
            NodeKind::Null => &[],
            _ => {
                self.error(
                    node.span,
                    format!("`flavors` must be a list, found {}", node.kind_name()),
                    "write one `- type: <component type>` entry per flavor",
                );
                &[]
            }
        };
        let mut out: Vec<FlavorSchema> = Vec::new();
        for item in items {
            let mut component = None;
            let mut flavor = None;
            let mut description = String::new();
            let mut fields = Vec::new();
            for (k, v) in self.map(item, "a flavor") {
                match k.key_text().unwrap_or_default().as_str() {
                    "type" => {
                        if let Some(t) = self.text(v, "a flavor's `type`") {
                            if COMPONENT_TYPES.contains(&t.as_str()) {
                                component = Some(t);
                            } else {
                                self.error(
                                    v.span,
                                    format!("unknown component type `{t}`"),
                                    did_you_mean(
                                        &t,
                                        COMPONENT_TYPES.iter().copied(),
                                        "component types",
                                    ),
                                );
                            }
                        }
                    }
                    "flavor" => {
                        if let Some(f) = self.text(v, "`flavor`") {
                            if is_word(&f) {
                                flavor = Some(f);
                            } else {
                                self.error(
                                    v.span,
                                    format!("`{f}` is not a valid flavor name"),
                                    "lowercase letters, digits, `-` and `_`, starting with a letter",
                                );
                            }
                        }
                    }
                    "description" => {
                        description = self.text(v, "`description`").unwrap_or_default()
                    }
                    "config" => fields = self.fields(v),
                    other => self.error(
                        k.span,
                        format!("a flavor has no field `{other}`"),
                        did_you_mean(other, ["type", "flavor", "description", "config"], "fields"),
                    ),
                }
            }
            match (component, flavor) {
                (Some(component), Some(flavor)) => {
                    if out
                        .iter()
                        .any(|f| f.component == component && f.flavor == flavor)
                    {
                        self.error(
                            item.span,
                            format!("flavor `{flavor}` of `{component}` is declared twice"),
                            "keep one of them",
                        );
                        continue;
                    }
                    out.push(FlavorSchema {
                        component,
                        flavor,
                        description,
                        fields,
                        integration: String::new(),
                    });
                }
                (None, _) => self.error(
                    item.span,
                    "a flavor needs `type`, the component type it is a flavor of",
                    "e.g. `type: experiment_tracker`",
                ),
                (_, None) => self.error(
                    item.span,
                    "a flavor needs `flavor`, its name",
                    "e.g. `flavor: mlflow`; components choose it with `flavor: mlflow`",
                ),
            }
        }
        out
    }

    fn fields(&mut self, node: &Node) -> Vec<FlavorField> {
        let mut out = Vec::new();
        for (k, v) in self.map(node, "`config`") {
            let name = k.key_text().unwrap_or_default();
            let mut field = FlavorField {
                name: name.clone(),
                ty: PropType::Any,
                required: false,
                secret: false,
                description: String::new(),
            };
            let mut ty_span = k.span;
            for (fk, fv) in self.map(v, &format!("field `{name}`")) {
                match fk.key_text().unwrap_or_default().as_str() {
                    "type" => {
                        ty_span = fv.span;
                        if let Some(t) = self.text(fv, "`type`") {
                            match PropType::parse(&t) {
                                Some(ty) => field.ty = ty,
                                None => self.error(
                                    fv.span,
                                    format!("unknown type `{t}` for field `{name}`"),
                                    "types: string, integer, number, boolean, any, list(T), map(T)",
                                ),
                            }
                        }
                    }
                    "required" => field.required = self.flag(fv, "`required`"),
                    "secret" => field.secret = self.flag(fv, "`secret`"),
                    "description" => {
                        field.description = self.text(fv, "`description`").unwrap_or_default()
                    }
                    other => self.error(
                        fk.span,
                        format!("field `{name}` has no setting `{other}`"),
                        did_you_mean(
                            other,
                            ["type", "required", "secret", "description"],
                            "settings",
                        ),
                    ),
                }
            }
            if field.secret && !matches!(field.ty, PropType::String | PropType::Any) {
                self.error(
                    ty_span,
                    format!("secret field `{name}` must be a string"),
                    "a secret reference `{{ name.key }}` is text: declare `type: string`",
                );
            }
            if field.secret && field.ty == PropType::Any {
                field.ty = PropType::String;
            }
            out.push(field);
        }
        out
    }

    fn templates(&mut self, node: &Node) -> Vec<TemplateEntry> {
        let mut out = Vec::new();
        for (k, v) in self.map(node, "`templates`") {
            let name = k.key_text().unwrap_or_default();
            if !is_word(&name) {
                self.error(
                    k.span,
                    format!("`{name}` is not a valid template name"),
                    "lowercase letters, digits, `-` and `_`, starting with a letter",
                );
                continue;
            }
            let mut path = None;
            let mut description = String::new();
            for (tk, tv) in self.map(v, &format!("template `{name}`")) {
                match tk.key_text().unwrap_or_default().as_str() {
                    "path" => path = self.inside(tv, &format!("template `{name}`")),
                    "description" => {
                        description = self.text(tv, "`description`").unwrap_or_default()
                    }
                    other => self.error(
                        tk.span,
                        format!("template `{name}` has no field `{other}`"),
                        "a template takes `path:` (relative to the manifest) and `description:`",
                    ),
                }
            }
            match path {
                Some(path) => out.push(TemplateEntry {
                    name,
                    path,
                    description,
                }),
                None if self.diags.is_empty() => self.error(
                    k.span,
                    format!("template `{name}` has no `path`"),
                    "add `path: <file>.yaml`, relative to the manifest",
                ),
                None => {}
            }
        }
        out
    }
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// The integrations installed in a stackform home.
pub struct Integrations {
    root: PathBuf,
}

impl Integrations {
    pub fn new(home: &Path) -> Integrations {
        Integrations {
            root: home.join("integrations"),
        }
    }

    /// Every installed integration, by name. One whose manifest no longer reads is an error
    /// naming it: silently dropping it would make its stacks' flavors and types unknown.
    pub fn list(&self) -> Result<Vec<Integration>, IntegrationError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(IntegrationError::Io {
                    path: self.root.clone(),
                    source,
                });
            }
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Copies in progress and replaced ones start with a dot.
            if name.starts_with('.') || !entry.path().is_dir() {
                continue;
            }
            out.push(load(&entry.path())?);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub fn get(&self, name: &str) -> Result<Integration, IntegrationError> {
        let all = self.list()?;
        let installed = all.iter().map(|i| i.name.clone()).collect();
        all.into_iter()
            .find(|i| i.name == name)
            .ok_or_else(|| IntegrationError::NotInstalled {
                name: name.to_owned(),
                installed,
            })
    }

    /// What `candidate` would clash with: another integration's provider, flavor or template
    /// of the same name, or one of `builtin_templates` / `builtin_providers`. Replacing an
    /// integration by a newer copy of itself clashes with nothing of its own.
    pub fn conflicts(
        &self,
        candidate: &Integration,
        builtin_templates: &[&str],
        builtin_providers: &[&str],
    ) -> Result<Vec<String>, IntegrationError> {
        let mut problems = Vec::new();
        let others: Vec<Integration> = self
            .list()?
            .into_iter()
            .filter(|i| i.name != candidate.name)
            .collect();
        for t in &candidate.templates {
            if builtin_templates.contains(&t.name.as_str()) {
                problems.push(format!("template `{}` is a built-in template", t.name));
            }
            if let Some(o) = others.iter().find(|o| o.template(&t.name).is_some()) {
                problems.push(format!(
                    "template `{}` comes with integration `{}`",
                    t.name, o.name
                ));
            }
        }
        for p in candidate.providers.iter().filter(|p| p.plugin.is_some()) {
            if builtin_providers.contains(&p.name.as_str()) {
                problems.push(format!("provider `{}` is built in", p.name));
            }
            if let Some(o) = others.iter().find(|o| {
                o.providers
                    .iter()
                    .any(|q| q.plugin.is_some() && q.name == p.name)
            }) {
                problems.push(format!(
                    "provider `{}` comes with integration `{}`",
                    p.name, o.name
                ));
            }
        }
        for f in &candidate.flavors {
            if let Some(o) = others.iter().find(|o| {
                o.flavors
                    .iter()
                    .any(|g| g.component == f.component && g.flavor == f.flavor)
            }) {
                problems.push(format!(
                    "flavor `{}` of `{}` comes with integration `{}`",
                    f.flavor, f.component, o.name
                ));
            }
        }
        Ok(problems)
    }

    /// Copies `candidate`'s directory into the home; with `replace`, over an installed one of
    /// the same name. Returns the installed integration (paths inside the home).
    pub fn install(
        &self,
        candidate: &Integration,
        replace: bool,
    ) -> Result<Integration, IntegrationError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| IntegrationError::Io { path, source }
        };
        let target = self.root.join(&candidate.name);
        if target.exists() && !replace {
            let version = load(&target).map(|i| i.version).unwrap_or_default();
            return Err(IntegrationError::Exists {
                name: candidate.name.clone(),
                version,
            });
        }
        std::fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let staging = self
            .root
            .join(format!(".{}.new-{}", candidate.name, std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
        }
        // Whatever goes wrong from here on, the half-made copy goes with it.
        let mut cleanup = RemoveOnDrop(Some(staging.clone()));
        let root = std::fs::canonicalize(&candidate.dir).map_err(io(&candidate.dir))?;
        let mut budget = Budget::default();
        copy_dir(&root, &candidate.dir, &staging, &mut budget)?;
        crate::base::fsio::sync_dir(&staging).map_err(io(&staging))?;
        let old = self
            .root
            .join(format!(".{}.old-{}", candidate.name, std::process::id()));
        if target.exists() {
            std::fs::rename(&target, &old).map_err(io(&target))?;
        }
        std::fs::rename(&staging, &target).map_err(io(&target))?;
        cleanup.0 = None;
        crate::base::fsio::sync_dir(&self.root).map_err(io(&self.root))?;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(io(&old))?;
        }
        load(&target)
    }

    /// Removes an integration that no stack in `states` uses.
    pub fn remove(
        &self,
        name: &str,
        states: &[crate::state::State],
    ) -> Result<Integration, IntegrationError> {
        let integration = self.get(name)?;
        let stacks: Vec<String> = states
            .iter()
            .filter(|s| integration.used_by(s))
            .map(|s| s.stack.name.clone())
            .collect();
        if !stacks.is_empty() {
            return Err(IntegrationError::InUse {
                name: name.to_owned(),
                stacks,
            });
        }
        let target = self.root.join(name);
        // Renamed out of the way first, so an interrupted removal never leaves half an
        // integration that still lists.
        let doomed = self
            .root
            .join(format!(".{name}.removed-{}", std::process::id()));
        std::fs::rename(&target, &doomed).map_err(|source| IntegrationError::Io {
            path: target.clone(),
            source,
        })?;
        std::fs::remove_dir_all(&doomed).map_err(|source| IntegrationError::Io {
            path: doomed.clone(),
            source,
        })?;
        Ok(integration)
    }
}

/// The most files an installed integration may hold.
const MAX_FILES: u64 = 10_000;
/// The most bytes an installed integration may hold (plugins are binaries: tens of MiB).
const MAX_BYTES: u64 = 512 << 20;

/// What a copy has used of the limits.
#[derive(Default)]
struct Budget {
    files: u64,
    bytes: u64,
}

/// Removes a directory when dropped, unless taken: a failed install leaves no staging copy.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Copies a directory tree, keeping file modes (plugins stay executable). A symbolic link is
/// copied as what it points at only when that is inside the integration (`root`, canonical)
/// and not a directory above the link (which would copy forever); any other link, and anything
/// that is not a file or directory, is refused. The copy is bounded by [`MAX_FILES`] and
/// [`MAX_BYTES`].
fn copy_dir(
    root: &Path,
    from: &Path,
    to: &Path,
    budget: &mut Budget,
) -> Result<(), IntegrationError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| IntegrationError::Io { path, source }
    };
    std::fs::create_dir_all(to).map_err(io(to))?;
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .map_err(io(from))?
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let src = entry.path();
        let name = entry.file_name();
        // Version control and caches do not belong in an installed copy.
        if matches!(
            name.to_str(),
            Some(".git") | Some("__pycache__") | Some("target")
        ) {
            continue;
        }
        let dst = to.join(&name);
        let mut meta = std::fs::symlink_metadata(&src).map_err(io(&src))?;
        if meta.file_type().is_symlink() {
            let target = std::fs::canonicalize(&src).map_err(io(&src))?;
            let here = std::fs::canonicalize(from).map_err(io(from))?;
            if !target.starts_with(root) {
                return Err(IntegrationError::LinkOutside { link: src, target });
            }
            if here.starts_with(&target) {
                return Err(IntegrationError::LinkLoop { link: src, target });
            }
            meta = std::fs::metadata(&target).map_err(io(&src))?;
        }
        budget.files += 1;
        if budget.files > MAX_FILES {
            return Err(IntegrationError::TooBig {
                dir: root.to_owned(),
                what: format!("more than {MAX_FILES} files"),
            });
        }
        if meta.is_dir() {
            copy_dir(root, &src, &dst, budget)?;
        } else if meta.is_file() {
            budget.bytes += meta.len();
            if budget.bytes > MAX_BYTES {
                return Err(IntegrationError::TooBig {
                    dir: root.to_owned(),
                    what: format!("more than {} MiB", MAX_BYTES >> 20),
                });
            }
            std::fs::copy(&src, &dst).map_err(io(&src))?;
        } else {
            return Err(IntegrationError::SpecialFile { path: src });
        }
    }
    Ok(())
}

/// The flavors of every integration, for the catalog.
pub fn flavors(integrations: &[Integration]) -> Vec<FlavorSchema> {
    integrations
        .iter()
        .flat_map(|i| i.flavors.iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Integration, Diagnostics> {
        let dir = std::env::temp_dir();
        parse(&SourceFile::new("manifest.yaml", text), &dir)
    }

    #[test]
    fn a_flavor_schema_is_read_with_its_fields() {
        let i = parse_text(
            "name: tracker\nversion: 1.2.0\nflavors:\n  - type: experiment_tracker\n    flavor: tracker\n    config:\n      tracking_uri: { type: string, required: true }\n      token: { secret: true }\n      tags: { type: map(string) }\n",
        )
        .unwrap();
        assert_eq!(i.name, "tracker");
        assert_eq!(i.version, "1.2.0");
        let f = &i.flavors[0];
        assert_eq!(
            (
                f.component.as_str(),
                f.flavor.as_str(),
                f.integration.as_str()
            ),
            ("experiment_tracker", "tracker", "tracker")
        );
        assert!(f.field("tracking_uri").unwrap().required);
        let token = f.field("token").unwrap();
        assert!(token.secret && token.ty == PropType::String);
        assert_eq!(
            f.field("tags").unwrap().ty,
            PropType::map_of(PropType::String)
        );
    }

    #[test]
    fn every_mistake_is_reported_with_its_line() {
        let err = parse_text(
            "name: Tracker\nflavors:\n  - type: experiment_trackr\n    flavor: t\n  - type: orchestrator\n    flavor: k\n    config:\n      n: { type: integr }\n      key: { type: integer, secret: true }\ntemplates:\n  x:\n    path: ../outside.yaml\nextra: 1\n",
        )
        .unwrap_err();
        let lines: Vec<(usize, String)> = err
            .0
            .iter()
            .map(|d| (d.position().unwrap().1, d.message.clone()))
            .collect();
        let has =
            |line: usize, text: &str| lines.iter().any(|(l, m)| *l == line && m.contains(text));
        assert!(has(1, "not a valid integration name"), "{lines:?}");
        assert!(
            has(3, "unknown component type `experiment_trackr`"),
            "{lines:?}"
        );
        assert!(has(8, "unknown type `integr`"), "{lines:?}");
        assert!(has(9, "secret field `key` must be a string"), "{lines:?}");
        assert!(has(12, "outside the integration"), "{lines:?}");
        assert!(has(13, "no field `extra`"), "{lines:?}");
    }
}
