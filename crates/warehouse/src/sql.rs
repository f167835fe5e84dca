//! Every SQL text tidemark sends. Identifiers go through [`quote_ident`] only; values are
//! always bound parameters or COPY data, never spliced in.

use tidemark_model::{ColumnType, TableLayout, TableName, TargetColumn};

/// Quotes an identifier for PostgreSQL: wraps it in double quotes and doubles embedded ones.
pub fn quote_ident(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 2);
    s.push('"');
    for c in name.chars() {
        if c == '"' {
            s.push('"');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// `"schema"."table"`.
pub fn quote_table(table: &TableName) -> String {
    format!(
        "{}.{}",
        quote_ident(&table.schema),
        quote_ident(&table.name)
    )
}

pub(crate) fn watermarks_table(schema: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident("watermarks"))
}

pub(crate) fn table_keys_table(schema: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident("table_keys"))
}

/// Records a table's key (target column names) if none is recorded, and returns the recorded
/// one. `$1` pipeline, `$2` target (as written in config), `$3` key columns.
pub(crate) fn record_key(keys: &str) -> String {
    format!(
        "WITH ins AS (
             INSERT INTO {keys} (pipeline, target, key_columns) VALUES ($1, $2, $3)
             ON CONFLICT (pipeline, target) DO NOTHING
             RETURNING key_columns)
         SELECT key_columns FROM ins
         UNION ALL
         SELECT key_columns FROM {keys} WHERE pipeline = $1 AND target = $2
         LIMIT 1"
    )
}

/// The recorded key of a table. `$1` pipeline, `$2` target.
pub(crate) fn stored_key(keys: &str) -> String {
    format!("SELECT key_columns FROM {keys} WHERE pipeline = $1 AND target = $2")
}

pub(crate) fn prepare_statements(schema: &str) -> Vec<String> {
    let wm = watermarks_table(schema);
    let keys = table_keys_table(schema);
    vec![
        format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema)),
        format!(
            "CREATE TABLE IF NOT EXISTS {wm} (
                pipeline    text        NOT NULL,
                topic       text        NOT NULL,
                partition   integer     NOT NULL,
                next_offset bigint,
                epoch       bigint      NOT NULL,
                updated_at  timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (pipeline, topic, partition)
            )"
        ),
        format!(
            "COMMENT ON TABLE {wm} IS 'tidemark: next Kafka offset to apply per partition, \
             written in the same transaction as the rows; epoch fences stale owners'"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {keys} (
                pipeline    text   NOT NULL,
                target      text   NOT NULL,
                key_columns text[] NOT NULL,
                PRIMARY KEY (pipeline, target)
            )"
        ),
        format!(
            "COMMENT ON TABLE {keys} IS 'tidemark: the key columns each target is merged by, \
             recorded by the first merge so that every replica uses the same; delete a row to \
             let the next merge record a new key'"
        ),
    ]
}

/// Columns of a table in order, with their SQL type and, for built-in types, the type's name
/// (`_int4` for an array of `int4`); NULL for a type outside `pg_catalog` (an enum, a domain,
/// an extension's type, or a user type that happens to be called `date`), which is staged as
/// text and cast. Generated and dropped columns are left out. `$1` is the quoted qualified
/// name.
pub(crate) const DESCRIBE: &str = "
    SELECT a.attname::text, format_type(a.atttypid, a.atttypmod),
           CASE WHEN t.typnamespace = 'pg_catalog'::regnamespace THEN t.typname::text END
    FROM pg_attribute a
    JOIN pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = to_regclass($1)
      AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
    ORDER BY a.attnum";

/// Whether an index of the table (`$1`, quoted name) has only key columns (`$2`) as its key
/// columns, so that deleting by key can use it.
pub(crate) const KEY_INDEX_EXISTS: &str = "
    SELECT EXISTS (
        SELECT 1 FROM pg_index i
        WHERE i.indrelid = to_regclass($1)
          AND i.indnkeyatts > 0
          AND (SELECT bool_and(a.attname = ANY($2::text[]))
               FROM pg_attribute a
               WHERE a.attrelid = i.indrelid
                 AND a.attnum = ANY((i.indkey::int2[])[0:i.indnkeyatts - 1]))
    )";

/// For the rest of the merge transaction: join the stage to the target by probing the
/// target's key index (only set when such an index exists).
pub(crate) const PREFER_INDEX_PROBES: &str =
    "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off";

pub(crate) fn next_epoch(wm: &str) -> String {
    format!("SELECT COALESCE(MAX(epoch), 0) + 1 FROM {wm} WHERE pipeline = $1")
}

/// Raises the epoch of each partition (`$2` topics, `$3` partitions) to `$4` unless a newer
/// one is stored; returns the rows it could claim with their next offset.
pub(crate) fn claim(wm: &str) -> String {
    format!(
        "INSERT INTO {wm} AS w (pipeline, topic, partition, next_offset, epoch)
         SELECT $1, u.topic, u.partition, NULL, $4
         FROM unnest($2::text[], $3::integer[]) AS u(topic, partition)
         ON CONFLICT (pipeline, topic, partition)
         DO UPDATE SET epoch = EXCLUDED.epoch, updated_at = now()
         WHERE w.epoch <= EXCLUDED.epoch
         RETURNING w.topic, w.partition, w.next_offset"
    )
}

pub(crate) fn stored_epoch(wm: &str) -> String {
    format!("SELECT epoch FROM {wm} WHERE pipeline = $1 AND topic = $2 AND partition = $3")
}

pub(crate) fn stored_watermark(wm: &str) -> String {
    format!(
        "SELECT epoch, next_offset FROM {wm} WHERE pipeline = $1 AND topic = $2 AND partition = $3"
    )
}

pub(crate) fn select_watermarks(wm: &str) -> String {
    format!(
        "SELECT topic, partition, next_offset, epoch FROM {wm} WHERE pipeline = $1
         ORDER BY topic, partition"
    )
}

/// Advances watermarks under the epoch guard: a row is written only if its stored epoch is
/// older, or equal with a next offset that does not go backwards. Returns the rows written;
/// fewer rows than sent means the merge must be rolled back.
pub(crate) fn advance_watermarks(wm: &str) -> String {
    format!(
        "INSERT INTO {wm} AS w (pipeline, topic, partition, next_offset, epoch, updated_at)
         SELECT $1, u.topic, u.partition, u.next_offset, u.epoch, now()
         FROM unnest($2::text[], $3::integer[], $4::bigint[], $5::bigint[])
              AS u(topic, partition, next_offset, epoch)
         ON CONFLICT (pipeline, topic, partition)
         DO UPDATE SET next_offset = EXCLUDED.next_offset, epoch = EXCLUDED.epoch, updated_at = now()
         WHERE w.epoch < EXCLUDED.epoch
            OR (w.epoch = EXCLUDED.epoch AND COALESCE(w.next_offset, -1) <= EXCLUDED.next_offset)
         RETURNING w.topic, w.partition"
    )
}

/// The SQL type a column is staged as: the column's own type (typmod included, so the COPY
/// itself checks `varchar(5)` or `numeric(10,2)` and names the row) where tidemark encodes it
/// in binary, text otherwise (cast to the column's type when inserted).
pub(crate) fn stage_type(column: &TargetColumn) -> &str {
    match column.ty {
        ColumnType::Other => "text",
        // `format_type` output from the catalog, the same text the casts use.
        _ => &column.sql_type,
    }
}

pub(crate) const STAGE: &str = "tidemark_stage";
pub(crate) const DELETE_FLAG: &str = "__tidemark_delete";

/// The statements of one table's merge, built once per (layout, key columns).
#[derive(Debug, Clone)]
pub(crate) struct MergeSql {
    pub create_stage: String,
    pub copy_in: String,
    pub analyze_stage: String,
    /// Empties the stage between the pieces of one merge.
    pub clear_stage: String,
    /// Deletes target rows whose key is staged; returns the number removed for delete winners.
    pub delete: String,
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
        let stage_columns: Vec<String> = layout
            .columns
            .iter()
            .map(|c| format!("{} {}", quote_ident(&c.name), stage_type(c)))
            .collect();
        let create_stage = format!(
            "CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ({flag} boolean NOT NULL, {}) ON COMMIT DELETE ROWS",
            stage_columns.join(", ")
        );
        let names: Vec<String> = layout
            .columns
            .iter()
            .map(|c| quote_ident(&c.name))
            .collect();
        let copy_in = format!(
            "COPY {stage} ({flag}, {}) FROM STDIN (FORMAT binary)",
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
        let delete = format!(
            "WITH d AS (DELETE FROM {target} AS t USING {stage} AS s WHERE {} RETURNING s.{flag} AS del)
             SELECT count(*) FILTER (WHERE del) FROM d",
            key_match.join(" AND ")
        );
        let values: Vec<String> = (0..layout.columns.len()).map(staged).collect();
        let insert = format!(
            "INSERT INTO {target} ({}) SELECT {} FROM {stage} AS s WHERE NOT s.{flag}",
            names.join(", "),
            values.join(", ")
        );
        Self {
            analyze_stage: format!("ANALYZE {stage}"),
            clear_stage: format!("TRUNCATE {stage}"),
            create_stage,
            copy_in,
            delete,
            insert,
            truncate: format!("DELETE FROM {target}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_with_doubled_quotes() {
        assert_eq!(quote_ident("plain"), "\"plain\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(
            quote_ident("Robert'); DROP TABLE x;--"),
            "\"Robert'); DROP TABLE x;--\""
        );
        let t = TableName::parse("My Schema.t\"1").unwrap();
        assert_eq!(quote_table(&t), "\"My Schema\".\"t\"\"1\"");
    }
}
