//! The streaming history generator.
//!
//! Each step picks one source operation (snapshot read, insert, update, primary-key change,
//! delete), renders its one to three records into a small queue and hands them out one at
//! a time. A record's effect reaches the oracle only when the record is handed out, so the
//! oracle always describes exactly the records emitted so far (also when `events` cuts an
//! operation in half).

mod ops;

use std::collections::VecDeque;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{GenConfig, GenError};
use crate::oracle::{Effect, Oracle};
use crate::render::{Op, SnapshotFlag, TableRender};
use crate::table::TableDef;
use crate::value::{canonical_key, Value};

/// One Kafka record, in production order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Topic (`<server>.<db>.<table>`).
    pub topic: String,
    /// Partition, a stable function of the message key (see [`crate::partition_for_key`]).
    pub partition: i32,
    /// Message key (JSON, schema or bare envelope). Always present for generated records.
    pub key: Option<Vec<u8>>,
    /// Message value (JSON change event); `None` for a tombstone.
    pub value: Option<Vec<u8>>,
}

/// How many recently touched keys per table `p_repeat_key` chooses from.
const RECENT_KEYS: usize = 8;
/// How many deleted keys per table are remembered for `p_reinsert` (bounds memory).
const DELETED_KEYS: usize = 1024;
/// How many fresh-key candidates are tried before an insert gives up (narrow key types).
const FRESH_TRIES: usize = 4096;
/// `source.ts_ms` of the first event: 2023-11-14T22:13:20Z.
const EPOCH_MS: i64 = 1_700_000_000_000;
/// Binlog position of the snapshot (and start of streaming).
const FIRST_POS: u64 = 154;

/// Which stats counters a record bumps when delivered.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    /// `None` for a tombstone.
    op: Option<Op>,
    /// The `c` completing a two-event primary-key change.
    pk_split: bool,
    /// A single-event primary-key change (`u` with different keys).
    pk_single: bool,
    /// An insert of a previously deleted key.
    reinsert: bool,
    /// The key was picked again on purpose (`p_repeat_key`).
    repeat: bool,
    /// `source.ts_ms` equals the previous operation's.
    same_ms: bool,
    /// `source.ts_ms` is below the previous operation's.
    ts_back: bool,
}

/// A rendered record waiting to be handed out, with what it does once handed out.
struct Pending {
    /// The record itself.
    record: Record,
    /// Oracle changes applied when the record is emitted (not before: `events` may cut an
    /// operation in half).
    effects: Vec<Effect>,
    /// Stats counters bumped when the record is emitted.
    tally: Tally,
}

/// Per-table generator bookkeeping, all bounded.
#[derive(Default)]
struct TableAux {
    /// Counter behind fresh keys (see `key_values`).
    next_key: u64,
    /// Canonical keys recently updated/inserted, for `p_repeat_key`.
    recent: VecDeque<String>,
    /// Key values of recently deleted rows, for `p_reinsert`.
    deleted: VecDeque<Vec<Value>>,
}

/// Timestamps of one operation.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    /// `source.ts_ms`: when MySQL committed the change (may tie or go back).
    source_ts: i64,
    /// `payload.ts_ms`: when the connector processed it (>= `source_ts`).
    ts: i64,
    /// `source_ts` equals the previous operation's.
    same_ms: bool,
    /// `source_ts` is below the previous operation's.
    backwards: bool,
}

/// Deterministic random Debezium MySQL history: an iterator of [`Record`]s plus the
/// [`Oracle`] of the records emitted so far. Memory is O(live keys).
pub struct Generator {
    /// The knobs, validated.
    config: GenConfig,
    /// The only source of randomness, seeded from `config.seed` (determinism).
    rng: ChaCha8Rng,
    /// Live state = expected final state of the records emitted so far.
    oracle: Oracle,
    /// Pre-rendered constant JSON per table (index = table index).
    renders: Vec<TableRender>,
    /// Topic per table, cloned into every record.
    topics: Vec<String>,
    /// Bounded key bookkeeping per table.
    aux: Vec<TableAux>,
    /// Records of the current operation not yet handed out.
    pending: VecDeque<Pending>,
    /// Records handed out so far (stops at `config.events`).
    emitted: u64,
    /// Snapshot reads generated so far (the snapshot precedes streaming).
    snapshot_done: u64,
    /// Monotonic source clock in ms; operations stamp from it.
    clock: i64,
    /// `source.ts_ms` of the previous operation (for ties and skew).
    last_ts: i64,
    /// Constant `payload.ts_ms - source.ts_ms` (connector processing lag), from the seed.
    lag: i64,
    /// Current binlog position; grows with every streamed operation.
    pos: u64,
}

impl Generator {
    /// Builds a generator. Panics if [`Generator::try_new`] would fail (invalid config or
    /// tables): these are programming errors in tests and demos.
    pub fn new(tables: Vec<TableDef>, config: GenConfig) -> Self {
        match Self::try_new(tables, config) {
            Ok(g) => g,
            Err(e) => panic!("invalid cdcgen setup: {e}"),
        }
    }

    /// Builds a generator after validating `config` and `tables`.
    pub fn try_new(tables: Vec<TableDef>, config: GenConfig) -> Result<Self, GenError> {
        config.validate()?;
        validate_tables(&tables)?;
        let renders = tables.iter().map(TableRender::new).collect();
        let topics = tables.iter().map(TableDef::topic).collect();
        let aux = tables.iter().map(|_| TableAux::default()).collect();
        Ok(Self {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            oracle: Oracle::new(tables),
            renders,
            topics,
            aux,
            pending: VecDeque::new(),
            emitted: 0,
            snapshot_done: 0,
            clock: EPOCH_MS,
            last_ts: EPOCH_MS,
            lag: (config.seed % 30) as i64 + 1,
            pos: FIRST_POS,
            config,
        })
    }

    /// State after the records emitted so far (the expected warehouse content once they
    /// are all applied).
    pub fn oracle(&self) -> &Oracle {
        &self.oracle
    }

    /// The configuration this generator runs with.
    pub fn config(&self) -> &GenConfig {
        &self.config
    }

    /// The table definitions, in the order given to [`Generator::new`].
    pub fn tables(&self) -> impl Iterator<Item = &TableDef> {
        self.oracle.tables.iter().map(|t| &t.def)
    }

    /// Number of records emitted so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    fn deliver(&mut self, p: Pending) -> Record {
        for e in p.effects {
            self.oracle.apply(e);
        }
        let s = &mut self.oracle.stats;
        let t = p.tally;
        s.events += 1;
        match t.op {
            None => s.tombstones += 1,
            Some(Op::Read) => s.snapshot_reads += 1,
            Some(Op::Create) => s.inserts += 1,
            Some(Op::Update) => s.updates += 1,
            Some(Op::Delete) => s.deletes += 1,
        }
        if matches!(t.op, Some(Op::Read | Op::Create | Op::Update)) {
            s.upserts += 1;
        }
        s.pk_changes_split += u64::from(t.pk_split);
        s.pk_changes_single_event += u64::from(t.pk_single);
        s.reinserts += u64::from(t.reinsert);
        s.repeat_key_picks += u64::from(t.repeat);
        s.same_ms += u64::from(t.same_ms);
        s.ts_backwards += u64::from(t.ts_back);
        self.emitted += 1;
        p.record
    }

    /// Queues the records of one more operation.
    fn generate(&mut self) {
        let tables = self.renders.len();
        let snapshot_total = self.config.snapshot_rows.saturating_mul(tables as u64);
        if self.snapshot_done < snapshot_total {
            let t = (self.snapshot_done / self.config.snapshot_rows) as usize;
            let flag = if self.snapshot_done + 1 == snapshot_total {
                SnapshotFlag::Last
            } else {
                SnapshotFlag::True
            };
            self.snapshot_done += 1;
            self.insert(t, Op::Read, flag);
            return;
        }
        let t = self.rng.gen_range(0..tables);
        let live = self.oracle.tables[t].len();
        let r: f64 = self.rng.gen();
        let has_non_key =
            self.oracle.tables[t].def.columns.len() > self.oracle.tables[t].def.key.len();
        if live > 0 && r < self.config.p_update {
            if !has_non_key || self.rng.gen_bool(self.config.p_pk_change) {
                if !self.pk_change(t) && has_non_key {
                    self.update(t);
                }
            } else {
                self.update(t);
            }
        } else if live > 0 && r < self.config.p_update + self.config.p_delete {
            self.delete(t);
        } else if !self.insert(t, Op::Create, SnapshotFlag::False) && live > 0 {
            // Key space exhausted (narrow key type): change something else instead.
            if has_non_key {
                self.update(t);
            } else {
                self.delete(t);
            }
        }
    }

    /// Timestamps of the next operation. `payload.ts_ms` is `source.ts_ms` plus a constant
    /// connector lag, so ties and clock skew show in both (the reference procedure ranks by
    /// `payload.ts_ms`).
    fn stamp(&mut self) -> Stamp {
        self.clock += self.rng.gen_range(0..=3);
        let prev = self.last_ts;
        let source_ts = if self.rng.gen_bool(self.config.p_same_ms) {
            prev
        } else if self.rng.gen_bool(self.config.p_ts_backwards) {
            self.clock - self.rng.gen_range(1..=1000)
        } else {
            self.clock
        };
        self.last_ts = source_ts;
        Stamp {
            source_ts,
            ts: source_ts + self.lag,
            same_ms: source_ts == prev,
            backwards: source_ts < prev,
        }
    }

    fn next_pos(&mut self) -> u64 {
        self.pos += self.rng.gen_range(120..=900);
        self.pos
    }
}

impl Iterator for Generator {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        // Bounded so a table whose key space is exhausted cannot hang the caller.
        for _ in 0..1024 {
            if self.emitted >= self.config.events {
                return None;
            }
            if let Some(p) = self.pending.pop_front() {
                return Some(self.deliver(p));
            }
            self.generate();
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.config.events.saturating_sub(self.emitted);
        (0, usize::try_from(left).ok())
    }
}

fn key_canonical(vals: &[Value]) -> String {
    let texts: Vec<String> = vals
        .iter()
        .map(|v| v.pg_text().unwrap_or_default())
        .collect();
    canonical_key(texts.iter().map(String::as_str))
}

fn validate_tables(tables: &[TableDef]) -> Result<(), GenError> {
    if tables.is_empty() {
        return Err(GenError::NoTables);
    }
    let mut topics = std::collections::HashSet::new();
    for t in tables {
        let topic = t.topic();
        let mut names = std::collections::HashSet::new();
        if t.columns.is_empty() || !t.columns.iter().all(|c| names.insert(&c.name)) {
            return Err(GenError::BadColumns(topic));
        }
        if let Some(c) = t.columns.iter().find(|c| !c.kind.is_valid()) {
            return Err(GenError::BadKind {
                table: topic,
                column: c.name.clone(),
            });
        }
        let mut keys = std::collections::HashSet::new();
        if t.key.is_empty() || !t.key.iter().all(|&k| k < t.columns.len() && keys.insert(k)) {
            return Err(GenError::BadKey(topic));
        }
        if !topics.insert(topic.clone()) {
            return Err(GenError::DuplicateTopic(topic));
        }
    }
    Ok(())
}
