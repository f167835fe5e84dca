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
mod fetcher;
mod in_flight;
mod layouts;
mod merger;
mod messages;
mod owner;
mod replica;
mod resume;
mod retry;
mod session;
mod slice;
mod spec;
mod standalone;
mod summary;

pub use budget::MemoryBudget;
pub use layouts::{adopt_recorded_key, table_layout};
pub use replica::run_replica;
pub use spec::{BatchLimits, FieldFilter, Mode, ReplicaSpec, Role, TableRoutes, TableSpec};
pub use summary::{RunSummary, TableSummary};

use tidemark_debezium::DecodeError;
use tidemark_model::{LayoutError, TableName, TopicPartition};
use tidemark_ports::{BrokerError, CoordError, WarehouseError};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot decode record at topic {topic:?} partition {partition} offset {offset}")]
    Decode {
        topic: String,
        partition: i32,
        offset: i64,
        #[source]
        source: Box<DecodeError>,
    },
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("merging into {table}")]
    Merge {
        table: TableName,
        #[source]
        source: Box<WarehouseError>,
    },
    /// A retriable failure (connection lost, server restarting) lasted longer than the retry
    /// policy allows.
    #[error("merging into {table}: gave up after {attempts} attempts over {elapsed:?}")]
    MergeRetriesExhausted {
        table: TableName,
        attempts: u32,
        elapsed: std::time::Duration,
        #[source]
        source: Box<WarehouseError>,
    },
    /// A statement of the merge exceeded `warehouse.statement_timeout` however the batch was
    /// split. The source names the statement phase and the timeout.
    #[error(
        "merging into {table}: a statement still timed out with the batch split into {pieces} \
         pieces; raise warehouse.statement_timeout or lower batch.max_rows"
    )]
    MergeTimedOut {
        table: TableName,
        pieces: usize,
        #[source]
        source: Box<WarehouseError>,
    },
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The broker's topics could not be routed to tables (pattern routes).
    #[error("routing the broker's topics to tables")]
    Routes {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No configured route matches a topic the broker has.
    #[error("no table to apply: the configured topic patterns match none of the broker's {topics} topics")]
    NoTables { topics: usize },
    #[error(transparent)]
    Coordination(#[from] CoordError),
    #[error("topic {topic:?}: key set-up")]
    KeySetup {
        topic: String,
        #[source]
        source: Box<DecodeError>,
    },
    /// The configured key of a table differs from the key its merges have used so far.
    #[error(
        "table {table}: `key` is configured as [{}] but the table has been merged by [{}]; \
         if the key really changed, delete the table's row from tidemark's table_keys table \
         (in warehouse.schema) and make sure the target holds no rows keyed the old way",
        .configured.join(", "),
        .recorded.join(", ")
    )]
    KeyChanged {
        table: TableName,
        recorded: Vec<String>,
        configured: Vec<String>,
    },
    /// The stored next offset is beyond the log's end: the topic was probably deleted and
    /// recreated. tidemark refuses to guess where to resume.
    #[error(
        "{tp}: the stored next offset {stored} is past the end of the log ({high}); was the \
         topic deleted and recreated? Refusing to guess where to resume: delete the partition's \
         row from the watermarks table to start it from the beginning"
    )]
    OffsetPastEnd {
        tp: TopicPartition,
        stored: i64,
        high: i64,
    },
    /// A record arrived from a topic no table is configured for (a broker or client fault).
    #[error("record from unconfigured topic {topic:?} at partition {partition} offset {offset}")]
    UnconfiguredTopic {
        topic: String,
        partition: i32,
        offset: i64,
    },
    #[error("slice {slice}: its fetch thread ended unexpectedly")]
    FetchEnded { slice: usize },
    #[error("cannot start a fetch thread")]
    FetchThread(#[source] std::io::Error),
    #[error("a blocking broker call did not complete")]
    BlockingTask(#[source] tokio::task::JoinError),
}
