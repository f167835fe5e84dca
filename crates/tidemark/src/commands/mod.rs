mod demo;
mod run;
mod sql;
pub(crate) mod status;
mod validate;

use std::process::ExitCode;

use crate::cli::Command;
use crate::error::CliError;

pub fn dispatch(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Run { config } => run::run(&config),
        Command::Refresh { config, json } => run::refresh(&config, json),
        Command::Validate { config } => validate::validate(&config),
        Command::Status { config, json } => status::status(&config, json),
        Command::Sql { config } => sql::sql(&config),
        Command::Demo {
            warehouse_url,
            events,
            seed,
            partitions,
        } => demo::demo(warehouse_url, events, seed, partitions),
    }
}
