//! tidemark's actors and their supervisor.
//!
//! ```text
//! fetch thread (blocking RecordReader) ──chunks──► PartitionOwner (one per slice, own arbiter)
//!     decode ► rank per key ► micro-batch per table
//!         │ MergeBatch (holds an in-flight slot and its records' memory permits)
//!         ▼
//! TableMerger (one per table, own arbiter): one transaction per batch, rows + watermarks
//! ```
//! Memory is bounded twice: a replica-wide byte budget taken by the fetch threads before they
//! hand records on (released when the batch holding them is merged), and a per-owner count
//! of batches in flight (backpressure: an owner waits for a slot, so a slow warehouse slows
//! consumption instead of growing memory).

mod budget;
mod cluster;
mod fetcher;
mod merger;
mod messages;
mod owner;
mod runtime;
mod summary;
mod supervisor;

pub use budget::MemoryBudget;
pub use cluster::{run_cluster, ClusterSpec};
pub use runtime::{BatchLimits, TableSpec};
pub use summary::{RunSummary, TableSummary};
pub use supervisor::{run_pipeline, Mode, PipelineSpec};

use tidemark_debezium::DecodeError;
use tidemark_model::{LayoutError, TableName};
use tidemark_ports::{BrokerError, CoordError, WarehouseError};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(
        "cannot decode record at topic {topic:?} partition {partition} offset {offset}: {source}"
    )]
    Decode {
        topic: String,
        partition: i32,
        offset: i64,
        #[source]
        source: Box<DecodeError>,
    },
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("merging into {table}: {source}")]
    Merge {
        table: TableName,
        #[source]
        source: Box<WarehouseError>,
    },
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Coordination(#[from] CoordError),
    #[error("topic {topic:?}: {source}")]
    KeySetup {
        topic: String,
        #[source]
        source: Box<DecodeError>,
    },
    #[error("{0}")]
    Internal(String),
}
