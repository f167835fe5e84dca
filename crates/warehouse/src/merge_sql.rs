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
    pub analyze_stage: String,
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
    /// Empties the target (a source truncate). DELETE, not TRUNCATE: it needs only the DELETE
    /// privilege, works with foreign keys, and does not lock out readers.
    pub truncate: String,
    /// The target, quoted.
    target: String,
    /// `t.key = s.key AND …`, for [`MergeSql::upserting`].
    key_match: String,
    /// The columns the insert writes, quoted.
    insert_names: Vec<String>,
    /// The key columns, quoted.
    key_names: Vec<String>,
}

/// What the target's indexes let the merge do, found once per key set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetShape {
    /// No index covers the key: each merge scans the target to delete the staged keys.
    Unindexed,
    /// An index covers the key but cannot arbitrate `ON CONFLICT` (not unique, partial,
    /// deferrable, or on more columns): the delete probes it, then the insert.
    Indexed,
    /// A unique index on exactly the key: [`MergeSql::upserting`]. `others` are the target's
    /// columns tidemark does not write (unmanaged, excluded): an update resets them to their
    /// DEFAULT, as the delete and insert it replaces did.
    Unique { others: Vec<String> },
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
        Self {
            analyze_stage: format!("ANALYZE {stage}"),
            clear_stage: format!("TRUNCATE {stage}"),
            create_stage,
            drop_stage: format!("DROP TABLE {stage}"),
            copy_in,
            keep_unavailable,
            delete,
            mark_deleted,
            insert,
            truncate: format!("DELETE FROM {target}"),
            target,
            key_match,
            insert_names,
            key_names: key_columns
                .iter()
                .map(|&i| quote_ident(&layout.columns[i].name))
                .collect(),
        }
    }

    /// The statements for a target of `shape` (see [`TargetShape`]): what the writer runs and
    /// `tidemark sql` shows.
    pub fn for_shape(self, shape: &TargetShape, soft_delete: bool) -> Self {
        match shape {
            TargetShape::Unique { others } => self.upserting(soft_delete, others),
            TargetShape::Unindexed | TargetShape::Indexed => self,
        }
    }

    /// The statements for a target with a unique index on the key: the delete removes only
    /// the rows of delete winners (none with soft deletes, which mark them), and the insert
    /// updates a row of the same key in place (`ON CONFLICT … DO UPDATE`) instead of
    /// inserting a new version next to a deleted one: no dead tuple and no new index entries
    /// per update (a HOT update when no indexed column changes).
    fn upserting(mut self, soft_delete: bool, others: &[String]) -> Self {
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
        let assign: Vec<String> = self
            .insert_names
            .iter()
            .filter(|n| !self.key_names.contains(n))
            .map(|n| format!("{n} = EXCLUDED.{n}"))
            .chain(
                others
                    .iter()
                    .map(|o| format!("{} = DEFAULT", quote_ident(o))),
            )
            .collect();
        let action = if assign.is_empty() {
            "DO NOTHING".to_string()
        } else {
            format!("DO UPDATE SET {}", assign.join(", "))
        };
        self.insert = format!(
            "{} ON CONFLICT ({}) {action}",
            self.insert,
            self.key_names.join(", ")
        );
        self
    }
}
