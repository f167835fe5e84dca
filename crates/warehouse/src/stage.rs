//! Staging one piece of a merge: a binary COPY of its changes into the temporary stage
//! table, and, when the server rejects a staged value, an error naming the record.

use futures::pin_mut;
use tidemark_model::{Change, RowOp, TableLayout, Value};
use tidemark_ports::WarehouseError;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use tokio_postgres::Transaction;

use crate::cell::Cell;
use crate::classify;
use crate::convert::to_cell;
use crate::merge_sql::MergeSql;
use crate::sql::{DELETE_FLAG, STAGE};

/// Copies `changes` into the stage: the delete flag, every column of the layout, then the
/// columns whose value the source did not send (NULL if none). Returns whether any row has
/// such columns.
pub(crate) async fn stage(
    tx: &Transaction<'_>,
    statements: &MergeSql,
    copy_types: &[Type],
    layout: &TableLayout,
    changes: &[Change],
) -> Result<bool, WarehouseError> {
    let sink = tx
        .copy_in(&statements.copy_in)
        .await
        .map_err(|e| classify(e, "starting COPY into stage"))?;
    let writer = BinaryCopyInWriter::new(sink, copy_types);
    pin_mut!(writer);
    let key_columns = layout.key().unwrap_or_default();
    let mut cells: Vec<Cell<'_>> = Vec::with_capacity(layout.columns.len() + 2);
    let mut any_unavailable = false;
    for change in changes {
        cells.clear();
        cells.push(Cell::Bool(matches!(change.op, RowOp::Delete)));
        let mut unavailable = Vec::new();
        for (i, column) in layout.columns.iter().enumerate() {
            let value = staged_value(change, i, key_columns, &Value::Null);
            if matches!(value, Value::Unavailable) {
                // Filled from the target row by `keep_unavailable` (or NULL if it has none).
                unavailable.push(Cell::I32(i32::try_from(i).unwrap_or(i32::MAX)));
                cells.push(Cell::Null);
                continue;
            }
            let cell = to_cell(value, column).map_err(|reason| WarehouseError::Data {
                table: layout.table.clone(),
                column: column.name.clone(),
                coord: change.coord,
                reason,
            })?;
            cells.push(cell);
        }
        any_unavailable |= !unavailable.is_empty();
        cells.push(if unavailable.is_empty() {
            Cell::Null
        } else {
            Cell::Array(unavailable)
        });
        // The server may already have refused an earlier row: a write then fails with it.
        writer
            .as_mut()
            .write_raw(cells.iter())
            .await
            .map_err(|e| copy_error(e, layout, changes, "writing COPY rows"))?;
    }
    writer
        .finish()
        .await
        .map_err(|e| copy_error(e, layout, changes, "finishing COPY into stage"))?;
    Ok(any_unavailable)
}

/// The value a change stages in column `i`: its row's, or for a delete its key's (the other
/// columns of a delete are NULL in the stage).
pub(crate) fn staged_value<'a>(
    change: &'a Change,
    i: usize,
    key_columns: &[usize],
    null: &'a Value,
) -> &'a Value {
    match &change.op {
        RowOp::Upsert(values) => values.get(i).unwrap_or(null),
        RowOp::Delete => key_columns
            .iter()
            .position(|&k| k == i)
            .and_then(|pos| change.key.0.get(pos))
            .unwrap_or(null),
    }
}

/// A value the server refused during the COPY (a data exception, class 22: too long for
/// `varchar(5)`, beyond `numeric(5,2)`, a bit string of the wrong length, invalid JSON; or an
/// integrity violation, class 23) names its record: the server's context says which line of
/// the COPY, which is the same change of `changes`, and which column. Any other error is
/// classified as usual.
fn copy_error(
    err: tokio_postgres::Error,
    layout: &TableLayout,
    changes: &[Change],
    context: &str,
) -> WarehouseError {
    let Some(db) = err.as_db_error() else {
        return classify(err, context);
    };
    let code = db.code().code();
    if !(code.starts_with("22") || code.starts_with("23")) {
        return classify(err, context);
    }
    let position = db.where_().and_then(copy_position);
    let Some((line, rest)) = position else {
        return classify(err, context);
    };
    let Some(change) = line.checked_sub(1).and_then(|i| changes.get(i)) else {
        return classify(err, context);
    };
    let column = rest.map_or_else(|| "(row)".to_string(), |rest| column_named(layout, rest));
    let mut reason = format!("{} ({code})", db.message());
    if let Some(detail) = db.detail() {
        reason.push_str(": ");
        reason.push_str(detail);
    }
    WarehouseError::Data {
        table: layout.table.clone(),
        column,
        coord: change.coord,
        reason,
    }
}

/// From the server's error context `COPY tidemark_stage, line 5, column price` (possibly
/// among other context lines; a text COPY would add `: "value"`): the 1-based line, which is
/// the 1-based row, and the text from the column name on, if the error was in a column.
fn copy_position(where_: &str) -> Option<(usize, Option<&str>)> {
    let prefix = format!("COPY {STAGE}, line ");
    let at = where_.find(&prefix)? + prefix.len();
    let rest = &where_[at..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let line = rest[..digits].parse().ok()?;
    Some((line, rest[digits..].strip_prefix(", column ")))
}

/// The column whose name starts `rest` and ends where the context does (its end, a `:` or a
/// new line); the longest such name, since one name may begin another. Names are not quoted
/// in the context, so they may contain anything.
fn column_named(layout: &TableLayout, rest: &str) -> String {
    let ends_here = |name: &str| {
        rest.strip_prefix(name)
            .is_some_and(|after| after.is_empty() || after.starts_with([':', '\n']))
    };
    layout
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .chain(std::iter::once(DELETE_FLAG))
        .filter(|name| ends_here(name))
        .max_by_key(|name| name.len())
        .map_or_else(
            || rest.split([':', '\n']).next().unwrap_or(rest).to_string(),
            str::to_string,
        )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tidemark_model::{ColumnType, TableName};

    use super::*;

    #[test]
    fn the_copy_context_gives_the_line_and_the_column() {
        assert_eq!(
            copy_position("COPY tidemark_stage, line 5, column price"),
            Some((5, Some("price")))
        );
        assert_eq!(
            copy_position("SQL function \"f\"\nCOPY tidemark_stage, line 12"),
            Some((12, None))
        );
        assert_eq!(copy_position("COPY other, line 1, column a"), None);
        let names = ["a", "a: b", "a, column c"];
        let columns = names
            .iter()
            .map(|n| (n.to_string(), ColumnType::Text, "text".to_string()))
            .collect();
        let layout = TableLayout::from_target(
            TableName::parse("t").unwrap(),
            columns,
            &BTreeMap::new(),
            &[],
        )
        .unwrap();
        assert_eq!(column_named(&layout, "a"), "a");
        assert_eq!(column_named(&layout, "a: b"), "a: b");
        assert_eq!(column_named(&layout, "a: b: \"value\""), "a: b");
        assert_eq!(column_named(&layout, "a, column c"), "a, column c");
        assert_eq!(column_named(&layout, "zz: \"v\""), "zz");
    }
}
