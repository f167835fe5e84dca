//! `tidemark`: applies Debezium change streams from Kafka to a Postgres-protocol warehouse.

mod cli;
mod commands;
mod error;
mod http;
mod status_line;
mod traces;
mod wiring;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // The demo is for reading its own narration: logs only for errors unless asked for.
    let quiet = matches!(cli.command, cli::Command::Demo { .. });
    let telemetry = telemetry_config(&cli.command);
    let traces = init_tracing(cli.verbose, quiet, &telemetry);
    let result = commands::dispatch(cli.command);
    if let Some(provider) = traces {
        // Exports the spans still buffered.
        if let Err(e) = provider.shutdown() {
            let e = error::chain(&e);
            eprintln!("tidemark: exporting the last traces failed: {e}");
        }
    }
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tidemark: error: {}", error::chain(&e));
            ExitCode::from(e.exit_code())
        }
    }
}

/// The `[telemetry]` section of the commands that run the pipeline (`run`, `refresh`): read
/// before the logs are set up, so their traces are exported from the start. A config that
/// cannot be loaded gives the defaults (traces from the environment only): the command loads it
/// again and reports why it cannot.
fn telemetry_config(command: &cli::Command) -> tidemark_config::TelemetryConfig {
    match command {
        cli::Command::Run { config } | cli::Command::Refresh { config, .. } => {
            tidemark_config::Config::load(config)
                .map(|c| c.telemetry)
                .unwrap_or_default()
        }
        _ => tidemark_config::TelemetryConfig::default(),
    }
}

fn init_tracing(
    verbose: bool,
    quiet: bool,
    telemetry: &tidemark_config::TelemetryConfig,
) -> Option<opentelemetry_sdk::trace::SdkTracerProvider> {
    let default = match (verbose, quiet) {
        (true, _) => "info,tidemark=debug",
        (false, true) => "error",
        (false, false) => "warn,tidemark=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TIDEMARK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    traces::init(filter, telemetry)
}
