//! The plugin protocol, version 1: one request on stdin, one answer on stdout, per process.
//!
//! Requests: `{"protocol": 1, "op": OP, ...}` with, for resource operations, `"type"`, `"id"`
//! (read, update, delete), `"properties"` (and `"old"` for update), `"ownership"` (`stack`,
//! `stack_id`, `address`: create must record them, find looks them up) and `"settings"` (the
//! template's `providers.NAME`). Answers: `{"resource": {"id", "properties", "outputs"}}`,
//! `{"resource": null}` (read or find of nothing), `{}` for delete, or `{"error": {"kind",
//! "message"}}` with kind `not_found`, `conflict`, `invalid`, `permission` or `retryable`.
//! `describe` answers `{"protocol": 1, "provider": NAME, "parallelism": N, "lists": BOOL,
//! "types": [...]}`; a plugin that lists answers `list` with `{"resources": [{"type", "id",
//! "properties", "outputs", "ownership"}]}`, everything it holds.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{OutputSchema, PropType, PropertySchema, ResourceSchema};
use stackform_engine::provider::{ErrorKind, ProviderError};

pub const PROTOCOL: u64 = 1;

/// How long one call may take unless `STACKFORM_PLUGIN_TIMEOUT` (seconds) says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Plugin {
    pub path: PathBuf,
    pub name: String,
    timeout: Duration,
}

/// What a plugin says it serves.
pub struct Described {
    pub provider: String,
    /// Whether it answers `list` (everything it holds, with ownership), for sweep and census.
    pub lists: bool,
    pub parallelism: usize,
    pub types: Vec<ResourceSchema>,
}

impl Plugin {
    pub fn new(path: PathBuf) -> Plugin {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let timeout = std::env::var("STACKFORM_PLUGIN_TIMEOUT")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
        Plugin {
            path,
            name,
            timeout,
        }
    }

    fn err(&self, kind: ErrorKind, what: impl std::fmt::Display) -> ProviderError {
        ProviderError::new(
            kind,
            format!("plugin `{}` ({}): {what}", self.name, self.path.display()),
        )
    }

    /// Runs one request. A call that may have changed something before it failed (a crash or
    /// a timeout after the request was sent) is "outcome unknown": the caller looks before it
    /// retries.
    pub fn call_blocking(&self, request: &Json) -> Result<Json, ProviderError> {
        let mut child = Command::new(&self.path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.err(ErrorKind::Other, format!("cannot start: {e}")))?;
        let body = request.to_string();
        if let Some(mut stdin) = child.stdin.take() {
            // A plugin that exits without reading closes the pipe: its answer says why.
            let _ = stdin.write_all(body.as_bytes());
        }
        let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
        let reader = std::thread::spawn(move || {
            let mut o = Vec::new();
            let mut e = Vec::new();
            if let Some(s) = out.as_mut() {
                let _ = s.read_to_end(&mut o);
            }
            if let Some(s) = err.as_mut() {
                let _ = s.read_to_end(&mut e);
            }
            (o, e)
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(self.err(
                        ErrorKind::OutcomeUnknown,
                        format!(
                            "gave no answer within {}s and was stopped (STACKFORM_PLUGIN_TIMEOUT sets the limit)",
                            self.timeout.as_secs()
                        ),
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => return Err(self.err(ErrorKind::Other, e)),
            }
        };
        let (stdout, stderr) = reader.join().unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr);
        let tail: String = stderr
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        if !status.success() {
            return Err(self.err(
                ErrorKind::OutcomeUnknown,
                format!(
                    "exited with {status} without an answer{}",
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!("; it said:\n{tail}")
                    }
                ),
            ));
        }
        let answer: Json = serde_json::from_slice(&stdout).map_err(|e| {
            let shown: String = String::from_utf8_lossy(&stdout).chars().take(200).collect();
            self.err(
                ErrorKind::OutcomeUnknown,
                format!("answered malformed JSON ({e}): {shown:?}"),
            )
        })?;
        if let Some(error) = answer.get("error").filter(|e| !e.is_null()) {
            let kind = match error["kind"].as_str() {
                Some("not_found") => ErrorKind::NotFound,
                Some("conflict") => ErrorKind::Conflict,
                Some("invalid") => ErrorKind::Invalid,
                Some("permission") => ErrorKind::Permission,
                Some("retryable") => ErrorKind::Retryable,
                _ => ErrorKind::Other,
            };
            return Err(self.err(kind, error["message"].as_str().unwrap_or("failed")));
        }
        Ok(answer)
    }

    /// A request in the protocol's envelope.
    pub fn request(op: &str, mut fields: Json) -> Json {
        fields["protocol"] = json!(PROTOCOL);
        fields["op"] = json!(op);
        fields
    }

    /// The plugin's provider name and resource types.
    pub fn describe(&self) -> Result<Described, ProviderError> {
        let answer = self.call_blocking(&Plugin::request("describe", json!({})))?;
        if answer["protocol"].as_u64() != Some(PROTOCOL) {
            return Err(self.err(
                ErrorKind::Invalid,
                format!(
                    "speaks protocol {}, this stackform speaks {PROTOCOL}",
                    answer["protocol"]
                ),
            ));
        }
        let provider = answer["provider"]
            .as_str()
            .filter(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            })
            .ok_or_else(|| {
                self.err(
                    ErrorKind::Invalid,
                    "describe names no valid `provider` (lowercase letters, digits, `_`)",
                )
            })?
            .to_owned();
        let mut types = Vec::new();
        for t in answer["types"].as_array().into_iter().flatten() {
            types.push(self.schema(&provider, t)?);
        }
        Ok(Described {
            lists: answer["lists"].as_bool() == Some(true),
            parallelism: answer["parallelism"].as_u64().unwrap_or(4) as usize,
            provider,
            types,
        })
    }

    fn schema(&self, provider: &str, t: &Json) -> Result<ResourceSchema, ProviderError> {
        let name = t["type"].as_str().unwrap_or_default();
        if !name.starts_with(&format!("{provider}.")) {
            return Err(self.err(
                ErrorKind::Invalid,
                format!("type `{name}` is not named `{provider}.<name>`"),
            ));
        }
        let mut schema = ResourceSchema::new(name, t["description"].as_str().unwrap_or_default());
        for p in t["properties"].as_array().into_iter().flatten() {
            let pname = p["name"].as_str().unwrap_or_default();
            let mut prop = PropertySchema::new(
                pname,
                prop_type(&p["type"])
                    .map_err(|m| self.err(ErrorKind::Invalid, format!("{name}.{pname}: {m}")))?,
                p["description"].as_str().unwrap_or_default(),
            );
            if p["required"].as_bool() == Some(true) {
                prop = prop.required();
            }
            if p["force_new"].as_bool() == Some(true) {
                prop = prop.force_new();
            }
            if p["sensitive"].as_bool() == Some(true) {
                prop = prop.sensitive();
            }
            if !p["default"].is_null() {
                prop = prop.default(Value::from_json(&p["default"]));
            }
            schema = schema.property(prop);
        }
        for o in t["outputs"].as_array().into_iter().flatten() {
            let oname = o["name"].as_str().unwrap_or_default();
            schema = schema.output(OutputSchema::new(
                oname,
                prop_type(&o["type"])
                    .map_err(|m| self.err(ErrorKind::Invalid, format!("{name}.{oname}: {m}")))?,
                o["description"].as_str().unwrap_or_default(),
            ));
        }
        if t["stateful"].as_bool() == Some(true) {
            schema = schema.stateful();
        }
        Ok(schema)
    }
}

/// A type as the protocol writes it: `string`, `integer`, `number`, `boolean`, `any`,
/// `list(T)`, `map(T)`.
fn prop_type(t: &Json) -> Result<PropType, String> {
    let s = t.as_str().unwrap_or("any");
    PropType::parse(s).ok_or_else(|| format!("unknown type `{s}`"))
}
