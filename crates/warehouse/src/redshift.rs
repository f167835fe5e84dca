//! Amazon Redshift's statements: the DDL, the staging, the merge and the fenced watermark
//! update, written without what Redshift lacks (`COPY FROM STDIN`, `ON CONFLICT`, `RETURNING`,
//! `TRUNCATE` inside a transaction — it commits —, temp tables `ON COMMIT`, jsonb/uuid/array
//! types, `unnest`, `= ANY(array)`, `::` casts).
//!
//! The statements here (and in [`state`]) are pure text; `writer` (the merge) and `ops`
//! (everything else) run them. They are also valid PostgreSQL (`CURRENT_TIMESTAMP`, not
//! `GETDATE()`; parameters cast where PostgreSQL cannot infer their type), so that the Redshift
//! path can be run against PostgreSQL by the oracle tests. They keep the PostgreSQL merge's
//! shape (stage, delete the staged keys, insert the non-delete winners, advance the watermark
//! under the epoch guard, one transaction), so the ranking, the fencing rule and exactly-once
//! stay the shared ones; only how each step is spelled differs. Each merge `LOCK`s its target,
//! then the watermarks table: Redshift's serializable isolation would otherwise abort one of
//! two concurrent writers (error 1023) instead of making it wait.
//!
//! Identifiers are quoted through [`quote_ident`] and keep their case: every session sets
//! `enable_case_sensitive_identifier`, so mixed-case names work without a parameter-group
//! change. Values are always bound (`$n`), never spliced.

use std::collections::BTreeMap;

use tidemark_model::{ColumnType, TableLayout, TableName, TargetColumn};

use crate::sql::{quote_ident, quote_table, DELETE_FLAG, STAGE};

pub(crate) mod ops;
mod param;
pub mod state;
mod writer;

pub(crate) use writer::RedshiftTableWriter;

/// What the Redshift dialect needs beyond the connection: how rows are staged and each
/// table's physical options.
#[derive(Debug, Clone, Default)]
pub struct RedshiftSettings {
    pub staging: Staging,
    /// `DISTSTYLE`/`DISTKEY`/`SORTKEY`/`ENCODE` of the tables `auto_create` makes.
    pub tables: BTreeMap<TableName, TableOptions>,
}

pub use crate::s3_stage::{S3Settings, DEFAULT_MAX_FILE_BYTES};

/// How a batch's rows reach the temp stage.
#[derive(Debug, Clone, Default)]
pub enum Staging {
    /// Multi-row `INSERT … VALUES`, values bound as text parameters.
    #[default]
    Insert,
    /// gzip CSV files in S3 and one `COPY … MANIFEST` per piece; the files are deleted once
    /// the merge's transaction has ended, committed or not.
    S3(S3Settings),
}

/// Run once per session, before any other statement.
pub const SESSION_SETUP: &str = "SET enable_case_sensitive_identifier TO true";

pub use tidemark_model::{
    REDSHIFT_MAX_DECIMAL_PRECISION as MAX_DECIMAL_PRECISION,
    REDSHIFT_MAX_VARBYTE_BYTES as MAX_VARBYTE_BYTES,
    REDSHIFT_MAX_VARCHAR_BYTES as MAX_VARCHAR_BYTES,
    REDSHIFT_UNBOUNDED_DECIMAL_SCALE as UNBOUNDED_DECIMAL_SCALE,
};
/// Bind parameters of one statement: the protocol's limit (an `i16` count).
pub const MAX_PARAMETERS: usize = 32_767;
/// Redshift's limit on one statement's text, 16 MB; staging statements stay well under it.
pub const MAX_STATEMENT_BYTES: usize = 16 << 20;

/// A type Redshift cannot hold losslessly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column:?} ({sql_type}): {reason}")]
pub struct TypeError {
    pub column: String,
    pub sql_type: String,
    pub reason: String,
}

/// Per-table physical options of `CREATE TABLE` (from config).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// `DISTSTYLE` (`AUTO`, `EVEN`, `KEY`, `ALL`); `KEY` needs `distkey`.
    pub diststyle: Option<String>,
    /// `DISTKEY` column.
    pub distkey: Option<String>,
    /// `SORTKEY` columns (compound).
    pub sortkey: Vec<String>,
    /// `ENCODE` per column (`AZ64`, `ZSTD`, `LZO`, `RAW`, …).
    pub encode: Vec<(String, String)>,
}

/// The Redshift type of a target column described in PostgreSQL's terms (what the Debezium
/// schema maps to): integers and floats as they are, `DECIMAL` up to 38 digits, `VARCHAR`
/// sized in bytes, `SUPER` for JSON and arrays, `CHAR(36)` for UUIDs, `VARBYTE` for bytes.
pub fn column_type(c: &TargetColumn) -> Result<String, TypeError> {
    let fail = |reason: String| TypeError {
        column: c.name.clone(),
        sql_type: c.sql_type.clone(),
        reason,
    };
    let mods = c.type_modifiers();
    Ok(match c.ty {
        ColumnType::Bool => "BOOLEAN".into(),
        ColumnType::Int16 => "SMALLINT".into(),
        ColumnType::Int32 => "INTEGER".into(),
        ColumnType::Int64 => "BIGINT".into(),
        ColumnType::Float32 => "REAL".into(),
        ColumnType::Float64 => "DOUBLE PRECISION".into(),
        ColumnType::Numeric => match tidemark_model::redshift_decimal(c) {
            Some((p, scale)) => format!("DECIMAL({p},{scale})"),
            None => {
                return Err(fail(format!(
                    "Redshift's DECIMAL holds at most {MAX_DECIMAL_PRECISION} digits; store it as \
                     a string (decimal_handling = \"string\") or exclude the column"
                )))
            }
        },
        ColumnType::Text => {
            // The declared length becomes the byte count: values longer in bytes do not fit
            // and say so (see `tidemark_model::Capacity`).
            let bytes = tidemark_model::redshift_text_bytes(c);
            if c.sql_type.starts_with("character(") || c.sql_type.starts_with("char(") {
                format!("CHAR({bytes})")
            } else {
                format!("VARCHAR({bytes})")
            }
        }
        ColumnType::Bytes => format!("VARBYTE({MAX_VARBYTE_BYTES})"),
        ColumnType::Date => "DATE".into(),
        ColumnType::Time => "TIME".into(),
        ColumnType::TimeTz => "TIMETZ".into(),
        ColumnType::Timestamp => "TIMESTAMP".into(),
        ColumnType::TimestampTz => "TIMESTAMPTZ".into(),
        ColumnType::Interval => "INTERVAL DAY TO SECOND".into(),
        ColumnType::Uuid => "CHAR(36)".into(),
        ColumnType::Json | ColumnType::Jsonb | ColumnType::Array(_) => "SUPER".into(),
        ColumnType::Bits => match mods.as_slice() {
            [n, ..] if *n <= MAX_VARCHAR_BYTES => format!("VARCHAR({n})"),
            _ => format!("VARCHAR({MAX_VARCHAR_BYTES})"),
        },
        ColumnType::Other => format!("VARCHAR({MAX_VARCHAR_BYTES})"),
    })
}

/// How a staged value becomes the column's: `SUPER` columns are staged as JSON text and
/// parsed by `JSON_PARSE`, `VARBYTE` columns as hexadecimal text read by `FROM_HEX` (the one
/// text form both staging modes can carry); everything else is staged in its own type.
fn stage_type(target_type: &str) -> &str {
    if target_type == "SUPER" || target_type.starts_with("VARBYTE") {
        "VARCHAR(65535)"
    } else {
        target_type
    }
}

/// The staged column (`staged`, qualified) as the target column's value.
fn from_stage(staged: &str, target_type: &str) -> String {
    if target_type == "SUPER" {
        format!("JSON_PARSE({staged})")
    } else if target_type.starts_with("VARBYTE") {
        format!("FROM_HEX({staged})")
    } else {
        staged.to_string()
    }
}

/// `CREATE TABLE` for a layout: its columns (nullable but the key's), the key as an
/// informational `PRIMARY KEY` (Redshift does not enforce it: tidemark's merge keeps keys
/// unique), and the table's physical options.
pub fn create_table(
    layout: &TableLayout,
    key_columns: &[usize],
    options: &TableOptions,
) -> Result<String, TypeError> {
    let mut columns = Vec::with_capacity(layout.columns.len() + 1);
    for (i, c) in layout.columns.iter().enumerate() {
        let mut def = format!("{} {}", quote_ident(&c.name), column_type(c)?);
        if let Some((_, encoding)) = options.encode.iter().find(|(col, _)| *col == c.name) {
            def.push_str(&format!(" ENCODE {}", keyword(encoding)));
        }
        if key_columns.contains(&i) {
            def.push_str(" NOT NULL");
        }
        columns.push(def);
    }
    if !key_columns.is_empty() {
        let key: Vec<String> = key_columns
            .iter()
            .map(|&i| quote_ident(&layout.columns[i].name))
            .collect();
        columns.push(format!("PRIMARY KEY ({})", key.join(", ")));
    }
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS {} ({})",
        quote_table(&layout.table),
        columns.join(", ")
    );
    if let Some(style) = &options.diststyle {
        sql.push_str(&format!(" DISTSTYLE {}", keyword(style)));
    }
    if let Some(key) = &options.distkey {
        sql.push_str(&format!(" DISTKEY ({})", quote_ident(key)));
    }
    if !options.sortkey.is_empty() {
        let cols: Vec<String> = options.sortkey.iter().map(|c| quote_ident(c)).collect();
        sql.push_str(&format!(" SORTKEY ({})", cols.join(", ")));
    }
    Ok(sql)
}

/// A keyword from config (`EVEN`, `AZ64`): letters, digits and `_` only, upper-cased; anything
/// else is replaced so that config can never inject SQL (config validation rejects it first).
fn keyword(word: &str) -> String {
    word.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_ascii_uppercase()
}

/// The statements of one table's merge on Redshift.
#[derive(Debug, Clone)]
pub struct MergeSql {
    /// The session's stage (a temp table lives until the session ends).
    pub create_stage: String,
    /// Drops the stage of an earlier layout (or none).
    pub drop_stage: String,
    /// Empties the stage at the start of each merge (`DELETE`: `TRUNCATE` would commit).
    pub clear_stage: String,
    /// `INSERT INTO stage … VALUES ($1, …), (…)` for `rows` rows: see [`MergeSql::stage_rows`].
    stage_prefix: String,
    /// Columns per staged row (the delete flag and the layout's).
    pub stage_width: usize,
    /// Serializes writers of the target for the transaction (the watermarks table is locked
    /// later, just before tidemark's own tables are written: see the writer).
    pub lock: String,
    /// Counts delete winners whose row exists (the rows a delete removes).
    pub count_deleted: String,
    /// Deletes every target row whose key is staged.
    pub delete: String,
    /// Inserts the non-delete winners.
    pub insert: String,
    /// Empties the target (a source truncate), inside the transaction.
    pub truncate: String,
}

impl MergeSql {
    pub fn new(layout: &TableLayout, key_columns: &[usize]) -> Result<Self, TypeError> {
        let target = quote_table(&layout.table);
        let stage = quote_ident(STAGE);
        let flag = quote_ident(DELETE_FLAG);
        let types: Vec<String> = layout
            .columns
            .iter()
            .map(column_type)
            .collect::<Result<_, _>>()?;
        let stage_columns: Vec<String> = layout
            .columns
            .iter()
            .zip(&types)
            .map(|(c, t)| format!("{} {}", quote_ident(&c.name), stage_type(t)))
            .collect();
        let names: Vec<String> = layout
            .columns
            .iter()
            .map(|c| quote_ident(&c.name))
            .collect();
        // `left.k = right.k AND …` over the key columns.
        let key_match = |left: &str, right: &str| -> String {
            key_columns
                .iter()
                .map(|&i| {
                    let col = quote_ident(&layout.columns[i].name);
                    let staged = from_stage(&format!("{right}.{col}"), &types[i]);
                    format!("{left}.{col} = {staged}")
                })
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        let values: Vec<String> = names
            .iter()
            .zip(&types)
            .map(|(n, t)| from_stage(&format!("s.{n}"), t))
            .collect();
        Ok(Self {
            create_stage: format!(
                "CREATE TEMP TABLE {stage} ({flag} BOOLEAN NOT NULL, {})",
                stage_columns.join(", ")
            ),
            drop_stage: format!("DROP TABLE IF EXISTS {stage}"),
            clear_stage: format!("DELETE FROM {stage}"),
            stage_prefix: format!("INSERT INTO {stage} ({flag}, {}) VALUES ", names.join(", ")),
            stage_width: layout.columns.len() + 1,
            lock: format!("LOCK {target}"),
            count_deleted: format!(
                "SELECT COUNT(*) FROM {stage} AS s WHERE s.{flag} AND EXISTS \
                 (SELECT 1 FROM {target} AS t WHERE {})",
                key_match("t", "s")
            ),
            // Redshift's `DELETE … USING` takes no aliases: columns are named by their tables.
            delete: format!(
                "DELETE FROM {target} USING {stage} WHERE {}",
                key_match(&target, &stage)
            ),
            insert: format!(
                "INSERT INTO {target} ({}) SELECT {} FROM {stage} AS s WHERE NOT s.{flag}",
                names.join(", "),
                values.join(", ")
            ),
            truncate: format!("DELETE FROM {target}"),
        })
    }

    /// How many rows one staging statement carries: under the protocol's parameter limit and
    /// (at `row_bytes` of values per row) well under Redshift's statement size.
    pub fn rows_per_statement(&self, row_bytes: usize) -> usize {
        let by_parameters = MAX_PARAMETERS / self.stage_width.max(1);
        let by_size = (MAX_STATEMENT_BYTES / 2) / row_bytes.max(1);
        by_parameters.min(by_size).max(1)
    }

    /// The staging statement for `rows` rows, parameters numbered row by row.
    pub fn stage_rows(&self, rows: usize) -> String {
        let mut sql = self.stage_prefix.clone();
        let mut n = 0;
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 0..self.stage_width {
                if c > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                sql.push_str(&format!("${n}"));
            }
            sql.push(')');
        }
        sql
    }
}

/// tidemark's own tables, Redshift-style (keys informational, no `ON CONFLICT` targets).
pub fn create_own_tables(schema: &str) -> Vec<String> {
    let wm = watermarks_table(schema);
    vec![
        format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema)),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (pipeline VARCHAR(256) NOT NULL, topic VARCHAR(1024) \
             NOT NULL, \"partition\" INTEGER NOT NULL, next_offset BIGINT, epoch BIGINT NOT NULL, \
             updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP, \
             PRIMARY KEY (pipeline, topic, \"partition\"))",
            quote_table(&wm)
        ),
    ]
}

/// `tidemark.watermarks` of `schema`.
pub fn watermarks_table(schema: &str) -> TableName {
    TableName {
        schema: schema.to_string(),
        name: "watermarks".to_string(),
    }
}

/// The watermark update, for one partition (`$1` pipeline, `$2` topic, `$3` partition, `$4`
/// next offset, `$5` epoch), run under the watermarks' `LOCK` once the stored row
/// ([`state::StateSql::stored_watermark`]) passed the fencing rule (`crate::fence`): `update`
/// writes an existing row, `insert` creates a missing one.
#[derive(Debug, Clone)]
pub struct WatermarkSql {
    pub update: String,
    pub insert: String,
}

impl WatermarkSql {
    pub fn new(schema: &str) -> Self {
        let wm = quote_table(&watermarks_table(schema));
        let this = "pipeline = $1 AND topic = $2 AND \"partition\" = $3";
        Self {
            update: format!(
                "UPDATE {wm} SET next_offset = $4, epoch = $5, updated_at = CURRENT_TIMESTAMP \
                 WHERE {this}"
            ),
            insert: format!(
                "INSERT INTO {wm} (pipeline, topic, \"partition\", next_offset, epoch) \
                 SELECT CAST($1 AS VARCHAR(256)), CAST($2 AS VARCHAR(1024)), CAST($3 AS INTEGER), \
                 CAST($4 AS BIGINT), CAST($5 AS BIGINT) \
                 WHERE NOT EXISTS (SELECT 1 FROM {wm} WHERE {this})"
            ),
        }
    }
}

#[cfg(test)]
mod tests;
