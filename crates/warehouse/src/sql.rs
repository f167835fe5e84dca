//! Every SQL text tidemark sends. Identifiers go through [`quote_ident`] only; values are
//! always bound parameters or COPY data, never spliced in.

use tidemark_model::{ColumnType, TableName, TargetColumn};

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

pub(crate) fn dead_letters_table(schema: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident("dead_letters"))
}

/// Writes a batch's dead letters. `$1` pipeline, `$2` target, then per letter arrays of topic,
/// partition, offset, key, value and error. A record written again (its batch re-applied
/// after a watermark reset) replaces its earlier row.
pub(crate) fn insert_dead_letters(table: &str) -> String {
    format!(
        "INSERT INTO {table} AS d (pipeline, target, topic, partition, \"offset\", key, value, error)
         SELECT $1, $2, u.topic, u.partition, u.off, u.key, u.value, u.error
         FROM unnest($3::text[], $4::integer[], $5::bigint[], $6::bytea[], $7::bytea[], $8::text[])
              AS u(topic, partition, off, key, value, error)
         ON CONFLICT (pipeline, topic, partition, \"offset\")
         DO UPDATE SET target = EXCLUDED.target, key = EXCLUDED.key, value = EXCLUDED.value,
                       error = EXCLUDED.error, failed_at = now()"
    )
}

/// A raw landing table (`raw_table`): every record of a topic as read, like a streaming
/// materialized view's landing table, written in the merge's transaction.
pub(crate) fn create_landing(table: &TableName) -> [String; 3] {
    let t = quote_table(table);
    [
        format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(&table.schema)),
        format!(
            "CREATE TABLE IF NOT EXISTS {t} (
                topic           text        NOT NULL,
                \"partition\"     integer     NOT NULL,
                \"offset\"        bigint      NOT NULL,
                kafka_timestamp timestamptz,
                key             bytea,
                value           jsonb,
                headers         jsonb,
                op              text,
                applied_at      timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (topic, \"partition\", \"offset\")
            )"
        ),
        format!(
            "COMMENT ON TABLE {t} IS 'tidemark: every record of its topics as read (raw_table), \
             written in the transaction that applied it; value NULL for a tombstone'"
        ),
    ]
}

/// Writes landed records: per record arrays of topic, partition, offset, Kafka timestamp
/// (ms), key, value (JSON text) and headers (JSON text). `op` is read from the value (either
/// envelope). A record landed again (its batch re-applied after a watermark reset) is kept
/// once.
pub(crate) fn insert_landed(table: &TableName) -> String {
    format!(
        "INSERT INTO {} (topic, \"partition\", \"offset\", kafka_timestamp, key, value, headers, op)
         SELECT u.topic, u.p, u.o, to_timestamp(u.ts / 1000.0), u.k, u.v, u.h,
                coalesce(u.v->'payload'->>'op', u.v->>'op')
         FROM (SELECT topic, p, o, ts, k, v::jsonb AS v, h::jsonb AS h
               FROM unnest($1::text[], $2::integer[], $3::bigint[], $4::bigint[], $5::bytea[],
                           $6::text[], $7::text[]) AS x(topic, p, o, ts, k, v, h)) AS u
         ON CONFLICT (topic, \"partition\", \"offset\") DO NOTHING",
        quote_table(table)
    )
}

/// Serializes tidemark's own DDL across replicas (`CREATE … IF NOT EXISTS` alone races on the
/// catalog).
pub(crate) const LOCK_PREPARE: &str = "SELECT pg_advisory_xact_lock(7361826353)";

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
    let dead = dead_letters_table(schema);
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
            "CREATE TABLE IF NOT EXISTS {dead} (
                pipeline    text        NOT NULL,
                target      text        NOT NULL,
                topic       text        NOT NULL,
                partition   integer     NOT NULL,
                \"offset\"    bigint      NOT NULL,
                key         bytea,
                value       bytea,
                error       text        NOT NULL,
                failed_at   timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (pipeline, topic, partition, \"offset\")
            )"
        ),
        format!(
            "COMMENT ON TABLE {dead} IS 'tidemark: records that could not be applied \
             (errors.mode = dead_letter), their key and value bytes as read and why, written in \
             the transaction that advanced past them'"
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

/// The primary key columns of a table (`$1` schema, `$2` name), in key order: from the
/// `information_schema` views PostgreSQL and Redshift both have (Redshift records the key
/// without enforcing it).
pub(crate) const PRIMARY_KEY: &str = "SELECT CAST(k.column_name AS VARCHAR(128)) \
     FROM information_schema.table_constraints c \
     JOIN information_schema.key_column_usage k ON k.constraint_schema = c.constraint_schema \
       AND k.constraint_name = c.constraint_name AND k.table_schema = c.table_schema \
       AND k.table_name = c.table_name \
     WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = CAST($1 AS VARCHAR(128)) \
       AND c.table_name = CAST($2 AS VARCHAR(128)) \
     ORDER BY k.ordinal_position";

/// Serializes the schema changes of one target (`$1`, its quoted name) across replicas and
/// mergers, until the transaction ends; with a quoted schema name, the creation of the schema.
pub(crate) const LOCK_SCHEMA_CHANGES: &str =
    "SELECT pg_advisory_xact_lock(hashtext('tidemark schema change ' || $1::text))";

/// Whether the schema (`$1`, its name) exists.
pub(crate) const SCHEMA_EXISTS: &str =
    "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)";

/// What the indexes of the table (`$1`, quoted name) offer a merge by the key columns
/// (`$2`): whether one has only key columns as its key columns (deleting by key can probe
/// it), and whether one can arbitrate `ON CONFLICT` on exactly the key (unique, immediate,
/// not partial, no expressions, its key columns the key's).
pub(crate) const KEY_INDEXES: &str = "
    SELECT coalesce(bool_or(k.covers), false), coalesce(bool_or(k.covers AND k.arbiter), false),
           current_setting('server_version_num')::int >= 150000
    FROM (SELECT (SELECT bool_and(a.attname = ANY($2::text[]))
                  FROM pg_attribute a
                  WHERE a.attrelid = i.indrelid
                    AND a.attnum = ANY((i.indkey::int2[])[0:i.indnkeyatts - 1])) AS covers,
                 i.indisunique AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL
                   AND i.indnkeyatts = cardinality($2::text[]) AS arbiter
          FROM pg_index i
          WHERE i.indrelid = to_regclass($1) AND i.indnkeyatts > 0) AS k";

/// The table's (`$1`, quoted name) writable columns: not dropped, not generated.
pub(crate) const WRITABLE_COLUMNS: &str = "
    SELECT a.attname::text FROM pg_attribute a
    WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attgenerated = ''
    ORDER BY a.attnum";

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
/// The stage column listing, per staged row, the layout columns whose value the source did not
/// send (unchanged TOASTed values): NULL when it sent them all.
pub(crate) const UNAVAILABLE: &str = "__tidemark_unavailable";

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
