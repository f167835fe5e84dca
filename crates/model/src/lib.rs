//! The domain model of tidemark. Pure data and pure functions: no IO, no async.
//!
//! The flow it describes: a Kafka record (`RecordCoord` tells where it came from) is decoded
//! into zero, one or two [`Change`]s for one target table; changes are ranked per key into a
//! [`RankedBatch`] (latest partition offset wins); the batch plus the per-partition
//! [`Watermark`]s it advances is what a merge applies in one warehouse transaction.

pub mod assignment;
mod capacity;
pub mod civil;
mod decimal;
mod error_chain;
mod evolve;
mod layout;
mod rank;
mod value;

pub use assignment::{assign, Assignment, SliceId};
pub use capacity::{
    redshift_decimal, redshift_text_bytes, Capacity, REDSHIFT_MAX_DECIMAL_PRECISION,
    REDSHIFT_MAX_STAGED_BYTES, REDSHIFT_MAX_VARBYTE_BYTES, REDSHIFT_MAX_VARCHAR_BYTES,
    REDSHIFT_UNBOUNDED_DECIMAL_SCALE,
};
pub use decimal::{Decimal, MAX_SCALE};
pub use error_chain::ErrorChain;
pub use evolve::{fit, ColumnChange, ColumnRules, Evolution, FieldFilter, Fit, LayoutCell};
pub use layout::{
    source_field, ColumnType, ElementType, LayoutError, TableLayout, TableName, TargetColumn,
    SOFT_DELETE_COLUMNS,
};
pub use rank::{RankedBatch, TableBatchStats};
pub use value::{hex, parse_uuid, Bits, Interval, Key, Value};

use std::fmt;
use std::sync::Arc;

/// PostgreSQL's largest `numeric` precision.
pub const MAX_NUMERIC_PRECISION: u32 = 1000;

/// A Kafka topic partition. The topic is shared (`Arc<str>`) because every record carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: Arc<str>,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.topic, self.partition)
    }
}

/// Where a record was read: used in every error and in every staged row so a failure can
/// always name the exact record that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordCoord {
    pub partition: i32,
    pub offset: i64,
}

impl fmt::Display for RecordCoord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "partition {} offset {}", self.partition, self.offset)
    }
}

/// The fencing token of a partition owner. Every watermark update carries it; the warehouse
/// rejects an update whose epoch is older than the stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Epoch(pub i64);

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a change does to the row with its key.
#[derive(Debug, Clone, PartialEq)]
pub enum RowOp {
    /// The row's full new image, positional in the table layout's column order.
    Upsert(Vec<Value>),
    /// The row with this key must not exist afterwards.
    Delete,
}

/// One keyed change to one target table.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub key: Key,
    pub op: RowOp,
    /// The record it came from, for ranking diagnostics and error messages.
    pub coord: RecordCoord,
}

/// The progress a merge commits for one partition: the next offset to read, guarded by the
/// owner's epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    pub tp: TopicPartition,
    pub next_offset: i64,
    pub epoch: Epoch,
}
