//! Applying one piece of an upsert without the stage: the winners' values bound as one array
//! per column ([`BoundSql`]). A value the server refuses is found through the stage after the
//! rollback ([`diagnose`]), so its error names the record as the stage's COPY does.

use tidemark_model::{Change, RowOp, TableLayout, Value};
use tidemark_ports::WarehouseError;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Transaction};
use tracing::Instrument;

use crate::cell::{array_of, stage_pg_type, Cell};
use crate::classify;
use crate::convert::to_cell;
use crate::diagnose::{cast_failure, Applying};
use crate::merge_sql::{BoundSql, MergeSql};
use crate::stage;

/// Whether the piece can skip the stage: every column's stage type has an array type, and
/// every value of its upserts was sent (the others are filled from the target row through the
/// stage).
pub(crate) fn fits(layout: &TableLayout, changes: &[Change]) -> bool {
    let typed = layout
        .columns
        .iter()
        .all(|c| array_of(&stage_pg_type(c)).is_some());
    typed
        && changes.iter().all(|c| match &c.op {
            RowOp::Upsert(values) => !values.iter().any(|v| matches!(v, Value::Unavailable)),
            RowOp::Delete => true,
        })
}

/// What a bound piece did: rows removed for delete winners, rows upserted.
pub(crate) struct Applied {
    pub deletes: u64,
    pub upserts: u64,
}

/// A bound statement failed: which one, and the server's error.
pub(crate) struct Failed {
    pub applying: Applying,
    pub context: &'static str,
    pub error: tokio_postgres::Error,
}

/// Deletes the piece's delete winners and upserts the others, each with one statement.
/// `Err(Ok(_))` is a value that cannot be encoded for its column (a data error naming the
/// record, as the stage gives); `Err(Err(_))` a statement the server failed.
pub(crate) async fn apply(
    tx: &Transaction<'_>,
    bound: &BoundSql,
    layout: &TableLayout,
    changes: &[Change],
) -> Result<Applied, Result<WarehouseError, Failed>> {
    let key_columns = layout.key().unwrap_or_default();
    let deletes: Vec<&Change> = changes
        .iter()
        .filter(|c| matches!(c.op, RowOp::Delete))
        .collect();
    let upserts: Vec<&Change> = changes
        .iter()
        .filter(|c| !matches!(c.op, RowOp::Delete))
        .collect();
    let mut applied = Applied {
        deletes: 0,
        upserts: 0,
    };
    if !deletes.is_empty() {
        let arrays = columns(layout, key_columns, &deletes).map_err(Ok)?;
        let on_error = failed(Applying::Delete, "deleting deleted rows");
        let statement = typed(tx, &bound.delete, layout, key_columns)
            .await
            .map_err(&on_error)?;
        let row = tx
            .query_one(&statement, &params(&arrays))
            .instrument(statement_span("delete", deletes.len()))
            .await
            .map_err(&on_error)?;
        let removed: i64 = row
            .try_get(0)
            .map_err(|e| Ok(classify(e, "counting deleted rows")))?;
        applied.deletes = removed.max(0) as u64;
    }
    if !upserts.is_empty() {
        let all: Vec<usize> = (0..layout.columns.len()).collect();
        let arrays = columns(layout, &all, &upserts).map_err(Ok)?;
        let on_error = failed(Applying::Insert, "upserting winners");
        let statement = typed(tx, &bound.insert, layout, &all)
            .await
            .map_err(&on_error)?;
        applied.upserts = tx
            .execute(&statement, &params(&arrays))
            .instrument(statement_span("insert", upserts.len()))
            .await
            .map_err(&on_error)?;
    }
    Ok(applied)
}

/// The statement's span, as the stage path names it, saying where its rows come from.
fn statement_span(name: &'static str, rows: usize) -> tracing::Span {
    match name {
        "delete" => tracing::info_span!("delete", rows, tidemark.values = "bound arrays"),
        _ => tracing::info_span!("insert", rows, tidemark.values = "bound arrays"),
    }
}

fn failed(
    applying: Applying,
    context: &'static str,
) -> impl Fn(tokio_postgres::Error) -> Result<WarehouseError, Failed> {
    move |error| {
        Err(Failed {
            applying,
            context,
            error,
        })
    }
}

/// One array per column in `which`, of the changes' staged values (a delete's are its key's).
fn columns<'a>(
    layout: &TableLayout,
    which: &[usize],
    changes: &[&'a Change],
) -> Result<Vec<Cell<'a>>, WarehouseError> {
    let key_columns = layout.key().unwrap_or_default();
    which
        .iter()
        .map(|&i| {
            let column = &layout.columns[i];
            let cells = changes
                .iter()
                .map(|change| {
                    let value = stage::staged_value(change, i, key_columns, &Value::Null);
                    to_cell(value, column).map_err(|reason| WarehouseError::Data {
                        table: layout.table.clone(),
                        column: column.name.clone(),
                        coord: change.coord,
                        reason,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Cell::Array(cells))
        })
        .collect()
}

/// Prepares `sql` with its parameters typed as arrays of the stage types of columns `which`
/// ([`fits`] checked they exist): the values reach the insert unchanged, which refuses what
/// does not fit a column's typmod, where a cast to `varchar(5)[]` in the SQL would cut it.
async fn typed(
    tx: &Transaction<'_>,
    sql: &str,
    layout: &TableLayout,
    which: &[usize],
) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
    let types: Vec<Type> = which
        .iter()
        .filter_map(|&i| array_of(&stage_pg_type(&layout.columns[i])))
        .collect();
    tx.prepare_typed(sql, &types).await
}

fn params<'c>(arrays: &'c [Cell<'_>]) -> Vec<&'c (dyn ToSql + Sync)> {
    arrays.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

/// The error for a failed bound statement, with the merge already rolled back: a refused
/// value (a data exception or integrity violation) is looked for by staging the piece in a
/// transaction that is then rolled back, whose COPY names the record and column, then among
/// the text-staged casts ([`cast_failure`]); any other failure is classified as usual.
pub(crate) async fn diagnose(
    client: &mut Client,
    statements: &MergeSql,
    copy_types: &[Type],
    layout: &TableLayout,
    changes: &[Change],
    failed: Failed,
) -> WarehouseError {
    let data_error = failed
        .error
        .code()
        .is_some_and(|c| c.code().starts_with("22") || c.code().starts_with("23"));
    if data_error {
        if let Ok(tx) = client.transaction().await {
            let staged = stage::stage(&tx, statements, copy_types, layout, changes).await;
            drop(tx); // rolled back
            if let Err(e @ WarehouseError::Data { .. }) = staged {
                return e;
            }
        }
    }
    cast_failure(
        client,
        layout,
        changes,
        failed.applying,
        failed.error,
        failed.context,
    )
    .await
}
