use std::sync::Arc;

use async_trait::async_trait;
use tidemark_model::{
    Change, ColumnType, Epoch, LayoutCell, RecordCoord, TableBatchStats, TableName, TopicPartition,
    Watermark,
};

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    /// The connection failed or was lost, or the server asked to retry (restarting,
    /// serialization failure, deadlock); the operation may be retried on a new connection.
    #[error("warehouse connection: {context}: {message}")]
    Connection {
        context: String,
        /// The server's SQLSTATE, when it sent one (none for an I/O failure).
        sqlstate: Option<String>,
        message: String,
    },
    /// A statement ran longer than `warehouse.statement_timeout` and was cancelled (SQLSTATE
    /// 57014). Not a lost connection: the same statement would time out again; a smaller one
    /// may not.
    #[error("{context}: exceeded warehouse.statement_timeout{}: {message}", .timeout.map(|t| format!(" ({t:?})")).unwrap_or_default())]
    Timeout {
        context: String,
        /// The configured timeout, filled in by the writer that knows it.
        timeout: Option<std::time::Duration>,
        message: String,
    },
    /// Another owner with a newer epoch has taken the partition over: this owner must stop.
    #[error("{tp}: fenced: this owner's epoch {epoch} is older than the stored epoch {stored}")]
    Fenced {
        tp: TopicPartition,
        epoch: Epoch,
        stored: Epoch,
    },
    /// The watermark would go backwards: a bug or a second writer with the same epoch.
    #[error(
        "{tp}: watermark would go backwards from {stored} to {next_offset} under epoch {epoch}"
    )]
    WatermarkRegression {
        tp: TopicPartition,
        epoch: Epoch,
        stored: i64,
        next_offset: i64,
    },
    /// A value cannot be stored in its column. The record is named.
    #[error("table {table}, column {column:?}, record at {coord}: {reason}")]
    Data {
        table: TableName,
        column: String,
        coord: RecordCoord,
        reason: String,
    },
    /// The table is merged by a key recorded by an earlier merge (by this or another replica)
    /// that differs from this replica's: records keyed by other fields, or a changed `key`
    /// setting. Merging by two keys would duplicate rows, so the table stops.
    #[error(
        "table {table}: merged by key [{}] (recorded in {keys_table}), but this replica's key is \
         [{}]; if the key really changed, delete the table's row from {keys_table} (and make sure \
         the target holds no rows keyed the old way)",
        .recorded.join(", "),
        .decided.join(", ")
    )]
    KeyMismatch {
        table: TableName,
        /// Where the recorded key lives, for the operator.
        keys_table: String,
        recorded: Vec<String>,
        decided: Vec<String>,
    },
    /// The target table is missing or unusable.
    #[error("table {table}: {reason}")]
    Table { table: TableName, reason: String },
    /// The warehouse refused a statement for another reason.
    #[error("warehouse: {context}: {message}")]
    Statement {
        context: String,
        /// The server's SQLSTATE, when it sent one.
        sqlstate: Option<String>,
        message: String,
    },
}

impl WarehouseError {
    /// The single place that decides whether a failed operation may be retried as a whole.
    pub fn is_retriable(&self) -> bool {
        matches!(self, WarehouseError::Connection { .. })
    }

    /// A statement exceeded the statement timeout: retry only with less work per statement.
    pub fn is_timeout(&self) -> bool {
        matches!(self, WarehouseError::Timeout { .. })
    }

    /// The SQLSTATE the server answered with, if any.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            WarehouseError::Connection { sqlstate, .. }
            | WarehouseError::Statement { sqlstate, .. } => sqlstate.as_deref(),
            WarehouseError::Timeout { .. } => Some("57014"),
            _ => None,
        }
    }
}

/// One merge: the ranked winners of a micro-batch for one table and the watermarks they
/// advance, applied in one transaction.
#[derive(Debug, Clone)]
pub struct MergeRequest {
    // The key is the table's, decided once and held by its layout (`TableLayout::key`).
    /// The source table was truncated (Debezium `op = "t"`, with `truncate = "apply"`) before
    /// `changes`: the target is emptied first, in the same transaction.
    pub truncate: bool,
    /// One change per key (already ranked).
    pub changes: Vec<Change>,
    /// The next offset of every partition whose records are in this batch.
    pub watermarks: Vec<Watermark>,
    /// Records read into this batch, for the stats.
    pub events: u64,
    /// Records of this batch that could not be applied (`errors.mode = "dead_letter"`):
    /// written to the dead-letter table in the same transaction that advances past them.
    pub dead_letters: Vec<DeadLetter>,
    /// The batch's records as read, for the table's raw landing table (`raw_table`), written
    /// in the same transaction.
    pub landing: Option<Landing>,
}

/// Records for a raw landing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landing {
    pub table: TableName,
    pub records: Vec<LandedRecord>,
}

/// A record as read, for a raw landing table (every record of the topic but dead letters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandedRecord {
    pub tp: TopicPartition,
    pub offset: i64,
    /// Kafka timestamp, ms since the epoch.
    pub timestamp_ms: Option<i64>,
    pub key: Option<Vec<u8>>,
    /// The value: a JSON document (it was decoded), or `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl LandedRecord {
    /// Memory held, for batch limits.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.key.as_ref().map_or(0, Vec::len)
            + self.value.as_ref().map_or(0, Vec::len)
            + crate::broker::headers_len(&self.headers)
    }
}

/// A record that could not be applied, kept whole with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub tp: TopicPartition,
    pub offset: i64,
    /// The record's key and value bytes exactly as read (any bytes, not only UTF-8).
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// Why it could not be applied, with every cause.
    pub error: String,
}

impl DeadLetter {
    /// Memory held, for batch limits.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.key.as_ref().map_or(0, Vec::len)
            + self.value.as_ref().map_or(0, Vec::len)
            + self.error.len()
    }
}

/// A warehouse: tidemark's own tables and the target tables.
#[async_trait]
pub trait Warehouse: Send + Sync {
    /// Creates tidemark's schema and tables if missing (idempotent).
    async fn prepare(&self) -> Result<(), WarehouseError>;
    /// The target table's columns `(name, type, SQL type)` in table order; `None` if there
    /// is no such table.
    async fn describe(
        &self,
        table: &TableName,
    ) -> Result<Option<Vec<(String, ColumnType, String)>>, WarehouseError>;
    /// The key columns recorded for a table by an earlier merge (see `table_keys`), if any.
    async fn stored_key(&self, table: &TableName) -> Result<Option<Vec<String>>, WarehouseError>;
    /// A fresh epoch for an owner that has no external fencing token (standalone mode): greater
    /// than every epoch stored for this pipeline.
    async fn next_epoch(&self) -> Result<Epoch, WarehouseError>;
    /// Raises the stored epoch of each partition to `epoch` (fencing any older owner) in a
    /// transaction of its own, then returns each partition's stored next offset. Fails with
    /// `Fenced` if a newer epoch is stored.
    async fn claim(
        &self,
        tps: &[TopicPartition],
        epoch: Epoch,
    ) -> Result<Vec<Option<i64>>, WarehouseError>;
    /// The stored next offset of each partition (read-only, for status and tests).
    async fn watermarks(&self) -> Result<Vec<Watermark>, WarehouseError>;
    /// Creates a raw landing table if missing (idempotent; replicas may race).
    async fn prepare_landing(&self, table: &TableName) -> Result<(), WarehouseError>;
    /// A writer for one table, with a connection of its own. It writes the cell's current
    /// layout, and makes the target match it first when it changed (see `LayoutCell`).
    async fn writer(&self, layout: Arc<LayoutCell>)
        -> Result<Box<dyn TableWriter>, WarehouseError>;
}

/// Serialized writes to one target table.
#[async_trait]
pub trait TableWriter: Send {
    /// Applies the batch and advances its watermarks in one transaction; on error nothing of it
    /// is applied. The changes are staged and merged in `pieces` groups of about equal size,
    /// one after the other in that transaction, so each statement handles a `pieces`-th of the
    /// rows (what a batch whose statements time out is retried with).
    async fn merge_in_pieces(
        &mut self,
        request: &MergeRequest,
        pieces: usize,
    ) -> Result<TableBatchStats, WarehouseError>;

    /// [`TableWriter::merge_in_pieces`] in one piece.
    async fn merge(&mut self, request: &MergeRequest) -> Result<TableBatchStats, WarehouseError> {
        self.merge_in_pieces(request, 1).await
    }
}
