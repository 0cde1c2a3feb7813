//! Progress of a run: a spinner per resource on a terminal, plain lines otherwise, NDJSON on
//! stderr in JSON mode. Everything goes to stderr so stdout holds only the result.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use stackform_engine::exec::Event;
use stackform_engine::plan::Action;
use tokio::sync::mpsc;

use crate::args::OutputFormat;

fn doing(action: Action) -> &'static str {
    match action {
        Action::Create => "creating",
        Action::Update => "updating",
        Action::Replace => "replacing",
        Action::Delete => "deleting",
        Action::Noop => "checking",
    }
}

fn done(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Replace => "replaced",
        Action::Delete => "deleted",
        Action::Noop => "unchanged",
    }
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
        Action::Noop => "noop",
    }
}

fn json_event(e: &Event) -> serde_json::Value {
    match e {
        Event::Started { address, action } => {
            json!({"event": "started", "address": address, "action": action_name(*action)})
        }
        Event::Waiting { address, note } => {
            json!({"event": "waiting", "address": address, "note": note})
        }
        Event::Retrying {
            address,
            attempt,
            delay,
            error,
        } => {
            json!({"event": "retrying", "address": address, "attempt": attempt, "delay_ms": delay.as_millis() as u64, "error": error})
        }
        Event::Finished {
            address,
            action,
            elapsed,
        } => {
            json!({"event": "finished", "address": address, "action": action_name(*action), "elapsed_ms": elapsed.as_millis() as u64})
        }
        Event::Failed {
            address,
            action,
            error,
        } => {
            json!({"event": "failed", "address": address, "action": action_name(*action), "error": error})
        }
        Event::Skipped { address, reason } => {
            json!({"event": "skipped", "address": address, "reason": reason})
        }
        Event::Resolved { address, outcome } => {
            json!({"event": "resolved", "address": address, "outcome": outcome})
        }
        Event::Refreshed { address, outcome } => {
            json!({"event": "refreshed", "address": address, "outcome": outcome})
        }
    }
}

fn plain_line(e: &Event) -> String {
    match e {
        Event::Started { address, action } => format!("{address}: {}...", doing(*action)),
        Event::Waiting { address, note } => format!("{address}: {note}"),
        Event::Retrying {
            address,
            attempt,
            delay,
            error,
        } => {
            format!(
                "{address}: attempt {attempt} failed ({error}); retrying in {:.1}s",
                delay.as_secs_f64()
            )
        }
        Event::Finished {
            address,
            action,
            elapsed,
        } => {
            format!(
                "{address}: {} ({:.1}s)",
                done(*action),
                elapsed.as_secs_f64()
            )
        }
        Event::Failed {
            address,
            action,
            error,
        } => format!("{address}: {} FAILED: {error}", doing(*action)),
        Event::Skipped { address, reason } => format!("{address}: skipped ({reason})"),
        Event::Resolved { address, outcome } => {
            format!("{address}: interrupted operation {outcome}")
        }
        Event::Refreshed { address, outcome } => format!("{address}: {outcome}"),
    }
}

pub async fn render(mut rx: mpsc::UnboundedReceiver<Event>, format: OutputFormat) {
    if format == OutputFormat::Json {
        while let Some(e) = rx.recv().await {
            eprintln!("{}", json_event(&e));
        }
        return;
    }
    if !std::io::stderr().is_terminal() {
        while let Some(e) = rx.recv().await {
            eprintln!("{}", plain_line(&e));
        }
        return;
    }
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("  {spinner} {msg} {elapsed:.dim}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let mut bars: HashMap<String, ProgressBar> = HashMap::new();
    while let Some(e) = rx.recv().await {
        match &e {
            Event::Started { address, action } => {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_message(format!("{address}: {}", doing(*action)));
                bar.enable_steady_tick(Duration::from_millis(120));
                bars.insert(address.clone(), bar);
            }
            // A warning stays on screen; other notes replace each other on the spinner.
            Event::Waiting { address, note } if note.starts_with("warning: ") => {
                let _ = multi.println(format!("  {address}: {note}"));
            }
            Event::Waiting { address, note } => {
                if let Some(bar) = bars.get(address) {
                    bar.set_message(format!("{address}: {note}"));
                }
            }
            Event::Finished { address, .. } | Event::Failed { address, .. } => {
                if let Some(bar) = bars.remove(address) {
                    bar.finish_and_clear();
                    multi.remove(&bar);
                }
                let _ = multi.println(format!("  {}", plain_line(&e)));
            }
            _ => {
                let _ = multi.println(format!("  {}", plain_line(&e)));
            }
        }
    }
    for (_, bar) in bars {
        bar.finish_and_clear();
    }
}
