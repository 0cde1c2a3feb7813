//! `deploy`: from lock to final snapshot, a template applied as a stack. What to apply comes
//! from `prepare`, the pipeline `plan` shows; this file takes the lock, opens and refreshes the
//! state, confirms, records what must be durable before anything runs, applies, and records
//! the stack's components, outputs and inputs.

use std::collections::BTreeMap;
use std::time::Duration;

use super::error::{Confirm, OpError};
use super::prepare::{self, PrepareRequest, Prepared, TemplateSource};
use crate::exec::{self, Desired, Report, RunConfig};
use crate::ext::connectors::Connector;
use crate::ext::secrets::SecretStore;
use crate::plan::plan_file::SavedPlan;
use crate::plan::resolve::{InputValues, StackContext};
use crate::plan::{self, Plan, template_hash};
use crate::provider::Registry;
use crate::state::store::{Entry, Recorder, StackFiles};
use crate::state::{State, StoredInput, TemplateRecord};

/// Everything a deploy needs.
pub struct DeployRequest<'a> {
    pub files: StackFiles,
    pub name: &'a str,
    pub template: TemplateSource,
    /// The inputs given now; the stack's recorded ones are kept unless given again.
    pub inputs: InputValues,
    pub registry: &'a Registry,
    pub run: RunConfig,
    pub lock_wait: Duration,
    pub command: &'a str,
    /// `deploy --plan FILE`: apply exactly this, or refuse.
    pub saved: Option<SavedPlan>,
    /// `deploy --ttl`: when the stack may be reaped (RFC 3339). A template input `expires_at`
    /// says the same; without either, the stack keeps the expiry it has.
    pub expires_at: Option<String>,
    /// `deploy --environment`: `dev`, `staging` or `production`; without it, the stack keeps
    /// the one it has.
    pub environment: Option<String>,
    /// Where `{{ name.key }}` references are resolved.
    pub secrets: &'a dyn SecretStore,
    /// `deploy --connector`: the connector its provider reaches the cloud through (checked
    /// against the stack's environment); without it, the stack keeps the one it has.
    pub connector: Option<Connector>,
    /// `--target`: only these resources and what they depend on.
    pub targets: Vec<String>,
    /// `--replace`: replace these even though nothing forces it.
    pub replace: Vec<String>,
}

/// How a deploy ended.
#[derive(Debug)]
pub struct DeployReport {
    pub plan: Plan,
    /// `None` when nothing was applied (declined, or no changes).
    pub report: Option<Report>,
    pub declined: bool,
}

/// Deploys a template as a stack.
pub async fn deploy(
    req: DeployRequest<'_>,
    confirm: impl FnOnce(&Plan) -> Confirm,
) -> Result<DeployReport, OpError> {
    let _lock = super::take_lock(&req.files, req.name, req.command, req.lock_wait)?;
    let recorder = super::open::open_and_refresh(&req.files, req.registry, &req.run).await?;
    let existing = recorder.as_ref().map(Recorder::state);
    let prepared = prepare::prepare(
        &PrepareRequest {
            name: req.name,
            template: req.template.clone(),
            inputs: req.inputs.clone(),
            registry: req.registry,
            run: &req.run,
            saved: req.saved.as_ref(),
            expires_at: req.expires_at.clone(),
            environment: req.environment.clone(),
            secrets: req.secrets,
            connector: req.connector.as_ref(),
            targets: &req.targets,
            replace: &req.replace,
            files: &req.files,
        },
        existing.as_ref(),
    )
    .await?;
    if let Some(saved) = &req.saved {
        prepare::check_saved_changes(saved, &prepared.plan)?;
    }
    let unchanged = !prepared.plan.summary.has_changes() && existing.is_some();
    if !unchanged && req.saved.is_none() && confirm(&prepared.plan) == Confirm::No {
        return Ok(DeployReport {
            plan: prepared.plan,
            report: None,
            declined: true,
        });
    }
    let Prepared {
        plan: the_plan,
        template: parsed,
        suffix,
        stack,
        resolved: resolved_inputs,
        secret_refs,
        secret_values,
        settings,
        data,
        found,
        expires_at,
        ..
    } = prepared;
    let template_record = TemplateRecord {
        name: parsed.name.clone(),
        hash: template_hash(&parsed.source.text),
        source: parsed.source.text.clone(),
    };
    // Where each provider's resources live (region, ...): recorded before anything is created,
    // so refresh and destroy reach them without the template.
    let recorder = match recorder {
        Some(r) => r,
        None => {
            let mut state = State::new(req.name, &suffix, template_record.clone());
            state.providers = settings.clone();
            state.stack.expires_at = expires_at.clone();
            state.stack.environment = req.environment.clone();
            Recorder::create(req.files.clone(), state)?
        }
    };
    if expires_at.is_some() && recorder.with_state(|s| s.stack.expires_at != expires_at) {
        recorder.record(Entry::Expiry { expires_at }).await?;
    }
    // Moves first: each resource is at its new address before anything runs.
    for c in &the_plan.changes {
        if let Some(from) = &c.moved_from {
            recorder
                .record(Entry::Moved {
                    from: from.clone(),
                    to: c.address.clone(),
                })
                .await?;
        }
    }
    for (address, resource) in found {
        recorder
            .record(Entry::Applied {
                op: None,
                address,
                resource,
            })
            .await?;
    }
    if req.environment.is_some() && recorder.with_state(|s| s.stack.environment != req.environment)
    {
        recorder
            .record(Entry::Environment {
                environment: req.environment.clone(),
            })
            .await?;
    }
    // Protection lives in state: a template that now says `protect: true`, or a stack that
    // became production, protects what already exists before anything runs.
    let production = recorder.with_state(State::is_production);
    let became_production = production && existing.as_ref().is_some_and(|s| !s.is_production());
    for c in &the_plan.changes {
        let now = recorder.with_state(|s| s.resources.get(&c.address).map(|r| r.protect));
        let wanted = c.protect || became_production;
        if c.action != plan::Action::Delete && now.is_some_and(|p| p != wanted && wanted) {
            recorder
                .record(Entry::Protect {
                    address: c.address.clone(),
                    protect: true,
                })
                .await?;
        }
    }
    if recorder.with_state(|s| s.providers != settings) {
        recorder.record(Entry::Providers { settings }).await?;
    }
    let stack = StackContext {
        id: Some(recorder.with_state(|s| s.stack.id.to_string())),
        ..stack
    };
    let catalog = req.registry.catalog();
    let desired = Desired {
        template: Some(&parsed),
        catalog: &catalog,
        inputs: &resolved_inputs,
        stack: &stack,
        data: &data,
    };
    let report = exec::apply(&the_plan, &desired, req.registry, &recorder, &req.run).await?;
    // The stack's record (template, inputs, components, outputs) describes a whole template
    // applied: a targeted deploy applies part of one, so the record stays as the last full
    // deploy left it (as Terraform leaves untargeted outputs), and the next full deploy
    // converges.
    if report.ok() && req.targets.is_empty() {
        let state = recorder.state();
        let (mut components, outputs) = exec::stack_record(&desired, &state)?;
        let stack_id = state.stack.id;
        // A field that is exactly `${inputs.X}`, X given as `{{ s.k }}`, holds the reference
        // (as if written there), not a sealed hash: an export then names the secret for ZenML to
        // resolve, and the value still never reaches the state.
        for c in &mut components {
            let Some(def) = parsed.components.iter().find(|d| d.kind == c.kind) else {
                continue;
            };
            for field in &def.configuration {
                let Some(input) = whole_input(&field.value) else {
                    continue;
                };
                let used_in = format!("input `{input}`");
                if let Some(r) = secret_refs.iter().find(|r| r.used_in == used_in) {
                    c.configuration.insert(
                        field.name.clone(),
                        crate::base::value::Value::String(r.text()),
                    );
                }
            }
        }
        for c in &mut components {
            for (key, value) in &c.configuration {
                if let Some(text) = value.as_str()
                    && let Some(fp) =
                        crate::ext::secrets::fingerprint_text(&stack_id, text, &secret_values)
                {
                    c.secrets.insert(key.clone(), fp);
                }
            }
        }
        let inputs: BTreeMap<String, StoredInput> = resolved_inputs
            .iter()
            .map(|(k, v)| {
                let sensitive = parsed.input(k).is_some_and(|d| d.sensitive);
                let reference = secret_refs
                    .iter()
                    .find(|r| r.used_in == format!("input `{k}`"));
                let stored = match (sensitive, reference) {
                    (true, Some(r)) => StoredInput::Secret {
                        reference: r.text(),
                        hash: crate::ext::secrets::fingerprint(
                            &stack_id,
                            v.as_str().unwrap_or_default(),
                        ),
                    },
                    (true, None) => StoredInput::sensitive(v),
                    (false, _) => StoredInput::Value(v.clone()),
                };
                (k.clone(), stored)
            })
            .collect();
        recorder
            .record(Entry::Stack {
                template: template_record,
                inputs,
                components,
                outputs,
            })
            .await?;
    }
    recorder.compact()?;
    Ok(DeployReport {
        plan: the_plan,
        report: Some(report),
        declined: false,
    })
}

/// `X` when `value` is exactly `${inputs.X}` (nothing around it, no function applied).
fn whole_input(value: &crate::lang::template::TValue) -> Option<&str> {
    use crate::lang::expr::{Expr, Part};
    let crate::lang::template::TValue::Text { template, .. } = value else {
        return None;
    };
    match template.parts.as_slice() {
        [
            Part::Expr {
                expr: Expr::Ref(r), ..
            },
        ] => match r.segments.as_slice() {
            [inputs, name] if inputs == "inputs" => Some(name),
            _ => None,
        },
        _ => None,
    }
}
