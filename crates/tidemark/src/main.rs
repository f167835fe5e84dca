//! `tidemark`: applies Debezium change streams from Kafka to a Postgres-protocol warehouse.

mod cli;
mod commands;
mod error;
mod wiring;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.verbose);
    match commands::dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tidemark: error: {}", error::chain(&e));
            ExitCode::from(e.exit_code())
        }
    }
}

fn init_tracing(verbose: bool) {
    let default = if verbose {
        "info,tidemark=debug"
    } else {
        "warn,tidemark=info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TIDEMARK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
