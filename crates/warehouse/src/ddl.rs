//! Making a target table match its layout (`auto_create`, `auto_evolve`): created from the
//! layout, columns added, columns widened — in the transaction of the merge that needs them,
//! so a batch and the schema it was decoded under commit together or not at all.
//!
//! Column types in this DDL are never input: they are the fixed spellings tidemark maps
//! Connect types to (`tidemark_debezium`'s column types), or what `format_type` described.

use tidemark_model::{fit, Fit, TableLayout, SOFT_DELETE_COLUMNS};
use tidemark_ports::WarehouseError;
use tokio_postgres::Transaction;

use crate::{classify, described_columns, quote_ident, quote_table, sql};

/// What making the target match did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Synced {
    /// The table was created, with the key as its primary key.
    Created,
    /// Columns were added or widened, or nothing was needed.
    Matching,
    /// The table does not exist and cannot be created yet: its key is not decided.
    Deferred,
}

/// Makes the target have every column of `layout`, as wide as the layout says. Replicas that
/// do this at once for one table take turns (a transaction-scoped advisory lock), so a second
/// one finds the first one's table or columns.
pub(crate) async fn sync_target(
    tx: &Transaction<'_>,
    layout: &TableLayout,
) -> Result<Synced, WarehouseError> {
    let target = quote_table(&layout.table);
    let ctx = "changing the target's schema";
    tx.execute(sql::LOCK_SCHEMA_CHANGES, &[&target])
        .await
        .map_err(|e| classify(e, ctx))?;
    let rows = tx
        .query(sql::DESCRIBE, &[&target])
        .await
        .map_err(|e| classify(e, ctx))?;
    let existing = described_columns(&rows)?;
    if existing.is_empty() {
        let Some(key) = layout.key() else {
            return Ok(Synced::Deferred);
        };
        // Tables of one new schema may be created at once by their mergers: one creates it.
        tx.execute(
            sql::LOCK_SCHEMA_CHANGES,
            &[&quote_ident(&layout.table.schema)],
        )
        .await
        .map_err(|e| classify(e, ctx))?;
        let schema_exists: bool = tx
            .query_one(sql::SCHEMA_EXISTS, &[&layout.table.schema])
            .await
            .map_err(|e| classify(e, ctx))
            .and_then(|row| crate::column(&row, 0, ctx))?;
        if !schema_exists {
            tx.batch_execute(&format!(
                "CREATE SCHEMA {}",
                quote_ident(&layout.table.schema)
            ))
            .await
            .map_err(|e| classify(e, "creating the target's schema (auto_create)"))?;
        }
        tx.batch_execute(&create_table(layout, key))
            .await
            .map_err(|e| classify(e, "creating the target table (auto_create)"))?;
        tracing::info!(table = %layout.table, columns = layout.columns.len(), "created the target table from the records' schema");
        return Ok(Synced::Created);
    }
    let mut alters = Vec::new();
    for column in &layout.columns {
        let name = quote_ident(&column.name);
        match existing.iter().find(|c| c.name == column.name) {
            None => alters.push(format!("ADD COLUMN {name} {}", column.sql_type)),
            Some(have) => {
                if let Fit::Widen { sql_type, .. } = fit(have, column) {
                    alters.push(format!("ALTER COLUMN {name} TYPE {sql_type}"));
                }
            }
        }
    }
    if !alters.is_empty() {
        tx.batch_execute(&format!("ALTER TABLE {target} {}", alters.join(", ")))
            .await
            .map_err(|e| classify(e, "changing the target table (auto_evolve)"))?;
        tracing::info!(table = %layout.table, changes = ?alters, "changed the target table for the records' schema");
    }
    Ok(Synced::Matching)
}

/// `CREATE TABLE` for the layout: its columns (nullable but the key's), the key as primary
/// key, and the soft-delete markers when deletes are soft.
pub(crate) fn create_table(layout: &TableLayout, key: &[usize]) -> String {
    let mut columns: Vec<String> = layout
        .columns
        .iter()
        .map(|c| format!("{} {}", quote_ident(&c.name), c.sql_type))
        .collect();
    if layout.soft_delete {
        let [deleted, deleted_at] = SOFT_DELETE_COLUMNS.map(quote_ident);
        columns.push(format!("{deleted} boolean NOT NULL DEFAULT false"));
        columns.push(format!("{deleted_at} timestamp with time zone"));
    }
    let key: Vec<String> = key
        .iter()
        .filter_map(|&i| layout.columns.get(i))
        .map(|c| quote_ident(&c.name))
        .collect();
    columns.push(format!("PRIMARY KEY ({})", key.join(", ")));
    format!(
        "CREATE TABLE {} ({})",
        quote_table(&layout.table),
        columns.join(", ")
    )
}
