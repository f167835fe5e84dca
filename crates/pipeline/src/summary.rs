use std::collections::BTreeMap;

use tidemark_model::{TableBatchStats, TableName};

/// What a run applied, per table. Updated by the mergers after each commit.
#[derive(Debug, Default, Clone)]
pub struct RunSummary {
    /// By topic.
    pub tables: BTreeMap<String, TableSummary>,
}

#[derive(Debug, Clone)]
pub struct TableSummary {
    pub target: TableName,
    pub stats: TableBatchStats,
    /// Committed next offset per partition.
    pub offsets: BTreeMap<i32, i64>,
    /// Transactions committed.
    pub merges: u64,
}

impl RunSummary {
    pub fn totals(&self) -> TableBatchStats {
        let mut t = TableBatchStats::default();
        for s in self.tables.values() {
            t += s.stats;
        }
        t
    }
}
