//! One module per subcommand: turn arguments into engine calls and hand results to the printer.

mod connector;
mod deploy;
mod destroy;
mod import;
mod integration;
mod plan;
mod reap;
mod secret;
mod stack;
mod state;
mod sweep;
mod template;

use std::process::ExitCode;

use crate::args::{Cli, Command};
use crate::error::CliError;
use crate::printer::Printer;

pub fn run(cli: &Cli, printer: &Printer) -> Result<ExitCode, CliError> {
    match &cli.command {
        Command::Template(cmd) => template::exec(cmd, printer),
        Command::Plan(args) => plan::exec(args, printer),
        Command::Deploy(args) => deploy::exec(args, printer),
        Command::Destroy(args) => destroy::exec(args, printer),
        Command::Sweep(args) => sweep::exec(args, printer),
        Command::Reap(args) => reap::exec(args, printer),
        Command::Import(args) => import::exec(args, printer),
        Command::Stack(cmd) => stack::exec(cmd, printer),
        Command::Secret(cmd) => secret::exec(cmd, printer),
        Command::Connector(cmd) => connector::exec(cmd, printer),
        Command::State(cmd) => state::exec(cmd, printer),
        Command::Integration(cmd) => integration::exec(cmd, printer),
    }
}
