//! What deploy and destroy share at the edge: the runtime, Ctrl-C, confirmation and progress.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use stackform_engine::exec::{RetryPolicy, RunConfig};
use stackform_engine::ops::Confirm;
use stackform_engine::plan::Plan;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::args::{OutputFormat, RunArgs};
use crate::error::CliError;
use crate::printer::Printer;

pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            CliError::failed(
                "runtime",
                format!("cannot start the async runtime: {e}"),
                "report this as a bug",
            )
        })
}

/// Refuses early when nobody can answer the confirmation.
pub fn check_can_confirm(args: &RunArgs, printer: &Printer) -> Result<(), CliError> {
    if args.yes {
        return Ok(());
    }
    if printer.format() == OutputFormat::Json || !std::io::stdin().is_terminal() {
        return Err(CliError::usage(
            "confirm::needs_yes",
            "refusing to change infrastructure without confirmation: there is no terminal to ask",
            "review the plan with `stackform plan`, then run again with --yes",
        ));
    }
    Ok(())
}

/// Shows the plan and asks, unless `--yes`.
pub fn confirm(args: &RunArgs, printer: &Printer, plan: &Plan, question: &str) -> Confirm {
    if printer.format() == OutputFormat::Human {
        printer.plan(plan);
    }
    if args.yes {
        return Confirm::Yes;
    }
    eprint!("\n{question} Only 'yes' is accepted: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if answer.trim() == "yes" {
        Confirm::Yes
    } else {
        Confirm::No
    }
}

/// Settings for reads that show no progress (plan, drift, import, rebuild): default
/// parallelism and retries, nobody listening to events, never cancelled.
pub fn quiet_config(stack_dir: PathBuf) -> RunConfig {
    let (events, _) = mpsc::unbounded_channel();
    RunConfig {
        parallelism: 10,
        retry: RetryPolicy::default(),
        cancel: CancellationToken::new(),
        events,
        stack_dir,
    }
}

/// The run's settings, a progress display fed by the executor, and Ctrl-C handling: the first
/// press stops starting new work (what is in flight finishes and is recorded), the second exits
/// at once (the intent records make the next run safe).
pub struct Session {
    pub config: RunConfig,
    progress: tokio::task::JoinHandle<()>,
}

impl Session {
    pub fn start(args: &RunArgs, printer: &Printer, stack_dir: PathBuf) -> Session {
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        let progress = tokio::spawn(crate::progress::render(rx, printer.format()));
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_signal.cancel();
                eprintln!(
                    "\nInterrupted: starting nothing new; operations in flight will finish and be recorded. Press Ctrl-C again to stop at once."
                );
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
        Session {
            config: RunConfig {
                parallelism: args.parallelism as usize,
                retry: RetryPolicy::default(),
                cancel,
                events: tx,
                stack_dir,
            },
            progress,
        }
    }

    /// Waits until every progress line is out.
    pub async fn finish(self) {
        let Session { config, progress } = self;
        drop(config);
        let _ = progress.await;
    }
}
