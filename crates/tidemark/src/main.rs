//! `tidemark`: applies Debezium change streams from Kafka to a Postgres-protocol warehouse.

mod cli;
mod commands;
mod error;
mod http;
mod status_line;
mod wiring;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // The demo is for reading its own narration: logs only for errors unless asked for.
    let quiet = matches!(cli.command, cli::Command::Demo { .. });
    init_tracing(cli.verbose, quiet);
    match commands::dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tidemark: error: {}", error::chain(&e));
            ExitCode::from(e.exit_code())
        }
    }
}

fn init_tracing(verbose: bool, quiet: bool) {
    let default = match (verbose, quiet) {
        (true, _) => "info,tidemark=debug",
        (false, true) => "error",
        (false, false) => "warn,tidemark=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TIDEMARK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(status_line::LogWriter)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
