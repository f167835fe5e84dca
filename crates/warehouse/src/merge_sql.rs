//! The statements of one table's merge: stage, keep what the source did not send, delete what
//! is replaced or deleted (or mark it, with soft deletes), insert the winners.

use tidemark_model::{ColumnType, TableLayout, SOFT_DELETE_COLUMNS};

use crate::sql::{quote_ident, quote_table, stage_type, DELETE_FLAG, STAGE, UNAVAILABLE};

/// The statements of one table's merge, built once per (layout, key columns).
#[derive(Debug, Clone)]
pub(crate) struct MergeSql {
    pub create_stage: String,
    /// Drops the stage of an earlier layout version.
    pub drop_stage: String,
    pub copy_in: String,
    /// Gives the planner the stage's size, for the hash or merge join against a target
    /// without a key index; `None` when an index covers the key (every join probes it).
    pub analyze_stage: Option<String>,
    /// An index covers the key: the joins are steered to probe it
    /// ([`crate::sql::PREFER_INDEX_PROBES`]).
    pub probe_index: bool,
    /// Empties the stage between the pieces of one merge.
    pub clear_stage: String,
    /// Fills the staged values the source did not send (unchanged TOASTed columns) from the
    /// target row of the same key, before that row is replaced. Run only when some are.
    pub keep_unavailable: String,
    /// Deletes target rows whose key is staged (with soft deletes: only those an upsert
    /// replaces); returns the number removed for delete winners.
    pub delete: String,
    /// Soft deletes: marks the target rows of delete winners; `None` for hard deletes.
    pub mark_deleted: Option<String>,
    pub insert: String,
    /// The upsert's statements with the rows bound as arrays instead of staged; `None` where
    /// the stage is needed (see [`BoundSql`]).
    pub bound: Option<BoundSql>,
    /// Empties the target (a source truncate). DELETE, not TRUNCATE: it needs only the DELETE
    /// privilege, works with foreign keys, and does not lock out readers.
    pub truncate: String,
    /// The target, quoted.
    target: String,
    /// `t.key = s.key AND …`, for [`MergeSql::upserting`].
    key_match: String,
    /// The columns the insert writes, quoted.
    insert_names: Vec<String>,
    /// What the insert writes into each of `insert_names`, from the stage `s`.
    values: Vec<String>,
    /// The key columns, quoted.
    key_names: Vec<String>,
    /// `unnest($1, …) AS s(<column>, …)`: every column bound as an array of its stage
    /// column's type, in layout order; `None` if a column is an array (unnest would flatten it).
    unnest_all: Option<String>,
    /// The same for only the key columns.
    unnest_key: Option<String>,
}

/// The upsert of a piece without the stage: one array parameter per column (`unnest`) for the
/// non-delete winners, one per key column for the delete winners. The stage's binary COPY
/// measured 1.9 µs per event of 9.2 µs of server CPU on the 1M-event benchmark (`cargo bench -p
/// tidemark-e2e --bench refresh -- --events 1000000 --only orders,order_line --statements`),
/// and an upsert of 1,443-row batches from bound arrays 0.83× the server CPU of the COPY into
/// the stage and the upsert from it (three runs each, 360k rows). On that benchmark the upsert
/// then measured 7.14 µs/event = 3.32× the COPY floor, where it had measured 3.53× (9.17
/// µs/event) with the stage earlier the same day. Used by the upsert and MERGE where an index
/// covers the key, with hard deletes, for a piece without values the source did not send (those are filled
/// from the target through the stage); a value the server refuses is looked for through the
/// stage after the rollback, which names its record.
#[derive(Debug, Clone)]
pub(crate) struct BoundSql {
    /// The non-delete winners' upsert, every column bound.
    pub insert: String,
    /// The delete winners' delete, the key columns bound; returns the rows removed.
    pub delete: String,
}

/// What the target's indexes and columns let the merge do, found once per key set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetShape {
    pub index: KeyIndex,
    /// The target's columns tidemark does not write (unmanaged, excluded): an update in place
    /// resets them to their DEFAULT, as the delete and insert it replaces did.
    pub others: Vec<String>,
    /// The server has `MERGE` (PostgreSQL 15 or later).
    pub has_merge: bool,
}

/// `warehouse.merge = "merge"` on a server without MERGE: refused before any statement runs,
/// by the writer and by `tidemark sql` alike.
#[derive(Debug, thiserror::Error)]
#[error(
    "warehouse.merge = \"merge\" needs PostgreSQL 15 or later (MERGE); this server is older: \
     use \"auto\" or \"delete-insert\""
)]
pub struct NoMerge;

/// The best index on the target for matching rows by the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyIndex {
    /// No index covers the key: each merge scans the target to delete the staged keys.
    None,
    /// An index covers the key but cannot arbitrate `ON CONFLICT` (not unique, partial,
    /// deferrable, or on more columns): the delete probes it, then the insert.
    Covering,
    /// A unique index on exactly the key: `ON CONFLICT (key)` can use it.
    Unique,
}

/// How the PostgreSQL dialect applies a batch (`warehouse.merge`). Every strategy gives the
/// same rows; they differ in the target's churn and PostgreSQL's CPU (measured by `cargo bench
/// -p tidemark-e2e --bench refresh -- --merges …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PgMerge {
    /// The upsert ([`MergeSql::upserting`]) when a unique index on exactly the key exists,
    /// else delete + insert. Not MERGE: on the 1M-event benchmark's primary-key tables
    /// PostgreSQL CPU per event measured MERGE 1.01× and 1.06× the upsert's (one run, MERGE
    /// before and after it), and with both binding arrays ([`BoundSql`]) 0.70× (MERGE run
    /// second) and 1.01× (MERGE run first): no consistent gain, where the upsert works before
    /// PostgreSQL 15 and with other writers inserting the same keys.
    #[default]
    Auto,
    /// Delete every staged key, then insert the non-delete winners, whatever the indexes (an
    /// update reaches triggers and logical decoding as a DELETE and an INSERT).
    DeleteInsert,
    /// PostgreSQL 15's `MERGE` for the non-delete winners (update the matched row in place,
    /// insert the others) after deleting the delete winners; needs no unique index.
    Merge,
}

impl MergeSql {
    pub fn new(layout: &TableLayout, key_columns: &[usize]) -> Self {
        let target = quote_table(&layout.table);
        let stage = quote_ident(STAGE);
        let flag = quote_ident(DELETE_FLAG);
        let unavailable = quote_ident(UNAVAILABLE);
        let stage_columns: Vec<String> = layout
            .columns
            .iter()
            .map(|c| format!("{} {}", quote_ident(&c.name), stage_type(c)))
            .collect();
        let create_stage = format!(
            "CREATE TEMPORARY TABLE {stage} ({flag} boolean NOT NULL, {}, {unavailable} \
             integer[]) ON COMMIT DELETE ROWS",
            stage_columns.join(", ")
        );
        let names: Vec<String> = layout
            .columns
            .iter()
            .map(|c| quote_ident(&c.name))
            .collect();
        let copy_in = format!(
            "COPY {stage} ({flag}, {}, {unavailable}) FROM STDIN (FORMAT binary)",
            names.join(", ")
        );
        // A staged value of a text-staged column is cast to the column's own type.
        let staged = |i: usize| {
            let c = &layout.columns[i];
            let col = format!("s.{}", quote_ident(&c.name));
            if c.ty == ColumnType::Other {
                format!("CAST({col} AS {})", c.sql_type)
            } else {
                col
            }
        };
        let key_match: Vec<String> = key_columns
            .iter()
            .map(|&i| format!("t.{} = {}", quote_ident(&layout.columns[i].name), staged(i)))
            .collect();
        let key_match = key_match.join(" AND ");
        // The target's value in the stage column's type (text for text-staged columns).
        let keep: Vec<String> = layout
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let name = quote_ident(&c.name);
                let from_target = if c.ty == ColumnType::Other {
                    format!("CAST(t.{name} AS text)")
                } else {
                    format!("t.{name}")
                };
                format!("{name} = CASE WHEN {i} = ANY(s.{unavailable}) THEN {from_target} ELSE s.{name} END")
            })
            .collect();
        let keep_unavailable = format!(
            "UPDATE {stage} AS s SET {} FROM {target} AS t WHERE s.{unavailable} IS NOT NULL AND {key_match}",
            keep.join(", ")
        );
        // With soft deletes only the rows an upsert replaces are removed (so no delete winner
        // is counted here); delete winners are marked by `mark_deleted` instead.
        let replaced_only = if layout.soft_delete {
            format!("NOT s.{flag} AND ")
        } else {
            String::new()
        };
        let delete = format!(
            "WITH d AS (DELETE FROM {target} AS t USING {stage} AS s WHERE {replaced_only}{key_match} RETURNING s.{flag} AS del)
             SELECT count(*) FILTER (WHERE del) FROM d"
        );
        let mark_deleted = layout.soft_delete.then(|| {
            let [deleted, deleted_at] = SOFT_DELETE_COLUMNS.map(quote_ident);
            format!(
                "UPDATE {target} AS t SET {deleted} = true, {deleted_at} = now() FROM {stage} AS s \
                 WHERE s.{flag} AND t.{deleted} IS DISTINCT FROM true AND {key_match}"
            )
        });
        let mut values: Vec<String> = (0..layout.columns.len()).map(staged).collect();
        let mut insert_names = names.clone();
        if layout.soft_delete {
            insert_names.extend(SOFT_DELETE_COLUMNS.map(quote_ident));
            values.push("false".into());
            values.push("NULL".into());
        }
        let insert = format!(
            "INSERT INTO {target} ({}) SELECT {} FROM {stage} AS s WHERE NOT s.{flag}",
            insert_names.join(", "),
            values.join(", ")
        );
        let arrays = !layout
            .columns
            .iter()
            .any(|c| matches!(c.ty, ColumnType::Array(_)));
        let unnest = |columns: &mut dyn Iterator<Item = usize>| {
            let (params, aliases): (Vec<String>, Vec<String>) = columns
                .enumerate()
                .map(|(n, i)| {
                    let c = &layout.columns[i];
                    // Typed by the writer's prepare, without the column's typmod: a cast
                    // to `varchar(5)[]` would cut a longer value where the insert refuses it.
                    let param = format!("${}", n + 1);
                    (param, quote_ident(&c.name))
                })
                .unzip();
            format!("unnest({}) AS s({})", params.join(", "), aliases.join(", "))
        };
        let unnest_all = arrays.then(|| unnest(&mut (0..layout.columns.len())));
        let unnest_key = arrays.then(|| unnest(&mut key_columns.iter().copied()));
        Self {
            analyze_stage: Some(format!("ANALYZE {stage}")),
            probe_index: false,
            clear_stage: format!("TRUNCATE {stage}"),
            create_stage,
            drop_stage: format!("DROP TABLE {stage}"),
            copy_in,
            keep_unavailable,
            delete,
            mark_deleted,
            insert,
            bound: None,
            truncate: format!("DELETE FROM {target}"),
            target,
            key_match,
            insert_names,
            values,
            key_names: key_columns
                .iter()
                .map(|&i| quote_ident(&layout.columns[i].name))
                .collect(),
            unnest_all,
            unnest_key,
        }
    }

    /// The statements `strategy` runs on a target of `shape`: what the writer runs and
    /// `tidemark sql` shows.
    pub fn for_shape(
        mut self,
        shape: &TargetShape,
        soft_delete: bool,
        strategy: PgMerge,
    ) -> Result<Self, NoMerge> {
        if strategy == PgMerge::Merge && !shape.has_merge {
            return Err(NoMerge);
        }
        self.probe_index = shape.index != KeyIndex::None;
        if self.probe_index {
            // With hash and merge joins off, every join with the stage probes the key index
            // whatever the stage's estimated size: statistics change no plan. The ANALYZE took
            // 1.21 µs per event (pg_stat_statements) where delete + insert used 7.93 µs of
            // server CPU per event (`cargo bench -p tidemark-e2e --bench refresh -- --events
            // 300000 --only orders,order_line --merges delete-insert --statements`).
            self.analyze_stage = None;
        }
        Ok(match (strategy, shape.index) {
            (PgMerge::Auto, KeyIndex::Unique) => self.upserting(soft_delete, &shape.others),
            (PgMerge::Merge, _) => self.merging(soft_delete, &shape.others),
            (PgMerge::Auto | PgMerge::DeleteInsert, _) => self,
        })
    }

    /// Deletes only the rows of delete winners (none with soft deletes, which mark them):
    /// the upsert and MERGE write the others in place.
    fn delete_winners_only(&mut self, soft_delete: bool) {
        let target = &self.target;
        let stage = quote_ident(STAGE);
        let flag = quote_ident(DELETE_FLAG);
        let key_match = &self.key_match;
        self.delete = if soft_delete {
            "SELECT CAST(0 AS bigint)".to_string()
        } else {
            format!(
                "WITH d AS (DELETE FROM {target} AS t USING {stage} AS s WHERE s.{flag} AND \
                 {key_match} RETURNING 1) SELECT count(*) FROM d"
            )
        };
    }

    /// `c = <new value>, …, <unwritten column> = DEFAULT` for an update in place, where
    /// `new_value(i)` is the new value of `insert_names[i]` (`EXCLUDED.c` for ON CONFLICT, the
    /// staged value for MERGE); the key columns are left as they are.
    fn assignments(&self, others: &[String], new_value: impl Fn(usize) -> String) -> Vec<String> {
        self.insert_names
            .iter()
            .enumerate()
            .filter(|(_, n)| !self.key_names.contains(n))
            .map(|(i, n)| format!("{n} = {}", new_value(i)))
            .chain(
                others
                    .iter()
                    .map(|o| format!("{} = DEFAULT", quote_ident(o))),
            )
            .collect()
    }

    /// PostgreSQL 15's `MERGE` of the non-delete winners: the matched row updated in place
    /// (unwritten columns back to their DEFAULT), the others inserted. A join, like the
    /// delete: it probes the key index if there is one, else hashes the analyzed stage.
    fn merging(mut self, soft_delete: bool, others: &[String]) -> Self {
        self.delete_winners_only(soft_delete);
        let stage = quote_ident(STAGE);
        let flag = quote_ident(DELETE_FLAG);
        let assign = self.assignments(others, |i| self.values[i].clone());
        let update = if assign.is_empty() {
            String::new()
        } else {
            format!(
                "WHEN MATCHED AND NOT s.{flag} THEN UPDATE SET {} ",
                assign.join(", ")
            )
        };
        self.insert = format!(
            "MERGE INTO {} AS t USING {stage} AS s ON {} {update}WHEN NOT MATCHED AND NOT \
             s.{flag} THEN INSERT ({}) VALUES ({})",
            self.target,
            self.key_match,
            self.insert_names.join(", "),
            self.values.join(", ")
        );
        // Only non-delete winners are bound: no flag to test.
        let bound_update = if assign.is_empty() {
            String::new()
        } else {
            format!("WHEN MATCHED THEN UPDATE SET {} ", assign.join(", "))
        };
        self.bound = self.bind(soft_delete, |all| {
            format!(
                "MERGE INTO {} AS t USING {all} ON {} {bound_update}WHEN NOT MATCHED THEN \
                 INSERT ({}) VALUES ({})",
                self.target,
                self.key_match,
                self.insert_names.join(", "),
                self.values.join(", ")
            )
        });
        self
    }

    /// The statements for a target with a unique index on the key: the delete removes only
    /// the rows of delete winners (none with soft deletes, which mark them), and the insert
    /// updates a row of the same key in place (`ON CONFLICT … DO UPDATE`) instead of
    /// inserting a new version next to a deleted one: no dead tuple and no new index entries
    /// per update (a HOT update when no indexed column changes).
    fn upserting(mut self, soft_delete: bool, others: &[String]) -> Self {
        self.delete_winners_only(soft_delete);
        let assign = self.assignments(others, |i| format!("EXCLUDED.{}", self.insert_names[i]));
        let action = if assign.is_empty() {
            "DO NOTHING".to_string()
        } else {
            format!("DO UPDATE SET {}", assign.join(", "))
        };
        let conflict = format!("ON CONFLICT ({}) {action}", self.key_names.join(", "));
        self.insert = format!("{} {conflict}", self.insert);
        self.bound = self.bind(soft_delete, |all| {
            format!(
                "INSERT INTO {} ({}) SELECT {} FROM {all} {conflict}",
                self.target,
                self.insert_names.join(", "),
                self.values.join(", ")
            )
        });
        self
    }

    /// The bound statements ([`BoundSql`]) with `insert(unnest of every column)` for the
    /// non-delete winners; `None` with soft deletes, array columns, or no index on the key
    /// (the join with the arrays probes it).
    fn bind(&self, soft_delete: bool, insert: impl Fn(&str) -> String) -> Option<BoundSql> {
        let (false, true, Some(all), Some(key)) = (
            soft_delete,
            self.probe_index,
            &self.unnest_all,
            &self.unnest_key,
        ) else {
            return None;
        };
        Some(BoundSql {
            insert: insert(all),
            delete: format!(
                "WITH d AS (DELETE FROM {} AS t USING {key} WHERE {} RETURNING 1) \
                 SELECT count(*) FROM d",
                self.target, self.key_match
            ),
        })
    }
}
