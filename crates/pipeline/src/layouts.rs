//! Schema set-up: each target table is described once at start, and its layout (columns,
//! types, renames, unmanaged columns) is what every owner and merger of the table uses.

use std::collections::HashMap;
use std::sync::Arc;

use tidemark_debezium::TableDecoder;
use tidemark_model::TableLayout;
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
        let layout = Arc::new(TableLayout::from_target(
            t.target.clone(),
            columns,
            &t.renames,
            &t.unmanaged,
        )?);
        decoder(t, &layout)?;
        layouts.insert(t.topic.clone(), layout);
    }
    Ok(layouts)
}

/// A decoder of the table's records (each owner has its own).
pub(crate) fn decoder(
    t: &TableSpec,
    layout: &Arc<TableLayout>,
) -> Result<TableDecoder, PipelineError> {
    TableDecoder::new(layout.clone(), t.key.clone()).map_err(|source| PipelineError::KeySetup {
        topic: t.topic.clone(),
        source: Box::new(source),
    })
}
