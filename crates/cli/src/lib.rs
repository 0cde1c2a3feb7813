//! The `stackform` command: parse arguments, call the engine, print. Nothing else lives here.
//!
//! A library as well as the binary, so that a crate with resource types of its own makes a
//! stackform binary with them built in: register them with `stackform_providers::extend`, then
//! call [`main`] (`crates/cli/examples/custom_types.rs` is one, README.md "Resource types in
//! Rust" says how).

mod args;
mod clock;
mod commands;
mod connector_kinds;
mod error;
mod home;
mod inputs;
mod printer;
mod progress;
mod run;
mod templates;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;
use crate::printer::Printer;

/// Runs stackform with the process's arguments: what the `stackform` binary does.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let printer = Printer::new(cli.output);
    home::set_backend_flag(cli.state_backend.clone());
    match commands::run(&cli, &printer) {
        Ok(code) => code,
        Err(err) => {
            printer.error(&err);
            ExitCode::from(err.exit_code())
        }
    }
}

/// Logs go to stderr; `-v` shows info, `-vv` debug. `RUST_LOG` overrides both.
fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    // kube's client logs every failed request as an error of its own, the errors stackform
    // reports (or recovers from) itself: shown only with -vv.
    let default = match verbose {
        0 | 1 => format!("{default},kube_client=off"),
        _ => default.to_owned(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
