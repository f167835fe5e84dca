use tidemark_config::ConfigError;
use tidemark_pipeline::PipelineError;
use tidemark_ports::{BrokerError, WarehouseError};

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error("table {table}: its statements cannot be written in the dialect")]
    Sql {
        table: String,
        #[source]
        source: tidemark_warehouse::dry_run::DryRunError,
    },
    #[error("demo: {0}")]
    Demo(String),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl CliError {
    /// 2 for a bad config (nothing was touched), 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_) => 2,
            _ => 1,
        }
    }
}

/// The error with every cause, `: `-separated.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    tidemark_model::ErrorChain(e).to_string()
}
