use std::path::Path;
use std::process::ExitCode;

use tidemark_config::Config;

use crate::error::CliError;
use crate::wiring;

/// Parses and checks the config, including the warehouse connection string; no network.
pub fn validate(path: &Path) -> Result<ExitCode, CliError> {
    let config = Config::load(path)?;
    wiring::warehouse(&config)?;
    println!(
        "{}: OK ({} table{}, {} slice{}, coordination {:?})",
        path.display(),
        config.tables.len(),
        if config.tables.len() == 1 { "" } else { "s" },
        config.coordination.slices,
        if config.coordination.slices == 1 {
            ""
        } else {
            "s"
        },
        config.coordination.mode,
    );
    Ok(ExitCode::SUCCESS)
}
