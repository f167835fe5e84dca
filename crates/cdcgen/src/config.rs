//! Generator configuration and its validation errors.

/// How a key or value is serialized by the Kafka Connect JSON converter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// `schemas.enable=true`: `{"schema": {...}, "payload": {...}}`.
    Schema,
    /// `schemas.enable=false`: the payload object alone.
    Bare,
}

/// Knobs of a generated history. Probabilities are in `0..=1`.
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    /// Seed of the ChaCha8 RNG: the same seed, tables and config give byte-identical records.
    pub seed: u64,
    /// Number of records to emit, tombstones and snapshot rows included.
    pub events: u64,
    /// Partitions per topic; a key always goes to the same one.
    pub partitions: i32,
    /// Serialization of record values.
    pub value_envelope: Envelope,
    /// Serialization of record keys.
    pub key_envelope: Envelope,
    /// Share of operations that update a live row (`u`).
    pub p_update: f64,
    /// Share of operations that delete a live row (`d`). The rest (`1 - p_update -
    /// p_delete`) insert a row (`c`); updates and deletes also become inserts while a table is empty.
    pub p_delete: f64,
    /// Probability that an insert re-uses a recently deleted key instead of a fresh one
    /// (exercises delete-then-insert of the same key).
    pub p_reinsert: f64,
    /// Probability that an update changes the primary key (Debezium MySQL: `d` old key,
    /// optional tombstone, `c` new key).
    pub p_pk_change: f64,
    /// Probability that a primary-key change is rendered as one `u` event instead (before =
    /// old key, after = new key, message key = new key). The generator picks the new key on
    /// the old key's partition, so partition order alone defines the outcome.
    pub p_pk_change_single_event: f64,
    /// Probability that a delete (including the delete of a primary-key change) is followed
    /// by a tombstone (same key, null value).
    pub p_tombstone: f64,
    /// Rows per table emitted first as snapshot reads (`op = "r"`), table after table;
    /// `source.snapshot` is `"true"`, and `"last"` on the very last one.
    pub snapshot_rows: u64,
    /// Probability that an operation gets the same `source.ts_ms` (and `payload.ts_ms`, which
    /// is `source.ts_ms` plus a constant lag) as the previous one (breaks ranking by `ts_ms`).
    pub p_same_ms: f64,
    /// Probability that an operation's `source.ts_ms` (and `payload.ts_ms`) is 1..=1000 ms
    /// before the clock (clock skew: `ts_ms` order disagrees with log order).
    pub p_ts_backwards: f64,
    /// Probability that an update/delete picks one of the last few touched keys of the table
    /// (many changes to one key close together, often in the same millisecond).
    pub p_repeat_key: f64,
    /// Generate hostile strings: quotes, backslashes, `\n` `\r` `\t`, `\N`, unicode, emoji,
    /// leading/trailing spaces, empty strings (distinct from NULL). Never NUL.
    pub nasty_strings: bool,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            events: 10_000,
            partitions: 3,
            value_envelope: Envelope::Schema,
            key_envelope: Envelope::Schema,
            p_update: 0.3,
            p_delete: 0.1,
            p_reinsert: 0.2,
            p_pk_change: 0.05,
            p_pk_change_single_event: 0.3,
            p_tombstone: 0.5,
            snapshot_rows: 20,
            p_same_ms: 0.2,
            p_ts_backwards: 0.02,
            p_repeat_key: 0.2,
            nasty_strings: true,
        }
    }
}

impl GenConfig {
    /// A config with every hazard turned up (for tests that try to break a consumer).
    pub fn hostile(seed: u64, events: u64) -> Self {
        Self {
            seed,
            events,
            partitions: 4,
            p_update: 0.45,
            p_delete: 0.25,
            p_reinsert: 0.5,
            p_pk_change: 0.3,
            p_pk_change_single_event: 0.5,
            p_tombstone: 0.7,
            snapshot_rows: 15,
            p_same_ms: 0.4,
            p_ts_backwards: 0.1,
            p_repeat_key: 0.6,
            nasty_strings: true,
            ..Self::default()
        }
    }

    /// Checks the probabilities and the partition count.
    pub fn validate(&self) -> Result<(), GenError> {
        let probabilities = [
            ("p_update", self.p_update),
            ("p_delete", self.p_delete),
            ("p_reinsert", self.p_reinsert),
            ("p_pk_change", self.p_pk_change),
            ("p_pk_change_single_event", self.p_pk_change_single_event),
            ("p_tombstone", self.p_tombstone),
            ("p_same_ms", self.p_same_ms),
            ("p_ts_backwards", self.p_ts_backwards),
            ("p_repeat_key", self.p_repeat_key),
        ];
        for (name, value) in probabilities {
            if !(0.0..=1.0).contains(&value) {
                return Err(GenError::Probability { name, value });
            }
        }
        if self.p_update + self.p_delete > 1.0 {
            return Err(GenError::OperationMix(self.p_update + self.p_delete));
        }
        if self.partitions < 1 {
            return Err(GenError::Partitions(self.partitions));
        }
        Ok(())
    }
}

/// Why a generator cannot be built from the given tables and config.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GenError {
    /// A probability knob is outside `0..=1` (or NaN).
    #[error("`{name}` must be a probability within 0..=1, got {value}")]
    Probability {
        /// Name of the offending `GenConfig` field.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// Update and delete shares together exceed 1.
    #[error("p_update + p_delete must not exceed 1, got {0}")]
    OperationMix(f64),
    /// Fewer than one partition.
    #[error("partitions must be at least 1, got {0}")]
    Partitions(i32),
    /// The table list is empty.
    #[error("at least one table is required")]
    NoTables,
    /// A table has an empty key, a key index out of range, or a repeated key index.
    #[error("table `{0}` needs a key of distinct, valid column indices")]
    BadKey(String),
    /// A table has two columns with the same name (or no columns).
    #[error("table `{0}` needs at least one column and distinct column names")]
    BadColumns(String),
    /// A column's kind is malformed (a decimal precision outside `1..=38`, or a scale above
    /// the precision).
    #[error("column `{column}` of table `{table}` has an invalid kind")]
    BadKind {
        /// Topic of the table.
        table: String,
        /// Name of the column.
        column: String,
    },
    /// Two tables map to the same topic.
    #[error("two tables share topic `{0}`")]
    DuplicateTopic(String),
}
