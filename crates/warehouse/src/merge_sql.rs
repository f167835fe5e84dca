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
        }
    }
}
