//! The source operations: how each one picks keys and rows, renders its records and
//! queues them with their oracle effects.

use rand::Rng;

use super::{
    key_canonical, Generator, Pending, Record, Stamp, Tally, DELETED_KEYS, EPOCH_MS, FIRST_POS,
    FRESH_TRIES, RECENT_KEYS,
};
use crate::oracle::Effect;
use crate::render::{Change, Op, SnapshotFlag};
use crate::value::{key_values, partition_of_canonical, random_value, Value};

impl Generator {
    /// Picks a live row position (the table must not be empty); `true` if it is a
    /// deliberate re-pick of a recently touched key.
    fn pick_key(&mut self, t: usize) -> (usize, bool) {
        let aux = &self.aux[t];
        if !aux.recent.is_empty() && self.rng.gen_bool(self.config.p_repeat_key) {
            let i = self.rng.gen_range(0..aux.recent.len());
            if let Some(p) = self.oracle.tables[t].position(&aux.recent[i]) {
                return (p, true);
            }
        }
        (self.rng.gen_range(0..self.oracle.tables[t].len()), false)
    }

    fn touch(&mut self, t: usize, canonical: String) {
        let recent = &mut self.aux[t].recent;
        if recent.len() == RECENT_KEYS {
            recent.pop_front();
        }
        recent.push_back(canonical);
    }

    fn remember_deleted(&mut self, t: usize, row: &[Value]) {
        let key: Vec<Value> = self.oracle.tables[t]
            .def
            .key
            .iter()
            .map(|&k| row[k].clone())
            .collect();
        let deleted = &mut self.aux[t].deleted;
        if deleted.len() == DELETED_KEYS {
            deleted.pop_front();
        }
        deleted.push_back(key);
    }

    /// A key never live right now, optionally constrained to a partition.
    fn fresh_key(&mut self, t: usize, partition: Option<i32>) -> Option<(Vec<Value>, String)> {
        let state = &self.oracle.tables[t];
        for _ in 0..FRESH_TRIES {
            let n = self.aux[t].next_key;
            self.aux[t].next_key += 1;
            let vals = key_values(&state.def, n, self.config.nasty_strings);
            let canonical = key_canonical(&vals);
            if state.contains(&canonical) {
                continue;
            }
            if partition
                .is_some_and(|p| p != partition_of_canonical(&canonical, self.config.partitions))
            {
                continue;
            }
            return Some((vals, canonical));
        }
        None
    }

    /// A full row with the given key values and random other columns.
    fn build_row(&mut self, t: usize, key: &[Value]) -> Vec<Value> {
        let def = &self.oracle.tables[t].def;
        let nasty = self.config.nasty_strings;
        def.columns
            .iter()
            .enumerate()
            .map(|(i, c)| match def.key.iter().position(|&k| k == i) {
                Some(j) => key[j].clone(),
                None => random_value(&mut self.rng, c.kind, c.nullable, nasty),
            })
            .collect()
    }

    /// Re-draws a random subset of the non-key columns (at least one if `at_least_one`).
    fn mutate(&mut self, t: usize, row: &mut [Value], at_least_one: bool) {
        let def = &self.oracle.tables[t].def;
        let nasty = self.config.nasty_strings;
        let non_key: Vec<usize> = (0..def.columns.len()).filter(|&i| !def.is_key(i)).collect();
        if non_key.is_empty() {
            return;
        }
        let mut changed = false;
        for &i in &non_key {
            if self.rng.gen_bool(0.5) {
                let c = &def.columns[i];
                row[i] = random_value(&mut self.rng, c.kind, c.nullable, nasty);
                changed = true;
            }
        }
        if at_least_one && !changed {
            let i = non_key[self.rng.gen_range(0..non_key.len())];
            let c = &def.columns[i];
            row[i] = random_value(&mut self.rng, c.kind, c.nullable, nasty);
        }
    }

    /// Queues one change event whose message key is taken from `key_row`.
    #[allow(clippy::too_many_arguments)]
    fn push_change(
        &mut self,
        t: usize,
        change: &Change<'_>,
        key_row: &[Value],
        canonical: &str,
        effects: Vec<Effect>,
        mut tally: Tally,
        stamp: &Stamp,
    ) {
        tally.op = Some(change.op);
        tally.same_ms = stamp.same_ms && change.snapshot == SnapshotFlag::False;
        tally.ts_back = stamp.backwards && change.snapshot == SnapshotFlag::False;
        let render = &self.renders[t];
        let record = Record {
            topic: self.topics[t].clone(),
            partition: partition_of_canonical(canonical, self.config.partitions),
            key: Some(render.key(key_row, self.config.key_envelope)),
            value: Some(render.value(change, self.config.value_envelope)),
        };
        self.pending.push_back(Pending {
            record,
            effects,
            tally,
        });
    }

    /// Queues a tombstone for the key of `row` with probability `p_tombstone`.
    fn maybe_tombstone(&mut self, t: usize, row: &[Value], canonical: &str) {
        if !self.rng.gen_bool(self.config.p_tombstone) {
            return;
        }
        let record = Record {
            topic: self.topics[t].clone(),
            partition: partition_of_canonical(canonical, self.config.partitions),
            key: Some(self.renders[t].key(row, self.config.key_envelope)),
            value: None,
        };
        self.pending.push_back(Pending {
            record,
            effects: Vec::new(),
            tally: Tally::default(),
        });
    }

    /// Insert (`c`) or snapshot read (`r`) of a new or re-inserted key; `false` if no key
    /// could be found.
    pub(super) fn insert(&mut self, t: usize, op: Op, snapshot: SnapshotFlag) -> bool {
        let mut tally = Tally::default();
        let mut key = None;
        if op == Op::Create
            && !self.aux[t].deleted.is_empty()
            && self.rng.gen_bool(self.config.p_reinsert)
        {
            let i = self.rng.gen_range(0..self.aux[t].deleted.len());
            let vals = self.aux[t]
                .deleted
                .swap_remove_back(i)
                .expect("index in range");
            let canonical = key_canonical(&vals);
            if !self.oracle.tables[t].contains(&canonical) {
                tally.reinsert = true;
                key = Some((vals, canonical));
            }
        }
        let Some((vals, canonical)) = key.or_else(|| self.fresh_key(t, None)) else {
            return false;
        };
        let row = self.build_row(t, &vals);
        let mut stamp = self.stamp();
        let pos = if snapshot == SnapshotFlag::False {
            self.next_pos()
        } else {
            // A snapshot is read at one binlog position and one instant; the connector
            // processes its rows as the clock advances.
            stamp.source_ts = EPOCH_MS;
            stamp.ts = self.clock + self.lag;
            FIRST_POS
        };
        let change = Change {
            op,
            before: None,
            after: Some(&row),
            source_ts: stamp.source_ts,
            ts: stamp.ts,
            snapshot,
            pos,
            row: 0,
        };
        let effects = vec![Effect::Upsert {
            table: t,
            canonical: canonical.clone(),
            row: row.clone(),
        }];
        self.push_change(t, &change, &row, &canonical, effects, tally, &stamp);
        self.touch(t, canonical);
        true
    }

    pub(super) fn update(&mut self, t: usize) {
        let (p, repeat) = self.pick_key(t);
        let (canonical, old) = {
            let (k, r) = self.oracle.tables[t].at(p);
            (k.to_owned(), r.to_vec())
        };
        let mut new = old.clone();
        self.mutate(t, &mut new, true);
        let stamp = self.stamp();
        let change = Change {
            op: Op::Update,
            before: Some(&old),
            after: Some(&new),
            source_ts: stamp.source_ts,
            ts: stamp.ts,
            snapshot: SnapshotFlag::False,
            pos: self.next_pos(),
            row: 0,
        };
        let effects = vec![Effect::Upsert {
            table: t,
            canonical: canonical.clone(),
            row: new.clone(),
        }];
        let tally = Tally {
            repeat,
            ..Tally::default()
        };
        self.push_change(t, &change, &new, &canonical, effects, tally, &stamp);
        self.touch(t, canonical);
    }

    pub(super) fn delete(&mut self, t: usize) {
        let (p, repeat) = self.pick_key(t);
        let (canonical, old) = {
            let (k, r) = self.oracle.tables[t].at(p);
            (k.to_owned(), r.to_vec())
        };
        let stamp = self.stamp();
        let change = Change {
            op: Op::Delete,
            before: Some(&old),
            after: None,
            source_ts: stamp.source_ts,
            ts: stamp.ts,
            snapshot: SnapshotFlag::False,
            pos: self.next_pos(),
            row: 0,
        };
        let effects = vec![Effect::Delete {
            table: t,
            canonical: canonical.clone(),
        }];
        let tally = Tally {
            repeat,
            ..Tally::default()
        };
        self.push_change(t, &change, &old, &canonical, effects, tally, &stamp);
        self.maybe_tombstone(t, &old, &canonical);
        self.remember_deleted(t, &old);
    }

    /// Primary-key change of a live row; `false` if no new key could be found.
    pub(super) fn pk_change(&mut self, t: usize) -> bool {
        let (p, repeat) = self.pick_key(t);
        let (old_canonical, old) = {
            let (k, r) = self.oracle.tables[t].at(p);
            (k.to_owned(), r.to_vec())
        };
        let mut single = self.rng.gen_bool(self.config.p_pk_change_single_event);
        let mut fresh = None;
        if single {
            // Same partition as the old key, so the implied delete of the old key is ordered
            // after every earlier record of that key.
            let part = partition_of_canonical(&old_canonical, self.config.partitions);
            fresh = self.fresh_key(t, Some(part));
        }
        if fresh.is_none() {
            single = false;
            fresh = self.fresh_key(t, None);
        }
        let Some((new_key, new_canonical)) = fresh else {
            return false;
        };
        let mut new = old.clone();
        for (j, &k) in self.oracle.tables[t].def.key.iter().enumerate() {
            new[k] = new_key[j].clone();
        }
        self.mutate(t, &mut new, false);
        let stamp = self.stamp();
        let pos = self.next_pos();
        let tally = Tally {
            repeat,
            ..Tally::default()
        };
        let upsert = Effect::Upsert {
            table: t,
            canonical: new_canonical.clone(),
            row: new.clone(),
        };
        let delete = Effect::Delete {
            table: t,
            canonical: old_canonical.clone(),
        };
        let mk = |op, before, after| Change {
            op,
            before,
            after,
            source_ts: stamp.source_ts,
            ts: stamp.ts,
            snapshot: SnapshotFlag::False,
            pos,
            row: 0,
        };
        if single {
            let change = mk(Op::Update, Some(&old[..]), Some(&new[..]));
            let tally = Tally {
                pk_single: true,
                ..tally
            };
            self.push_change(
                t,
                &change,
                &new,
                &new_canonical,
                vec![delete, upsert],
                tally,
                &stamp,
            );
        } else {
            let d = mk(Op::Delete, Some(&old[..]), None);
            self.push_change(t, &d, &old, &old_canonical, vec![delete], tally, &stamp);
            self.maybe_tombstone(t, &old, &old_canonical);
            let c = mk(Op::Create, None, Some(&new[..]));
            let tally = Tally {
                pk_split: true,
                ..Tally::default()
            };
            self.push_change(t, &c, &new, &new_canonical, vec![upsert], tally, &stamp);
        }
        self.remember_deleted(t, &old);
        self.touch(t, new_canonical);
        true
    }
}
