use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::{Change, Key, RowOp, Value};

/// The changes of one micro-batch for one table, ranked per key: the change read last (the
/// highest offset of the key's partition) wins. Debezium routes a key to one partition, so read
/// order is source order; `ts_ms` plays no part, so ties in it cannot matter.
#[derive(Debug, Default, Clone)]
pub struct RankedBatch {
    winners: HashMap<Key, Change>,
    /// Records read into this batch (including ones that produced no change, like tombstones).
    pub events: u64,
    /// Approximate memory held by the winners, for batch size limits.
    pub bytes: usize,
}

impl RankedBatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a change. A later change of the same key replaces the earlier one; a value the
    /// later one lacks ([`Value::Unavailable`], an unchanged TOASTed column) is taken from the
    /// earlier upsert it replaces, so only a key's first change in a batch may still lack
    /// one (the merge then keeps the target's value).
    pub fn push(&mut self, mut change: Change) {
        let size_before = change_size(&change);
        match self.winners.entry(change.key.clone()) {
            Entry::Occupied(mut slot) => {
                if let (RowOp::Upsert(new), RowOp::Upsert(old)) = (&mut change.op, &slot.get().op) {
                    for (value, earlier) in new.iter_mut().zip(old) {
                        if matches!(value, Value::Unavailable) {
                            *value = earlier.clone();
                        }
                    }
                }
                let size = change_size(&change);
                let old = slot.insert(change);
                self.bytes = (self.bytes + size).saturating_sub(change_size(&old));
            }
            Entry::Vacant(slot) => {
                self.bytes += size_before;
                slot.insert(change);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.winners.len()
    }

    /// Drops every change collected so far (a truncate of the source table voids them); the
    /// records stay counted in `events`.
    pub fn discard_changes(&mut self) {
        self.winners.clear();
        self.bytes = 0;
    }

    pub fn is_empty(&self) -> bool {
        self.winners.is_empty()
    }

    pub fn winners(&self) -> impl Iterator<Item = &Change> {
        self.winners.values()
    }

    pub fn into_winners(self) -> impl Iterator<Item = Change> {
        self.winners.into_values()
    }
}

fn change_size(change: &Change) -> usize {
    let key: usize = change.key.0.iter().map(|v| v.approx_size()).sum();
    let row: usize = match &change.op {
        RowOp::Upsert(values) => values.iter().map(|v| v.approx_size()).sum(),
        RowOp::Delete => 0,
    };
    key * 2 + row + std::mem::size_of::<Change>()
}

/// What one merge did to one table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TableBatchStats {
    /// Records read.
    pub events: u64,
    /// Rows inserted (new or replacing an older version of their key).
    pub upserts: u64,
    /// Rows removed because their key's winning change was a delete.
    pub deletes: u64,
    /// Records that could not be applied and went to the dead-letter table.
    pub dead_letters: u64,
}

impl std::ops::AddAssign for TableBatchStats {
    fn add_assign(&mut self, rhs: Self) {
        self.events += rhs.events;
        self.upserts += rhs.upserts;
        self.deletes += rhs.deletes;
        self.dead_letters += rhs.dead_letters;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RecordCoord;

    fn change(key: i64, offset: i64, op: RowOp) -> Change {
        Change {
            key: Key(vec![Value::Int(key)]),
            op,
            coord: RecordCoord {
                partition: 0,
                offset,
            },
        }
    }

    #[test]
    fn latest_offset_wins_per_key() {
        let mut batch = RankedBatch::new();
        batch.push(change(1, 0, RowOp::Upsert(vec![Value::Text("a".into())])));
        batch.push(change(2, 1, RowOp::Upsert(vec![Value::Text("b".into())])));
        batch.push(change(1, 2, RowOp::Delete));
        batch.push(change(1, 3, RowOp::Upsert(vec![Value::Text("c".into())])));
        batch.push(change(2, 4, RowOp::Delete));
        assert_eq!(batch.len(), 2);
        let mut winners: Vec<_> = batch.winners().cloned().collect();
        winners.sort_by_key(|c| c.coord.offset);
        assert_eq!(winners[0].coord.offset, 3);
        assert_eq!(winners[0].op, RowOp::Upsert(vec![Value::Text("c".into())]));
        assert_eq!(winners[1].coord.offset, 4);
        assert_eq!(winners[1].op, RowOp::Delete);
    }

    #[test]
    fn an_unavailable_value_comes_from_the_upsert_it_replaces() {
        let mut batch = RankedBatch::new();
        let row = |a: &str, b: Value| RowOp::Upsert(vec![Value::Text(a.into()), b]);
        batch.push(change(1, 0, row("a", Value::Text("toasted".into()))));
        batch.push(change(1, 1, row("b", Value::Unavailable)));
        batch.push(change(2, 2, row("c", Value::Unavailable)));
        let mut winners: Vec<_> = batch.winners().cloned().collect();
        winners.sort_by_key(|c| c.coord.offset);
        assert_eq!(winners[0].op, row("b", Value::Text("toasted".into())));
        // No earlier change in the batch: left for the merge (the target keeps its value).
        assert_eq!(winners[1].op, row("c", Value::Unavailable));
        let bytes: usize = winners.iter().map(change_size).sum();
        assert_eq!(batch.bytes, bytes);
    }

    #[test]
    fn bytes_track_only_winners() {
        let mut batch = RankedBatch::new();
        batch.push(change(
            1,
            0,
            RowOp::Upsert(vec![Value::Text("x".repeat(1000))]),
        ));
        let one = batch.bytes;
        batch.push(change(
            1,
            1,
            RowOp::Upsert(vec![Value::Text("y".repeat(1000))]),
        ));
        assert_eq!(batch.bytes, one);
        batch.push(change(1, 2, RowOp::Delete));
        assert!(batch.bytes < one);
    }
}
