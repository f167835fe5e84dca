//! What a replica is told to do: its tables, its slices and its limits. Built from the config
//! by the binary; read-only for the pipeline.

use std::collections::BTreeMap;
use std::time::Duration;

use std::sync::Arc;
use tidemark_debezium::{DecodeOptions, KeySource};
pub use tidemark_model::FieldFilter;
use tidemark_model::{Evolution, TableName};

use tidemark_ports::{Coordinator, MemberInfo};

/// `run` keeps going until told to stop; `refresh` stops at the high-water marks seen at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Run,
    Refresh,
}

/// Micro-batch and memory limits (from `[batch]`).
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub max_rows: usize,
    pub max_bytes: usize,
    pub linger: Duration,
    pub max_in_flight: usize,
    pub max_in_flight_bytes: u64,
}

/// One topic → table route (from `[[tables]]`).
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub topic: String,
    pub target: TableName,
    pub renames: BTreeMap<String, String>,
    pub unmanaged: Vec<String>,
    /// Which source fields are written (`include_fields` / `exclude_fields`).
    pub fields: FieldFilter,
    pub key: KeySource,
    /// Apply source truncates to the target (`truncate = "apply"`), else log and ignore them.
    pub apply_truncates: bool,
    /// How values are read where records do not say.
    pub decode: DecodeOptions,
    /// A record that cannot be applied goes to the dead-letter table instead of stopping the
    /// table (`errors.mode = "dead_letter"`).
    pub dead_letters: bool,
    /// `delete_mode = "soft"`: deletes mark rows instead of removing them.
    pub soft_delete: bool,
    /// Whether the target follows the source's schema (`auto_create`, `auto_evolve`).
    pub evolution: Evolution,
    /// `raw_table`: every record is also landed as read in this table, in the merge's
    /// transaction.
    pub raw_table: Option<TableName>,
}

/// Where a replica's tables come from: a fixed list, or routes that depend on the broker's
/// topics (topic patterns).
pub trait TableRoutes: Send + Sync {
    /// Whether the tables depend on which topics the broker has: then they are resolved at
    /// start and, in `run`, again whenever the topics change.
    fn follows_topics(&self) -> bool;
    /// The tables, given the broker's topics (sorted; empty when `follows_topics` is false).
    fn tables(
        &self,
        topics: &[String],
    ) -> Result<Vec<TableSpec>, Box<dyn std::error::Error + Send + Sync>>;
}

impl TableRoutes for Vec<TableSpec> {
    fn follows_topics(&self) -> bool {
        false
    }

    fn tables(
        &self,
        _topics: &[String],
    ) -> Result<Vec<TableSpec>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.clone())
    }
}

/// What one replica runs: its tables, slices and limits, and its role.
#[derive(Clone)]
pub struct ReplicaSpec {
    pub tables: Arc<dyn TableRoutes>,
    /// Partition-owner slices this replica runs.
    pub slices: usize,
    pub limits: BatchLimits,
    /// Report applied offsets to Kafka for lag tools (`kafka.commit_offsets`).
    pub commit_offsets: bool,
    pub role: Role,
}

/// How a replica gets its partitions.
#[derive(Clone)]
pub enum Role {
    /// Owns every partition, no coordination service (`run` or `refresh`).
    Standalone { mode: Mode },
    /// Owns what the published assignment gives its slices (`run` only).
    Cluster {
        coordinator: Arc<dyn Coordinator>,
        member: MemberInfo,
        lease_ttl: Duration,
    },
}
