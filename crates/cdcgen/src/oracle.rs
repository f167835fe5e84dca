//! The oracle: the latest-wins state of every table after the records emitted so far.
//!
//! It is also the generator's live state (which keys exist, what their rows are), so the
//! generator's memory is O(live keys): no history is kept.

use std::collections::{BTreeMap, HashMap};

use crate::table::TableDef;
use crate::value::{row_key, Value};

/// Counts of what the emitted records contain, so tests can check that every hazard they
/// asked for actually occurred.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OracleStats {
    /// Records emitted, tombstones and snapshot reads included.
    pub events: u64,
    /// Records that leave a row in place: `r`, `c` and `u` events.
    pub upserts: u64,
    /// `op = "r"` snapshot reads.
    pub snapshot_reads: u64,
    /// `op = "c"` events (including the insert half of two-event primary-key changes).
    pub inserts: u64,
    /// `op = "u"` events (including single-event primary-key changes).
    pub updates: u64,
    /// `op = "d"` events (including the delete half of two-event primary-key changes).
    pub deletes: u64,
    /// Tombstones (null value) after a delete.
    pub tombstones: u64,
    /// Primary-key changes emitted as `d` (old key) + `c` (new key); counted on the `c`.
    pub pk_changes_split: u64,
    /// Primary-key changes emitted as one `u` whose before/after keys differ.
    pub pk_changes_single_event: u64,
    /// Inserts that re-used a previously deleted key.
    pub reinserts: u64,
    /// Updates/deletes that deliberately re-picked a recently touched key.
    pub repeat_key_picks: u64,
    /// Change events whose `ts_ms` (source and payload) equals the previous operation's.
    pub same_ms: u64,
    /// Change events whose `ts_ms` (source and payload) is below the previous operation's.
    pub ts_backwards: u64,
}

/// What a delivered record does to the oracle.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    /// Insert or replace the row of key `canonical` in table `table`.
    Upsert {
        /// Table index.
        table: usize,
        /// Canonical key of `row`.
        canonical: String,
        /// The full new row.
        row: Vec<Value>,
    },
    /// Remove the row of key `canonical` in table `table` (if present).
    Delete {
        /// Table index.
        table: usize,
        /// Canonical key of the removed row.
        canonical: String,
    },
}

/// Live rows of one table, indexable both by key and by position (for uniform random picks).
#[derive(Debug, Clone)]
pub(crate) struct TableState {
    /// The table's definition (key columns, kinds for rendering).
    pub(crate) def: TableDef,
    /// Canonical key of each live row (parallel to `rows`).
    keys: Vec<String>,
    /// Live rows, densely packed so a uniform random pick is O(1).
    rows: Vec<Vec<Value>>,
    /// Canonical key -> position in `keys`/`rows`.
    index: HashMap<String, usize>,
}

impl TableState {
    fn new(def: TableDef) -> Self {
        Self {
            def,
            keys: Vec::new(),
            rows: Vec::new(),
            index: HashMap::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    pub(crate) fn contains(&self, canonical: &str) -> bool {
        self.index.contains_key(canonical)
    }

    pub(crate) fn position(&self, canonical: &str) -> Option<usize> {
        self.index.get(canonical).copied()
    }

    /// Key and row at a position in `0..len()`.
    pub(crate) fn at(&self, pos: usize) -> (&str, &[Value]) {
        (&self.keys[pos], &self.rows[pos])
    }

    fn upsert(&mut self, canonical: String, row: Vec<Value>) {
        debug_assert_eq!(row_key(&self.def, &row), canonical);
        if let Some(&pos) = self.index.get(&canonical) {
            self.rows[pos] = row;
        } else {
            self.index.insert(canonical.clone(), self.rows.len());
            self.keys.push(canonical);
            self.rows.push(row);
        }
    }

    fn remove(&mut self, canonical: &str) {
        let Some(pos) = self.index.remove(canonical) else {
            return;
        };
        self.keys.swap_remove(pos);
        self.rows.swap_remove(pos);
        if pos < self.keys.len() {
            self.index.insert(self.keys[pos].clone(), pos);
        }
    }
}

/// Final state each table must have after the emitted records are applied with latest-wins
/// semantics (per key, the last record in its partition wins; deletes remove the row).
#[derive(Debug, Clone)]
pub struct Oracle {
    /// Live rows per table, in the order tables were given.
    pub(crate) tables: Vec<TableState>,
    /// Topic -> index into `tables`.
    by_topic: HashMap<String, usize>,
    /// Counters over the emitted records.
    pub(crate) stats: OracleStats,
}

impl Oracle {
    pub(crate) fn new(tables: Vec<TableDef>) -> Self {
        let by_topic = tables
            .iter()
            .enumerate()
            .map(|(i, t)| (t.topic(), i))
            .collect();
        Self {
            tables: tables.into_iter().map(TableState::new).collect(),
            by_topic,
            stats: OracleStats::default(),
        }
    }

    pub(crate) fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::Upsert {
                table,
                canonical,
                row,
            } => self.tables[table].upsert(canonical, row),
            Effect::Delete { table, canonical } => self.tables[table].remove(&canonical),
        }
    }

    /// Final rows of the table behind `topic` (empty if the topic is unknown): key texts
    /// (key columns in key order) -> every column in column order, each rendered as
    /// PostgreSQL's `::text` renders the target column (`None` = NULL). Integers are
    /// decimal, doubles shortest round-trip (`-3`, `1.25`), booleans `true`/`false`, bytea
    /// `\x` + lowercase hex, text verbatim, `numeric(p,s)` with exactly `s` fraction digits
    /// (`-0.0100`), `timestamp` as `1969-12-31 23:59:59.999999` (fraction without trailing
    /// zeros, none for whole seconds), `timestamptz` likewise plus `+00` (the session must
    /// have `TimeZone=UTC`), `date` as `1000-01-01` (`DateStyle=ISO`).
    pub fn table(&self, topic: &str) -> BTreeMap<Vec<String>, Vec<Option<String>>> {
        let Some(&t) = self.by_topic.get(topic) else {
            return BTreeMap::new();
        };
        let state = &self.tables[t];
        state
            .rows
            .iter()
            .map(|row| {
                let key = state
                    .def
                    .key
                    .iter()
                    .map(|&k| row[k].pg_text().unwrap_or_default())
                    .collect();
                (key, row.iter().map(Value::pg_text).collect())
            })
            .collect()
    }

    /// Number of live rows of the table behind `topic` (0 if unknown).
    pub fn row_count(&self, topic: &str) -> usize {
        self.by_topic
            .get(topic)
            .map_or(0, |&t| self.tables[t].len())
    }

    /// Topics of all tables, in the order the tables were given.
    pub fn topics(&self) -> Vec<String> {
        self.tables.iter().map(|t| t.def.topic()).collect()
    }

    /// What the records emitted so far contained.
    pub fn stats(&self) -> OracleStats {
        self.stats
    }
}
