//! tidemark's own state on Redshift — the recorded table keys, the dead letters, the partition
//! claims and the description of a target — written without `ON CONFLICT`, `RETURNING`,
//! arrays, `unnest`, `to_regclass` or advisory locks. Pure text, like the rest of the dialect;
//! every value is a bound parameter.

use tidemark_model::TableName;

use crate::sql::{quote_ident, quote_table};

use super::watermarks_table;

/// `<schema>.table_keys`: the key columns each target is merged by, as a JSON array of names.
pub fn table_keys_table(schema: &str) -> TableName {
    TableName {
        schema: schema.to_string(),
        name: "table_keys".to_string(),
    }
}

/// `<schema>.dead_letters`: records that could not be applied, their bytes as read.
pub fn dead_letters_table(schema: &str) -> TableName {
    TableName {
        schema: schema.to_string(),
        name: "dead_letters".to_string(),
    }
}

/// `CREATE TABLE IF NOT EXISTS` of the table keys and the dead letters (the watermarks are
/// [`super::create_own_tables`]). A dead letter's key and value are `VARBYTE` (Redshift's
/// default length, 64,000 bytes), staged as hexadecimal text through `FROM_HEX`.
pub fn create_state_tables(schema: &str) -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {} (pipeline VARCHAR(256) NOT NULL, target VARCHAR(1024) \
             NOT NULL, key_columns VARCHAR(65535) NOT NULL, PRIMARY KEY (pipeline, target))",
            quote_table(&table_keys_table(schema))
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (pipeline VARCHAR(256) NOT NULL, target VARCHAR(1024) \
             NOT NULL, topic VARCHAR(1024) NOT NULL, \"partition\" INTEGER NOT NULL, \"offset\" \
             BIGINT NOT NULL, key VARBYTE, value VARBYTE, error VARCHAR(65535) NOT NULL, \
             failed_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP, \
             PRIMARY KEY (pipeline, topic, \"partition\", \"offset\"))",
            quote_table(&dead_letters_table(schema))
        ),
    ]
}

/// The statements of tidemark's own state, for one schema.
#[derive(Debug, Clone)]
pub struct StateSql {
    /// Locks the watermarks table for the transaction (claims and merges serialize on it).
    pub lock_watermarks: String,
    /// `$1` pipeline, `$2` topic, `$3` partition → epoch, next offset.
    pub stored_watermark: String,
    /// `$1` pipeline, `$2` topic, `$3` partition, `$4` epoch: raises a claimed row's epoch.
    pub claim_update: String,
    /// `$1` pipeline, `$2` topic, `$3` partition, `$4` epoch: a first claim.
    pub claim_insert: String,
    /// `$1` pipeline → the next epoch.
    pub next_epoch: String,
    /// `$1` pipeline → topic, partition, next offset, epoch.
    pub select_watermarks: String,
    /// `$1` pipeline, `$2` target → the recorded key (JSON array of names).
    pub stored_key: String,
    /// `$1` pipeline, `$2` target, `$3` key (JSON array of names).
    pub record_key: String,
    /// `$1` pipeline, `$2` topic, `$3` partition, `$4` offset: a dead letter written again
    /// (its batch re-applied after a watermark reset) replaces its earlier row.
    pub delete_dead_letter: String,
    /// `$1` pipeline, `$2` target, `$3` topic, `$4` partition, `$5` offset, `$6` key and `$7`
    /// value (hexadecimal), `$8` error.
    pub insert_dead_letter: String,
}

impl StateSql {
    pub fn new(schema: &str) -> Self {
        let wm = quote_table(&watermarks_table(schema));
        let keys = quote_table(&table_keys_table(schema));
        let dead = quote_table(&dead_letters_table(schema));
        let this = "pipeline = $1 AND topic = $2 AND \"partition\" = $3";
        Self {
            lock_watermarks: format!("LOCK {wm}"),
            stored_watermark: format!("SELECT epoch, next_offset FROM {wm} WHERE {this}"),
            claim_update: format!(
                "UPDATE {wm} SET epoch = $4, updated_at = CURRENT_TIMESTAMP WHERE {this}"
            ),
            claim_insert: format!(
                "INSERT INTO {wm} (pipeline, topic, \"partition\", next_offset, epoch) VALUES \
                 ($1, $2, $3, NULL, $4)"
            ),
            next_epoch: format!("SELECT COALESCE(MAX(epoch), 0) + 1 FROM {wm} WHERE pipeline = $1"),
            select_watermarks: format!(
                "SELECT topic, \"partition\", next_offset, epoch FROM {wm} WHERE pipeline = $1 \
                 ORDER BY topic, \"partition\""
            ),
            stored_key: format!(
                "SELECT key_columns FROM {keys} WHERE pipeline = $1 AND target = $2"
            ),
            record_key: format!(
                "INSERT INTO {keys} (pipeline, target, key_columns) VALUES ($1, $2, $3)"
            ),
            delete_dead_letter: format!(
                "DELETE FROM {dead} WHERE pipeline = $1 AND topic = $2 AND \"partition\" = $3 \
                 AND \"offset\" = $4"
            ),
            insert_dead_letter: format!(
                "INSERT INTO {dead} (pipeline, target, topic, \"partition\", \"offset\", key, \
                 value, error) VALUES ($1, $2, $3, $4, $5, FROM_HEX($6), FROM_HEX($7), $8)"
            ),
        }
    }

    /// Every statement, named (for the parser check).
    pub fn all(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("lock watermarks", &self.lock_watermarks),
            ("stored watermark", &self.stored_watermark),
            ("claim update", &self.claim_update),
            ("claim insert", &self.claim_insert),
            ("next epoch", &self.next_epoch),
            ("select watermarks", &self.select_watermarks),
            ("stored key", &self.stored_key),
            ("record key", &self.record_key),
            ("delete dead letter", &self.delete_dead_letter),
            ("insert dead letter", &self.insert_dead_letter),
        ]
    }
}

/// The columns of a table (`$1` schema, `$2` name) in order: name, SQL type, and the type's
/// name when it is a built-in one — from the catalog tables Redshift shares with PostgreSQL
/// (no `to_regclass`, `regnamespace` or `attgenerated`).
pub const DESCRIBE: &str = "SELECT CAST(a.attname AS VARCHAR(128)), \
     format_type(a.atttypid, a.atttypmod), \
     CASE WHEN tn.nspname = 'pg_catalog' THEN CAST(t.typname AS VARCHAR(128)) END \
     FROM pg_attribute a \
     JOIN pg_class c ON c.oid = a.attrelid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_type t ON t.oid = a.atttypid \
     JOIN pg_namespace tn ON tn.oid = t.typnamespace \
     WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
     ORDER BY a.attnum";

/// `CREATE SCHEMA IF NOT EXISTS` of a target's schema (before `auto_create` makes it).
pub fn create_schema(table: &TableName) -> String {
    format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(&table.schema))
}
