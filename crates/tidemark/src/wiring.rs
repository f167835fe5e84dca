//! Builds the real adapters and the pipeline spec from a config.

use std::sync::Arc;

use tidemark_config::{Config, ConfigError};
use tidemark_debezium::KeySource;
use tidemark_kafka::KafkaBroker;
use tidemark_pipeline::{BatchLimits, Mode, PipelineSpec, TableSpec};
use tidemark_warehouse::{PgSettings, PgWarehouse};

use crate::error::CliError;

pub fn spec(config: &Config, mode: Mode) -> PipelineSpec {
    let tables = config
        .tables
        .iter()
        .filter_map(|t| {
            Some(TableSpec {
                topic: t.topic.clone(),
                // Validated by Config::validate.
                target: t.target_name()?,
                renames: t.columns.clone(),
                unmanaged: t.unmanaged_columns.clone(),
                key: match &t.key {
                    Some(fields) => KeySource::Fields(fields.clone()),
                    None => KeySource::MessageKey,
                },
            })
        })
        .collect();
    PipelineSpec {
        tables,
        slices: config.coordination.slices,
        limits: BatchLimits {
            max_rows: config.batch.max_rows,
            max_bytes: usize::try_from(config.batch.max_bytes.0).unwrap_or(usize::MAX),
            linger: config.batch.linger,
            max_in_flight: config.batch.max_in_flight,
            max_in_flight_bytes: config.batch.max_in_flight_bytes.0,
        },
        mode,
    }
}

/// The warehouse adapter; an unparsable connection string is a config error.
pub fn warehouse(config: &Config) -> Result<Arc<PgWarehouse>, CliError> {
    let warehouse = PgWarehouse::new(PgSettings {
        url: config.warehouse.url.clone(),
        schema: config.warehouse.schema.clone(),
        pipeline: config.coordination.cluster.clone(),
        statement_timeout: config.warehouse.statement_timeout,
    })
    .map_err(|e| ConfigError::Invalid {
        key: "warehouse.url".into(),
        reason: e.to_string(),
    })?;
    Ok(Arc::new(warehouse))
}

pub fn broker(config: &Config) -> Result<Arc<KafkaBroker>, CliError> {
    Ok(Arc::new(KafkaBroker::new(
        &config.kafka.brokers,
        &config.kafka.properties,
        &config.coordination.cluster,
    )?))
}
