//! Schema set-up: each target table is described once at start, and its layout (columns,
//! types, renames, unmanaged columns) is what every owner and merger of the table uses.

use std::collections::HashMap;
use std::sync::Arc;

use tidemark_debezium::TableDecoder;
use tidemark_model::{source_field, LayoutError, TableLayout, SOFT_DELETE_COLUMNS};
use tidemark_ports::Warehouse;

use crate::spec::TableSpec;
use crate::PipelineError;

/// Prepares tidemark's own schema, describes every target and checks its key settings, before
/// anything is read.
pub(crate) async fn layouts(
    tables: &[TableSpec],
    warehouse: &dyn Warehouse,
) -> Result<HashMap<String, Arc<TableLayout>>, PipelineError> {
    warehouse.prepare().await?;
    let mut layouts = HashMap::new();
    for t in tables {
        let columns = warehouse.describe(&t.target).await?;
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
        let mut layout =
            TableLayout::from_target(t.target.clone(), columns, &t.renames, &unmanaged)?;
        layout.soft_delete = t.soft_delete;
        let layout = Arc::new(layout);
        // A configured key is decided by building a decoder.
        decoder(t, &layout)?;
        // The key recorded by an earlier merge (of any replica) decides a message-keyed table
        // at start; a configured key must equal it.
        if let Some(recorded) = warehouse.stored_key(&t.target).await? {
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
        }
        layouts.insert(t.topic.clone(), layout);
    }
    Ok(layouts)
}

/// A decoder of the table's records (each owner has its own).
pub(crate) fn decoder(
    t: &TableSpec,
    layout: &Arc<TableLayout>,
) -> Result<TableDecoder, PipelineError> {
    TableDecoder::new(layout.clone(), t.key.clone(), t.decode).map_err(|source| {
        PipelineError::KeySetup {
            topic: t.topic.clone(),
            source: Box::new(source),
        }
    })
}
