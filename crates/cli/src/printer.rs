//! The one place that writes to the terminal: human text or JSON, results and errors.
//!
//! JSON goes to stdout with a `schema` field; in JSON mode errors are JSON too, and notes are
//! NDJSON events on stderr so stdout stays one document. Human output is colored only when the
//! stream is a terminal (anstream strips styles otherwise and honours NO_COLOR).

use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use serde_json::json;
use stackform_engine::base::diagnostic::Diagnostic;
use stackform_engine::exec::Report;
use stackform_engine::ext::connectors::Connector;
use stackform_engine::ext::integration::Integration;
use stackform_engine::ext::secrets::SecretValues;
use stackform_engine::lang::template::Template;
use stackform_engine::ops::deploy::DeployReport;
use stackform_engine::ops::destroy::{CensusReport, DestroyReport};
use stackform_engine::ops::list::Row;
use stackform_engine::ops::reap::Expiring;
use stackform_engine::ops::sweep::Swept;
use stackform_engine::plan::cost::Estimate;
use stackform_engine::plan::{Action, Plan, PlannedValue, ResourceChange};
use stackform_engine::state::lock::UnlockOutcome;
use stackform_engine::state::{State, StoredInput};
use std::collections::BTreeMap;

use crate::args::OutputFormat;
use crate::error::CliError;

/// The `schema` of every JSON document stackform prints.
pub const JSON_SCHEMA: &str = "stackform/v1";

pub struct Printer {
    format: OutputFormat,
}

pub struct TemplateSummary {
    pub name: String,
    pub description: String,
    pub resources: usize,
    pub inputs: Vec<String>,
    /// The integration that adds it; `None`: built in.
    pub integration: Option<String>,
}

const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const RED: Style = AnsiColor::Red.on_default();
const MAGENTA: Style = AnsiColor::Magenta.on_default();
const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();

fn action_style(action: Action) -> Style {
    match action {
        Action::Create => GREEN,
        Action::Update => YELLOW,
        Action::Replace => MAGENTA,
        Action::Delete => RED,
        Action::Noop => DIM,
    }
}

impl Printer {
    pub fn new(format: OutputFormat) -> Printer {
        Printer { format }
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }

    fn json(&self, mut doc: serde_json::Value) {
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("schema".into(), json!(JSON_SCHEMA));
        }
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer_pretty(&mut out, &doc);
        let _ = writeln!(out);
    }

    fn human(&self, text: &str) {
        let mut out = anstream::stdout().lock();
        let _ = out.write_all(text.as_bytes());
    }

    /// A side remark: stderr, so stdout keeps only the result.
    /// Something skipped that the user must look at, while the command goes on.
    pub fn warn(&self, message: &str) {
        match self.format {
            OutputFormat::Json => {
                let line = json!({ "event": "warning", "message": message });
                eprintln!("{line}");
            }
            OutputFormat::Human => eprintln!("Warning: {message}"),
        }
    }

    pub fn note(&self, message: &str) {
        match self.format {
            OutputFormat::Json => {
                let line = json!({ "event": "note", "message": message });
                eprintln!("{line}");
            }
            OutputFormat::Human => eprintln!("{message}"),
        }
    }

    pub fn template_list(&self, list: &[TemplateSummary]) {
        if self.format == OutputFormat::Json {
            let templates: Vec<_> = list
                .iter()
                .map(|t| {
                    json!({
                        "name": t.name,
                        "description": t.description,
                        "resources": t.resources,
                        "inputs": t.inputs,
                        "integration": t.integration,
                    })
                })
                .collect();
            return self.json(json!({ "templates": templates }));
        }
        let width = list.iter().map(|t| t.name.len()).max().unwrap_or(0);
        let mut text = String::new();
        for t in list {
            let from = match &t.integration {
                Some(i) => format!(", integration {i}"),
                None => String::new(),
            };
            text.push_str(&format!(
                "{BOLD}{:width$}{BOLD:#}  {}  {DIM}({} resource{}{from}){DIM:#}\n",
                t.name,
                t.description,
                t.resources,
                if t.resources == 1 { "" } else { "s" }
            ));
        }
        self.human(&text);
    }

    pub fn template_source(&self, name: &str, source: &str) {
        if self.format == OutputFormat::Json {
            return self.json(json!({ "template": { "name": name, "source": source } }));
        }
        self.human(source);
    }

    pub fn validated(&self, file: &str, template: &Template, resources: usize) {
        if self.format == OutputFormat::Json {
            return self.json(json!({
                "valid": true,
                "template": {
                    "name": template.name,
                    "file": file,
                    "resources": resources,
                    "inputs": template.inputs.iter().map(|i| &i.name).collect::<Vec<_>>(),
                    "components": template.components.iter().map(|c| &c.kind).collect::<Vec<_>>(),
                }
            }));
        }
        self.human(&format!(
            "{GREEN}✓{GREEN:#} {file}: template `{}` is valid ({resources} resources, {} components)\n",
            template.name,
            template.components.len()
        ));
    }

    pub fn plan(&self, plan: &Plan) {
        if self.format == OutputFormat::Json {
            return self.json(json!({ "plan": plan }));
        }
        self.human(&render_plan(plan));
    }

    pub fn error(&self, err: &CliError) {
        if self.format == OutputFormat::Json {
            let diagnostics: Vec<_> = match err {
                CliError::Invalid(d) => d.0.iter().map(diagnostic_json).collect(),
                _ => Vec::new(),
            };
            let mut error = json!({
                "code": err.code(),
                "message": err.to_string(),
                "help": err.help(),
            });
            if !diagnostics.is_empty() {
                error["diagnostics"] = json!(diagnostics);
            }
            return self.json(json!({ "error": error }));
        }
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let theme = if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        let handler = miette::GraphicalReportHandler::new_themed(theme)
            .with_width(100)
            .with_context_lines(1);
        use stackform_engine::base::diagnostic::{MAX_MESSAGE, shorten};
        let mut text = String::new();
        match err {
            CliError::Invalid(diags) => {
                for d in &diags.0 {
                    // Bounded: whatever the input, nothing past what the renderer handles.
                    let _ = handler.render_report(&mut text, &d.bounded());
                    text.push('\n');
                }
                if diags.len() > 1 {
                    text.push_str(&format!("Error: {} problems found\n", diags.len()));
                }
            }
            other => {
                let mut d = miette::MietteDiagnostic::new(shorten(&other.to_string(), MAX_MESSAGE))
                    .with_code(other.code());
                if let Some(help) = other.help() {
                    d = d.with_help(shorten(&help, MAX_MESSAGE));
                }
                let _ = handler.render_report(&mut text, &d);
            }
        }
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text.as_bytes());
    }
}

/// How a deploy or destroy ended, as the printer shows it.
struct Ending<'a> {
    plan: &'a stackform_engine::plan::Plan,
    report: Option<&'a stackform_engine::exec::Report>,
    declined: bool,
    kept: &'a [String],
    removed: bool,
    census: Option<&'a CensusReport>,
    external: &'a [String],
}

impl Printer {
    /// The end of a deploy.
    pub fn deployed(&self, name: &str, d: &DeployReport) {
        self.run_result(
            "deploy",
            name,
            &Ending {
                plan: &d.plan,
                report: d.report.as_ref(),
                declined: d.declined,
                kept: &[],
                removed: false,
                census: None,
                external: &[],
            },
        );
    }

    /// The end of a destroy.
    pub fn destroyed(&self, name: &str, d: &DestroyReport) {
        self.run_result(
            "destroy",
            name,
            &Ending {
                plan: &d.plan,
                report: d.report.as_ref(),
                declined: d.declined,
                kept: &d.kept,
                removed: d.removed,
                census: d.census.as_ref(),
                external: &d.external,
            },
        );
    }

    /// The end of a deploy or destroy (a deploy's JSON carries the destroy-only fields empty, as
    /// it always has).
    fn run_result(&self, command: &str, name: &str, outcome: &Ending<'_>) {
        let report = outcome.report;
        if self.format == OutputFormat::Json {
            let fields = report_json(report);
            return self.json(json!({
                command: {
                    "stack": name,
                    "plan": outcome.plan,
                    "declined": outcome.declined,
                    "done": fields["done"],
                    "failed": fields["failed"],
                    "skipped": fields["skipped"],
                    "cancelled": fields["cancelled"],
                    "kept": outcome.kept,
                    "removed": outcome.removed,
                    "census": outcome.census.map(census_json),
                    "external": outcome.external,
                }
            }));
        }
        let mut text = String::new();
        match report {
            None if outcome.declined => text.push_str("Nothing was changed.\n"),
            None => text.push_str("No changes.\n"),
            Some(r) => {
                text.push_str(&problems_text(r));
                let verb = if command == "destroy" {
                    "Destroy"
                } else {
                    "Deploy"
                };
                if r.ok() && r.done.is_empty() {
                    text.push_str(&format!(
                        "{GREEN}No changes{GREEN:#}: stack `{name}` matches its template.\n"
                    ));
                } else if r.ok() {
                    let n = r.done.len();
                    text.push_str(&format!(
                        "\n{GREEN}{verb} of `{name}` complete{GREEN:#}: {n} operation{}.\n",
                        if n == 1 { "" } else { "s" }
                    ));
                } else if r.cancelled {
                    text.push_str(&format!("\n{RED}{verb} of `{name}` interrupted{RED:#}: {} done, {} not started. Everything done is recorded; run the command again to continue.\n", r.done.len(), r.skipped.len()));
                } else {
                    text.push_str(&format!("\n{RED}{verb} of `{name}` failed{RED:#}: {} done, {} failed, {} not started. Everything created is recorded; fix the cause and run the command again.\n", r.done.len(), r.failed.len(), r.skipped.len()));
                }
            }
        }
        if let Some(c) = outcome.census {
            text.push_str(&census_text(c));
        }
        if !outcome.external.is_empty() && !outcome.declined {
            text.push_str(&format!(
                "Deregistered, left as they are (external): {}.\n",
                outcome.external.join(", ")
            ));
        }
        if !outcome.kept.is_empty() {
            text.push_str(&format!("{YELLOW}Kept on purpose{YELLOW:#} (protected, retained, or needed by one of those): {}. The stack stays listed.\n", outcome.kept.join(", ")));
        }
        if outcome.removed {
            text.push_str(&format!(
                "Stack `{name}` is gone: nothing of it remains in its state.\n"
            ));
        }
        let mut err = anstream::stderr().lock();
        let _ = err.write_all(text.as_bytes());
    }

    /// What a sweep found, and what it deleted (`deleted`) or would delete.
    pub fn swept(&self, swept: &[Swept], deleted: bool) {
        if self.format == OutputFormat::Json {
            let stacks: Vec<_> = swept
                .iter()
                .map(|s| {
                    let fields = report_json(s.report.as_ref());
                    json!({
                        "name": s.name,
                        "id": s.id,
                        "plan": s.plan,
                        "done": fields["done"],
                        "failed": fields["failed"],
                        "skipped": fields["skipped"],
                        "census": s.census.as_ref().map(census_json),
                    })
                })
                .collect();
            return self.json(json!({"sweep": {"deleted": deleted, "stacks": stacks}}));
        }
        let mut text = String::new();
        if swept.is_empty() {
            text.push_str("Nothing carries those marks where stackform looked (the region and the global services).\n");
        }
        for s in swept {
            text.push_str(&format!(
                "Found by their tags: {} resources of stack {BOLD}{}{BOLD:#} (id {}).\n",
                s.plan.summary.destroy, s.name, s.id
            ));
            // The plan is the result of a dry run: stdout, as `plan` prints it.
            self.human(&render_plan(&s.plan));
            match &s.report {
                None => text.push_str(
                    "\nDry run: nothing was deleted. Run again with --yes to delete these.\n",
                ),
                Some(r) => {
                    text.push_str(&problems_text(r));
                    if r.ok() {
                        text.push_str(&format!(
                            "\n{GREEN}Sweep of `{}` complete{GREEN:#}: {} deleted.\n",
                            s.name,
                            r.done.len()
                        ));
                    } else {
                        text.push_str(&format!("\n{RED}Sweep of `{}` failed{RED:#}: run it again once the cause is fixed; what was deleted is recorded.\n", s.name));
                    }
                }
            }
            if let Some(c) = &s.census {
                text.push_str(&census_text(c));
            }
        }
        let mut err = anstream::stderr().lock();
        let _ = err.write_all(text.as_bytes());
    }

    /// A connector: its settings and the names of its secret keys.
    pub fn connector(&self, c: &Connector, verb: &str) {
        if self.format == OutputFormat::Json {
            return self.json(json!({ "connector": c }));
        }
        let mut text = format!(
            "{BOLD}Connector {}{BOLD:#} ({} via {})",
            c.name, c.kind, c.auth_method
        );
        if verb == "registered" {
            text.push_str(" registered");
        }
        text.push('\n');
        for (k, v) in &c.settings {
            text.push_str(&format!("  {k} = {v}\n"));
        }
        if let Some(secret) = &c.secret {
            text.push_str(&format!(
                "  key material: {} (in secret `{secret}`, never shown)\n",
                c.secret_keys.join(", ")
            ));
        }
        text.push_str(&format!(
            "  environments: {}\n",
            if c.environments.is_empty() {
                "any".to_owned()
            } else {
                c.environments.join(", ")
            }
        ));
        self.human(&text);
    }

    pub fn integration_list(&self, list: &[Integration]) {
        if self.format == OutputFormat::Json {
            let list: Vec<_> = list.iter().map(integration_json).collect();
            return self.json(json!({ "integrations": list }));
        }
        if list.is_empty() {
            return self.human("No integrations. Add one with `stackform integration add PATH`.\n");
        }
        let mut text = String::new();
        for i in list {
            text.push_str(&format!("{BOLD}{}{BOLD:#} {}", i.name, i.version));
            if !i.description.is_empty() {
                text.push_str(&format!("  {}", i.description));
            }
            text.push('\n');
            text.push_str(&integration_contents(i));
        }
        self.human(&text);
    }

    pub fn integration_added(&self, i: &Integration, replaced: bool) {
        if self.format == OutputFormat::Json {
            return self.json(json!({ "added": integration_json(i), "replaced": replaced }));
        }
        self.human(&format!(
            "{GREEN}{} integration `{}` {}{GREEN:#} into {}\n{}",
            if replaced { "Replaced" } else { "Added" },
            i.name,
            i.version,
            i.dir.display(),
            integration_contents(i)
        ));
    }

    pub fn integration_removed(&self, i: &Integration) {
        if self.format == OutputFormat::Json {
            return self.json(json!({ "removed": integration_json(i) }));
        }
        self.human(&format!(
            "Removed integration `{}` {} and what it added.\n",
            i.name, i.version
        ));
    }

    pub fn connector_list(&self, list: &[Connector]) {
        if self.format == OutputFormat::Json {
            return self.json(json!({ "connectors": list }));
        }
        if list.is_empty() {
            return self.human("No connectors. Register one with `stackform connector register NAME --type aws`.\n");
        }
        let mut text = format!(
            "{BOLD}{:<20} {:<12} {:<16} ENVIRONMENTS{BOLD:#}\n",
            "NAME", "TYPE", "AUTH"
        );
        for c in list {
            text.push_str(&format!(
                "{:<20} {:<12} {:<16} {}\n",
                c.name,
                c.kind,
                c.auth_method,
                if c.environments.is_empty() {
                    "any".to_owned()
                } else {
                    c.environments.join(", ")
                }
            ));
        }
        self.human(&text);
    }

    pub fn connector_resources(&self, name: &str, found: &[(String, String)]) {
        if self.format == OutputFormat::Json {
            let list: Vec<_> = found
                .iter()
                .map(|(t, id)| json!({"type": t, "id": id}))
                .collect();
            return self.json(json!({"resources": list, "connector": name}));
        }
        let mut text = format!("{BOLD}{:<20} ID{BOLD:#}\n", "TYPE");
        for (t, id) in found {
            text.push_str(&format!("{t:<20} {id}\n"));
        }
        if found.is_empty() {
            text = format!("Connector `{name}` reaches nothing of those types.\n");
        }
        self.human(&text);
    }

    /// A login written: where, and how to use it (never the credential).
    pub fn logged_in(
        &self,
        name: &str,
        target: &str,
        path: &std::path::Path,
        how: &str,
        expires: Option<&str>,
    ) {
        if self.format == OutputFormat::Json {
            return self.json(json!({"login": {"connector": name, "target": target, "file": path, "use": how, "expires_at": expires}}));
        }
        let mut text = format!(
            "Logged in to {target} through connector `{name}`: {} (mode 0600).\n",
            path.display()
        );
        if let Some(e) = expires {
            text.push_str(&format!(
                "The registry token expires at {e}; run this again then.\n"
            ));
        }
        text.push_str(&format!("Use it with: {how}\n"));
        self.human(&text);
    }

    #[allow(clippy::too_many_arguments)]
    pub fn verified(
        &self,
        name: &str,
        account: &str,
        arn: &str,
        template: &str,
        needed: usize,
        missing: &[String],
        unchecked: Option<&str>,
    ) {
        if self.format == OutputFormat::Json {
            return self.json(json!({"verify": {
                "connector": name, "account": account, "arn": arn, "template": template,
                "actions_checked": needed, "missing_actions": missing, "unchecked": unchecked,
            }}));
        }
        let mut text = format!("Connector `{name}` works: account {account}, identity {arn}.\n");
        match (unchecked, missing.is_empty()) {
            (Some(why), _) => text.push_str(&format!("{YELLOW}Permissions not checked{YELLOW:#}: {why}\n")),
            (None, true) => text.push_str(&format!(
                "Its policies allow all {needed} actions the `{template}` template's resources need.\n"
            )),
            (None, false) => text.push_str(&format!(
                "{RED}Its policies do not allow{RED:#} {} of the {needed} actions the `{template}` template's resources need: {}\n",
                missing.len(),
                missing.join(", ")
            )),
        }
        self.human(&text);
    }

    /// A secret was created or updated: its keys, never its values.
    pub fn secret_written(&self, name: &str, verb: &str, values: &SecretValues, store: &str) {
        let keys: Vec<&String> = values.keys().collect();
        if self.format == OutputFormat::Json {
            return self
                .json(json!({"secret": {"name": name, verb: true, "keys": keys, "store": store}}));
        }
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        self.human(&format!("Secret `{name}` {verb} with keys {} in {store}. Refer to it as `{{{{ {name}.<key> }}}}`.\n", keys.join(", ")));
    }

    pub fn secret_list(&self, secrets: &[(String, Vec<String>)], store: &str) {
        if self.format == OutputFormat::Json {
            let list: Vec<_> = secrets
                .iter()
                .map(|(n, k)| json!({"name": n, "keys": k}))
                .collect();
            return self.json(json!({"secrets": list, "store": store}));
        }
        if secrets.is_empty() {
            return self.human(&format!(
                "No secrets in {store}. Create one with `stackform secret create NAME`.\n"
            ));
        }
        let mut text = format!("{BOLD}{:<24} KEYS{BOLD:#}\n", "NAME");
        for (n, k) in secrets {
            text.push_str(&format!("{n:<24} {}\n", k.join(", ")));
        }
        self.human(&text);
    }

    /// A secret's keys; values only when `reveal`.
    pub fn secret(&self, name: &str, values: &SecretValues, reveal: bool) {
        let shown = |v: &String| {
            if reveal {
                v.clone()
            } else {
                "(hidden: --reveal shows it)".to_owned()
            }
        };
        if self.format == OutputFormat::Json {
            let map: BTreeMap<&String, serde_json::Value> = values
                .iter()
                .map(|(k, v)| {
                    (
                        k,
                        if reveal {
                            json!(v)
                        } else {
                            json!({"sensitive": true})
                        },
                    )
                })
                .collect();
            return self.json(json!({"secret": {"name": name, "values": map}}));
        }
        let mut text = format!("{BOLD}Secret {name}{BOLD:#}\n");
        for (k, v) in values {
            text.push_str(&format!("  {k} = {}\n", shown(v)));
        }
        self.human(&text);
    }

    /// What changed in the cloud since a stack's last record.
    pub fn drift(&self, name: &str, drift: &[stackform_engine::exec::Drift]) {
        let shown = |v: &stackform_engine::base::value::Value| {
            if stackform_engine::state::is_sealed(v) {
                json!({"sensitive": true})
            } else {
                json!({"value": v})
            }
        };
        if self.format == OutputFormat::Json {
            let list: Vec<_> = drift
                .iter()
                .map(|d| {
                    json!({
                        "address": d.address,
                        "type": d.type_name,
                        "status": if d.gone { "gone" } else { "changed" },
                        "properties": d.changed.iter().map(|(k, before, after)| json!({
                            "name": k, "before": shown(before), "after": shown(after),
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            return self.json(json!({"drift": {"stack": name, "resources": list}}));
        }
        let mut text = String::new();
        if drift.is_empty() {
            text.push_str(&format!(
                "No drift: the cloud matches what stack `{name}` recorded.\n"
            ));
        }
        for d in drift {
            if d.gone {
                text.push_str(&format!(
                    "  {RED}- {}{RED:#} ({}): deleted outside stackform\n",
                    d.address, d.type_name
                ));
                continue;
            }
            text.push_str(&format!(
                "  {YELLOW}~ {}{YELLOW:#} ({}): changed outside stackform\n",
                d.address, d.type_name
            ));
            for (k, before, after) in &d.changed {
                let show = |v: &stackform_engine::base::value::Value| {
                    if stackform_engine::state::is_sealed(v) {
                        "(sensitive)".to_owned()
                    } else {
                        v.to_string()
                    }
                };
                text.push_str(&format!(
                    "        {k} = {} -> {}\n",
                    show(before),
                    show(after)
                ));
            }
        }
        self.human(&text);
    }

    /// A document as it is (an export), to stdout.
    pub fn document(&self, text: &str) {
        self.human(text);
    }

    /// What `stack protect|unprotect` changed.
    pub fn protected(&self, name: &str, on: bool, changed: &[String]) {
        if self.format == OutputFormat::Json {
            return self
                .json(json!({"protect": {"stack": name, "protected": on, "changed": changed}}));
        }
        let verb = if on { "Protected" } else { "Unprotected" };
        let text = if changed.is_empty() {
            format!(
                "Nothing to change: every resource asked for was already {}.\n",
                verb.to_lowercase()
            )
        } else {
            format!(
                "{verb} {} resource{} of `{name}`: {}.\n",
                changed.len(),
                if changed.len() == 1 { "" } else { "s" },
                changed.join(", ")
            )
        };
        self.human(&text);
    }

    /// Stacks with a TTL, and what reap did (or would do) to the expired ones.
    pub fn reaped(
        &self,
        stacks: &[(Expiring, Option<Result<(), String>>)],
        deleted: bool,
        now: std::time::SystemTime,
    ) {
        let outcome = |e: &Expiring, r: &Option<Result<(), String>>| match r {
            _ if !e.expired => "not expired".to_owned(),
            None => "would be destroyed".to_owned(),
            Some(Ok(())) => "destroyed".to_owned(),
            Some(Err(why)) => format!("failed: {why}"),
        };
        if self.format == OutputFormat::Json {
            let list: Vec<_> = stacks
                .iter()
                .map(|(e, r)| {
                    json!({
                        "name": e.name,
                        "id": e.id,
                        "expires_at": e.expires_at,
                        "expired": e.expired,
                        "found_in": if e.local { "state" } else { "tags" },
                        "outcome": outcome(e, r),
                    })
                })
                .collect();
            return self.json(json!({"reap": {"deleted": deleted, "stacks": list}}));
        }
        let mut text = String::new();
        if stacks.is_empty() {
            text.push_str("No stack has a TTL (deploy one with `--ttl 4h`).\n");
        }
        for (e, r) in stacks {
            text.push_str(&format!(
                "{:<22} {:<22} {:<7} {}\n",
                e.name,
                crate::clock::left(&e.expires_at, now),
                if e.local { "state" } else { "tags" },
                outcome(e, r)
            ));
        }
        if !deleted && stacks.iter().any(|(e, _)| e.expired) {
            text.push_str("\nDry run: nothing was destroyed. Run again with --yes to destroy the expired stacks.\n");
        }
        let mut err = anstream::stderr().lock();
        let _ = err.write_all(text.as_bytes());
    }

    pub fn stack_list(&self, stacks: &[Row], now: std::time::SystemTime) {
        if self.format == OutputFormat::Json {
            let list: Vec<_> = stacks
                .iter()
                .map(|s| {
                    let mut row = json!({
                        "name": s.name,
                        "id": s.id,
                        "template": s.template,
                        "resources": s.resources,
                        "pending": s.pending,
                        "components": s.components,
                        "updated_at": s.updated_at,
                        "expires_at": s.expires_at,
                        "environment": s.environment,
                        "cost": s.cost,
                    });
                    if let Some(d) = &s.damaged {
                        row["damaged"] = json!({"message": d.message, "help": d.help});
                    }
                    row
                })
                .collect();
            return self.json(json!({ "stacks": list }));
        }
        if stacks.is_empty() {
            return self.human("No stacks. Create one with `stackform deploy local --name dev`.\n");
        }
        let mut text = format!(
            "{BOLD}{:<22} {:<12} {:>9}  {:<20}  {:<20}  {:<16}  UPDATED{BOLD:#}\n",
            "NAME", "TEMPLATE", "RESOURCES", "STATUS", "EXPIRES", "RATE"
        );
        for s in stacks {
            let status = match (&s.damaged, s.pending) {
                (Some(_), _) => "damaged".to_owned(),
                (None, 0) => "ok".to_owned(),
                (None, n) => format!("{n} pending"),
            };
            let expires = s
                .expires_at
                .as_deref()
                .map_or_else(|| "never".to_owned(), |at| crate::clock::left(at, now));
            let rate = match &s.cost {
                None => "-".to_owned(),
                Some(e) if e.hourly == 0.0 && !e.usage_based.is_empty() => "usage-based".to_owned(),
                Some(e) => format!("{}/h", money(e.hourly, &e.currency)),
            };
            text.push_str(&format!(
                "{:<22} {:<12} {:>9}  {:<20}  {:<20}  {:<16}  {}\n",
                s.name, s.template, s.resources, status, expires, rate, s.updated_at
            ));
        }
        for s in stacks {
            if let Some(d) = &s.damaged {
                text.push_str(&format!(
                    "\n{RED}Stack `{}` is damaged{RED:#}: {}\n  {}\n",
                    s.name, d.message, d.help
                ));
            }
        }
        self.human(&text);
    }

    pub fn stack_describe(&self, s: &State) {
        if self.format == OutputFormat::Json {
            let resources: BTreeMap<_, _> = s
                .resources
                .iter()
                .map(|(a, r)| {
                    (a.clone(), json!({
                        "type": r.type_name,
                        "id": r.physical_id,
                        "outputs": r.outputs,
                        "protect": r.protect,
                        "status": if s.pending.values().any(|p| &p.address == a) { "pending" } else { "ok" },
                    }))
                })
                .collect();
            let components: Vec<_> = s
                .components
                .iter()
                .map(|c| {
                    // A field computed from a secret is recorded only as a keyed hash.
                    let configuration: BTreeMap<&String, serde_json::Value> = c
                        .configuration
                        .iter()
                        .map(|(k, v)| {
                            let shown = if stackform_engine::state::is_sealed(v) {
                                json!({"sensitive": true})
                            } else {
                                json!(v)
                            };
                            (k, shown)
                        })
                        .collect();
                    json!({"type": c.kind, "flavor": c.flavor, "configuration": configuration})
                })
                .collect();
            return self.json(json!({
                "stack": {
                    "name": s.stack.name,
                    "id": s.stack.id,
                    "suffix": s.stack.suffix,
                    "template": s.template.name,
                    "status": if s.pending.is_empty() { "ok" } else { "pending" },
                    "components": components,
                    "inputs": s.inputs.iter().map(|(k, v)| (k.clone(), match v {
                        StoredInput::Value(v) => json!({"value": v}),
                        StoredInput::Sensitive { .. } => json!({"sensitive": true}),
                        StoredInput::Secret { reference, .. } => json!({"secret": reference}),
                    })).collect::<BTreeMap<_, _>>(),
                    "outputs": s.outputs,
                    "resources": resources,
                    "pending": s.pending.values().map(|p| json!({"op": p.op, "action": p.action, "address": p.address})).collect::<Vec<_>>(),
                    "serial": s.serial,
                    "updated_at": s.updated_at,
                    "environment": s.stack.environment,
                    "expires_at": s.stack.expires_at,
                }
            }));
        }
        let mut t = format!(
            "{BOLD}Stack {}{BOLD:#} (template {}, id {}, suffix {})\nStatus: {}\n",
            s.stack.name,
            s.template.name,
            s.stack.id,
            s.stack.suffix,
            if s.pending.is_empty() {
                "ok".to_owned()
            } else {
                format!(
                    "{} pending operations (resolved on the next deploy or destroy)",
                    s.pending.len()
                )
            }
        );
        if let Some(env) = &s.stack.environment {
            t.push_str(&format!("Environment: {env}\n"));
        }
        if let Some(at) = &s.stack.expires_at {
            t.push_str(&format!("Expires: {at}\n"));
        }
        if !s.inputs.is_empty() {
            // What the next `deploy --name` and `plan` keep unless given again.
            t.push_str(&format!("\n{BOLD}Inputs{BOLD:#}\n"));
            for (k, v) in &s.inputs {
                let shown = match v {
                    StoredInput::Value(v) => v.to_string(),
                    StoredInput::Sensitive { .. } => "(sensitive)".to_owned(),
                    StoredInput::Secret { reference, .. } => {
                        format!("{reference} (secret reference)")
                    }
                };
                t.push_str(&format!("  {k} = {shown}\n"));
            }
        }
        t.push_str(&format!("\n{BOLD}Components{BOLD:#}\n"));
        for c in &s.components {
            t.push_str(&format!("  {} (flavor {})\n", c.kind, c.flavor));
            for (k, v) in &c.configuration {
                if stackform_engine::state::is_sealed(v) {
                    t.push_str(&format!("        {k} = (sensitive)\n"));
                } else {
                    t.push_str(&format!("        {k} = {v}\n"));
                }
            }
        }
        if !s.outputs.is_empty() {
            t.push_str(&format!("\n{BOLD}Outputs{BOLD:#}\n"));
            for (k, v) in &s.outputs {
                t.push_str(&format!("  {k} = {v}\n"));
            }
        }
        t.push_str(&format!("\n{BOLD}Resources{BOLD:#}\n"));
        for (a, r) in &s.resources {
            let mut protect = if r.protect { " [protected]" } else { "" }.to_owned();
            if r.found.as_ref().is_some_and(|f| f.external) {
                protect.push_str(" [external]");
            }
            t.push_str(&format!(
                "  {a} ({}) {}{protect}\n",
                r.type_name, r.physical_id
            ));
        }
        self.human(&t);
    }

    pub fn state(&self, s: &State) {
        if self.format == OutputFormat::Json {
            return self.json(json!({ "state": s }));
        }
        let text = serde_json::to_string_pretty(s).unwrap_or_default();
        self.human(&format!("{text}\n"));
    }

    pub fn unlocked(&self, name: &str, outcome: &UnlockOutcome) {
        let (status, text) = match outcome {
            UnlockOutcome::WasFree => ("free", format!("Stack `{name}` was not locked.")),
            UnlockOutcome::Broken(h) => (
                "broken",
                format!(
                    "Removed the lock of stack `{name}`{}.",
                    h.as_ref()
                        .map(|h| format!(" held by {h}"))
                        .unwrap_or_default()
                ),
            ),
            UnlockOutcome::HeldBy(_) => ("held", String::new()),
        };
        if self.format == OutputFormat::Json {
            return self.json(json!({ "unlock": { "stack": name, "status": status } }));
        }
        self.human(&format!("{text}\n"));
    }
}

fn diagnostic_json(d: &Diagnostic) -> serde_json::Value {
    let (file, line, column) = match d.position() {
        Some((f, l, c)) => (Some(f), Some(l), Some(c)),
        None => (None, None, None),
    };
    json!({
        "code": d.code,
        "message": d.message,
        "help": d.help,
        "file": file,
        "line": line,
        "column": column,
    })
}

/// The executor's report as JSON fields: done, failed, skipped, cancelled.
fn report_json(report: Option<&Report>) -> serde_json::Value {
    let Some(r) = report else {
        return json!({"done": [], "failed": [], "skipped": [], "cancelled": false});
    };
    json!({
        "done": r.done.iter().map(|(a, act)| json!({"address": a, "action": act})).collect::<Vec<_>>(),
        "failed": r.failed.iter().map(|f| json!({
            "address": f.address,
            "action": f.action,
            "error": f.error.message,
            "kind": f.error.kind,
            "request_id": f.error.request_id,
        })).collect::<Vec<_>>(),
        "skipped": r.skipped.iter().map(|(a, why)| json!({"address": a, "reason": why})).collect::<Vec<_>>(),
        "cancelled": r.cancelled,
    })
}

/// Failed and skipped operations, one line each.
fn problems_text(r: &Report) -> String {
    let mut text = String::new();
    for f in &r.failed {
        let id = f
            .error
            .request_id
            .as_deref()
            .map(|i| format!(" (request id {i})"))
            .unwrap_or_default();
        text.push_str(&format!(
            "{RED}error{RED:#}: {} {}: {}{id}\n",
            f.action.symbol(),
            f.address,
            f.error.message
        ));
    }
    for (a, why) in &r.skipped {
        text.push_str(&format!("{YELLOW}skipped{YELLOW:#}: {a} ({why})\n"));
    }
    text
}

fn census_json(c: &CensusReport) -> serde_json::Value {
    json!({"swept": c.swept, "remaining": c.remaining, "checked": c.checked, "incomplete": c.incomplete, "unmanaged": c.unmanaged})
}

fn census_text(c: &CensusReport) -> String {
    let mut text = String::new();
    if !c.swept.is_empty() {
        text.push_str(&format!(
            "{YELLOW}The census found{YELLOW:#} what the first pass missed, and deleted it: {}\n",
            c.swept.join(", ")
        ));
    }
    if !c.unmanaged.is_empty() {
        text.push_str(&format!(
            "Left in the cloud as `state rm` asked (unmanaged): {}\n",
            c.unmanaged.join(", ")
        ));
    }
    if let Some(why) = &c.incomplete {
        text.push_str(&format!(
            "{RED}Census incomplete{RED:#}: {why}. Nothing is proven about what remains: the stack stays listed; run the command again once the listing is allowed.\n"
        ));
    } else if c.remaining.is_empty() && !c.checked.is_empty() {
        text.push_str(&format!(
            "{GREEN}Census{GREEN:#} ({}): nothing carrying the stack's marks remains.\n",
            c.checked.join(", ")
        ));
    } else if !c.remaining.is_empty() {
        text.push_str(&format!(
            "{RED}Still in the cloud{RED:#} after a second pass (delete these by hand, or run the command again): {}\n",
            c.remaining.join(", ")
        ));
    }
    text
}

/// The human plan: one block per resource with a sign, changed properties, and a summary line.
pub fn render_plan(plan: &Plan) -> String {
    let mut out = String::new();
    let name = plan.stack.name.as_deref().unwrap_or("?");
    out.push_str(&format!(
        "Plan for stack {BOLD}{name}{BOLD:#} from template {BOLD}{}{BOLD:#}",
        plan.template.name
    ));
    if let Some(suffix) = &plan.stack.suffix {
        out.push_str(&format!(" {DIM}(suffix {suffix}){DIM:#}"));
    }
    out.push_str("\n\n");
    // Recorded inputs stay unless given again: say which did, so a value is never a surprise.
    let kept: Vec<String> = plan
        .inputs
        .iter()
        .filter(|(_, i)| i.origin == stackform_engine::plan::InputOrigin::Kept)
        .map(|(name, i)| format!("{name} = {}", i.value))
        .collect();
    if !kept.is_empty() {
        out.push_str(&format!(
            "Inputs kept from the last deploy {DIM}(give them again to change them){DIM:#}: {}\n\n",
            kept.join(", ")
        ));
    }
    let changed: Vec<&ResourceChange> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::Noop || c.moved_from.is_some())
        .collect();
    if changed.is_empty() {
        out.push_str("No changes: the stack matches the template.\n\n");
    }
    for c in changed {
        let style = action_style(c.action);
        out.push_str(&format!(
            "  {style}{:>3} {}{style:#} {DIM}({}){DIM:#}",
            c.action.symbol(),
            c.address,
            c.type_name
        ));
        if let Some(reason) = &c.reason {
            out.push_str(&format!(": {reason}"));
        }
        if let Some(from) = &c.moved_from {
            out.push_str(&format!(" {MAGENTA}(moved from `{from}`){MAGENTA:#}"));
        }
        out.push('\n');
        let width = c.properties.iter().map(|p| p.name.len()).max().unwrap_or(0);
        for p in &c.properties {
            let value = match (&p.before, &p.after) {
                (None, Some(after)) => after.to_string(),
                (Some(before), None) => before.to_string(),
                (Some(before), Some(after)) => format!("{before} -> {after}"),
                (None, None) => String::new(),
            };
            let note = if p.forces_replacement {
                format!(" {MAGENTA}# forces replacement{MAGENTA:#}")
            } else {
                String::new()
            };
            out.push_str(&format!("        {:width$} = {value}{note}\n", p.name));
        }
        if let Some(w) = &c.warning {
            out.push_str(&format!("        {RED}! {w}{RED:#}\n"));
        }
    }
    if !plan.components.is_empty() {
        out.push_str(&format!("\n{BOLD}Components{BOLD:#}\n"));
        for c in &plan.components {
            out.push_str(&format!("  {} ({})\n", c.kind, flavor_text(&c.flavor)));
            for (k, v) in &c.configuration {
                let changed = if c.secrets_changed.contains(k) {
                    format!(" {YELLOW}# its secret changed{YELLOW:#}")
                } else {
                    String::new()
                };
                out.push_str(&format!("        {k} = {v}{changed}\n"));
            }
        }
    }
    if !plan.outputs.is_empty() {
        out.push_str(&format!("\n{BOLD}Outputs{BOLD:#}\n"));
        for (k, v) in &plan.outputs {
            out.push_str(&format!("  {k} = {v}\n"));
        }
    }
    if let Some(cost) = &plan.cost {
        out.push_str(&render_cost(cost));
    }
    if !plan.warnings.is_empty() {
        out.push_str(&format!("\n{RED}Warnings{RED:#}\n"));
        for w in &plan.warnings {
            out.push_str(&format!("  {RED}!{RED:#} {w}\n"));
        }
    }
    let s = plan.summary;
    let moved = if s.moved > 0 {
        format!(", {MAGENTA}{} to move{MAGENTA:#}", s.moved)
    } else {
        String::new()
    };
    out.push_str(&format!(
        "\n{BOLD}Plan:{BOLD:#} {GREEN}{} to add{GREEN:#}, {YELLOW}{} to change{YELLOW:#}, \
         {MAGENTA}{} to replace{MAGENTA:#}, {RED}{} to destroy{RED:#}{moved}.\n",
        s.add, s.change, s.replace, s.destroy
    ));
    out
}

/// `$0.1960` for USD, `0.1960 EUR` otherwise: estimates keep four decimals for hourly rates.
fn money(amount: f64, currency: &str) -> String {
    if currency == "USD" {
        format!("${amount:.4}")
    } else {
        format!("{amount:.4} {currency}")
    }
}

/// The estimated cost of what a plan leaves running.
fn render_cost(cost: &Estimate) -> String {
    let tables: Vec<String> = cost
        .prices
        .iter()
        .map(|p| format!("{} recorded {}", p.region, p.recorded))
        .collect();
    let mut out = format!(
        "\n{BOLD}Estimated cost{BOLD:#} {DIM}({} on-demand list prices of {}; usage and data transfer not included){DIM:#}\n",
        cost.currency,
        tables.join(", ")
    );
    let width = cost
        .resources
        .iter()
        .map(|r| r.address.len())
        .max()
        .unwrap_or(0);
    for r in &cost.resources {
        let rate = match (r.hourly, r.monthly) {
            (Some(h), Some(m)) => format!(
                "{:>10}/h {:>9}/month",
                money(h, &cost.currency),
                format!("{m:.2}")
            ),
            _ => format!("{:>10}   {:>9}      ", "-", "-"),
        };
        out.push_str(&format!(
            "  {:width$}  {rate}  {DIM}{}{DIM:#}\n",
            r.address, r.basis
        ));
    }
    let mut total = format!(
        "  {BOLD}Total{BOLD:#}: {}/h, about {:.2} {} a month",
        money(cost.hourly, &cost.currency),
        cost.monthly,
        cost.currency
    );
    if !cost.usage_based.is_empty() {
        total.push_str(", plus usage-based charges");
    }
    if !cost.unpriced.is_empty() {
        total.push_str(&format!("; not priced: {}", cost.unpriced.join(", ")));
    }
    out.push_str(&total);
    out.push('\n');
    out
}

fn flavor_text(flavor: &PlannedValue) -> String {
    match flavor {
        PlannedValue::Known(stackform_engine::base::value::Value::String(s)) => {
            format!("flavor {s}")
        }
        other => format!("flavor {other}"),
    }
}

fn integration_json(i: &Integration) -> serde_json::Value {
    json!({
        "name": i.name,
        "version": i.version,
        "description": i.description,
        "path": i.dir,
        "flavors": i.flavors.iter().map(|f| json!({
            "type": f.component,
            "flavor": f.flavor,
            "description": f.description,
            "fields": f.fields,
        })).collect::<Vec<_>>(),
        "providers": i.providers.iter().map(|p| json!({
            "name": p.name,
            "plugin": p.plugin,
        })).collect::<Vec<_>>(),
        "templates": i.templates.iter().map(|t| json!({
            "name": t.name,
            "description": t.description,
            "path": t.path,
        })).collect::<Vec<_>>(),
    })
}

/// The indented lines that say what an integration adds.
fn integration_contents(i: &Integration) -> String {
    let mut text = String::new();
    for f in &i.flavors {
        let fields: Vec<String> = f
            .fields
            .iter()
            .map(|x| {
                let mut s = x.name.clone();
                if x.required {
                    s.push('*');
                }
                if x.secret {
                    s.push_str(" (secret)");
                }
                s
            })
            .collect();
        text.push_str(&format!(
            "  flavor    {}/{}  {DIM}{}{DIM:#}\n",
            f.component,
            f.flavor,
            fields.join(", ")
        ));
    }
    for p in &i.providers {
        text.push_str(&format!(
            "  provider  {}  {DIM}{}{DIM:#}\n",
            p.name,
            match &p.plugin {
                Some(path) => format!("plugin {}", path.display()),
                None => "built in".to_owned(),
            }
        ));
    }
    for t in &i.templates {
        text.push_str(&format!(
            "  template  {}  {DIM}{}{DIM:#}\n",
            t.name, t.description
        ));
    }
    text
}
