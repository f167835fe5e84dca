//! Schema set-up: each target table is described once at start, and its layout (columns,
//! types, renames, unmanaged columns) is what every owner and merger of the table uses.

use std::collections::HashMap;
use std::sync::Arc;

use tidemark_debezium::TableDecoder;
use tidemark_model::{
    source_field, ColumnRules, ColumnType, LayoutCell, LayoutError, TableLayout,
    SOFT_DELETE_COLUMNS,
};
use tidemark_ports::Warehouse;

use crate::spec::TableSpec;
use crate::PipelineError;

/// Prepares tidemark's own schema, describes every target and checks its key settings, before
/// anything is read. A target that does not exist is created from the first record's schema
/// when the table has `auto_create`.
pub(crate) async fn layouts(
    tables: &[TableSpec],
    warehouse: &dyn Warehouse,
) -> Result<HashMap<String, Arc<LayoutCell>>, PipelineError> {
    warehouse.prepare().await?;
    let mut layouts = HashMap::new();
    for t in tables {
        if let Some(raw) = &t.raw_table {
            warehouse.prepare_landing(raw).await?;
        }
        let described = warehouse.describe(&t.target).await?;
        let exists = described.is_some();
        let cell = table_layout(t, described)?;
        // A target still to be created has no recorded key: its first merge records one.
        if exists {
            if let Some(recorded) = warehouse.stored_key(&t.target).await? {
                adopt_recorded_key(t, &cell, recorded)?;
            }
        }
        layouts.insert(t.topic.clone(), cell);
    }
    Ok(layouts)
}

/// The layout of one table from its target's description (`None`: no such table) and its
/// config: renames, unmanaged columns, filtered fields and soft-delete markers left alone, a
/// configured key decided. Shared by the pipeline and `tidemark sql`, so the dry run shows
/// the layout the run would merge by.
pub fn table_layout(
    t: &TableSpec,
    described: Option<Vec<(String, ColumnType, String)>>,
) -> Result<Arc<LayoutCell>, PipelineError> {
    // What a new source field's column is, for a layout that evolves.
    let mut left_alone = t.unmanaged.clone();
    if t.soft_delete {
        left_alone.extend(SOFT_DELETE_COLUMNS.map(String::from));
    }
    let rules = ColumnRules {
        renames: t.renames.clone(),
        unmanaged: left_alone,
        fields: t.fields.clone(),
    };
    let Some(columns) = described else {
        if !t.evolution.auto_create {
            return Err(PipelineError::Layout(LayoutError::MissingTable {
                table: t.target.clone(),
            }));
        }
        let mut layout = TableLayout::pending(t.target.clone());
        layout.soft_delete = t.soft_delete;
        let cell = Arc::new(LayoutCell::new(layout, t.evolution, rules));
        decoder(t, &cell)?;
        return Ok(cell);
    };
    // A column whose source field is filtered out is left alone, like an unmanaged one.
    let mut unmanaged = t.unmanaged.clone();
    for (name, _, _) in &columns {
        if !t.fields.admits(source_field(&t.renames, name)) && !unmanaged.contains(name) {
            unmanaged.push(name.clone());
        }
    }
    if t.soft_delete {
        for marker in SOFT_DELETE_COLUMNS {
            if !columns.iter().any(|(n, _, _)| n == marker) {
                return Err(PipelineError::Layout(
                    LayoutError::SoftDeleteColumnMissing {
                        table: t.target.clone(),
                        column: marker.to_string(),
                    },
                ));
            }
            if !unmanaged.iter().any(|u| u == marker) {
                unmanaged.push(marker.to_string());
            }
        }
    }
    let mut layout = TableLayout::from_target(t.target.clone(), columns, &t.renames, &unmanaged)?;
    layout.soft_delete = t.soft_delete;
    let cell = Arc::new(LayoutCell::new(layout, t.evolution, rules));
    // A configured key is decided by building a decoder.
    decoder(t, &cell)?;
    Ok(cell)
}

/// The key recorded by an earlier merge (of any replica) decides a message-keyed table at
/// start; a configured key must equal it.
pub fn adopt_recorded_key(
    t: &TableSpec,
    cell: &LayoutCell,
    recorded: Vec<String>,
) -> Result<(), PipelineError> {
    let layout = cell.current();
    let mut columns = layout.columns_named(&recorded)?;
    columns.sort_unstable();
    let decided = layout.decide_key(columns.clone());
    if decided != columns.as_slice() {
        return Err(PipelineError::KeyChanged {
            table: t.target.clone(),
            recorded,
            configured: decided
                .iter()
                .filter_map(|&i| layout.columns.get(i).map(|c| c.name.clone()))
                .collect(),
        });
    }
    Ok(())
}

/// A decoder of the table's records (each owner has its own).
pub(crate) fn decoder(
    t: &TableSpec,
    layout: &Arc<LayoutCell>,
) -> Result<TableDecoder, PipelineError> {
    TableDecoder::new(layout.clone(), t.key.clone(), t.decode).map_err(|source| {
        PipelineError::KeySetup {
            topic: t.topic.clone(),
            source: Box::new(source),
        }
    })
}
