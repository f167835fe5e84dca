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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(status_line::LogWriter);
    // `TIDEMARK_LOG_FORMAT=json`: one JSON object per line (timestamp, level, target, the
    // message and its fields, the spans), for log pipelines; anything else: text.
    if std::env::var("TIDEMARK_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().with_current_span(true).init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}
