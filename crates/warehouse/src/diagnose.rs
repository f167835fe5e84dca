//! Naming the record behind a failed cast of a text-staged (`Other`) column.
//!
//! Enums, domains, xml and the like are staged as text and cast by the DELETE (key columns)
//! and the INSERT; when such a cast fails, the server does not say which row. Only on that
//! error path, with the merge already rolled back, the staged texts of each such column are
//! cast again outside any transaction, halving the candidates until one value is left: a
//! logarithmic number of small statements, and nothing on the path of a merge that works.

use tidemark_model::{Change, ColumnType, RowOp, TableLayout, Value};
use tidemark_ports::WarehouseError;
use tokio_postgres::Client;

use crate::cell::Cell;
use crate::classify;
use crate::convert::to_cell;
use crate::stage::staged_value;

/// Which statement failed: the DELETE casts key columns of every staged row, the INSERT every
/// text-staged column of the rows it inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applying {
    Delete,
    Insert,
}

/// The error for a failed DELETE or INSERT of the piece `changes`: a data error naming the
/// record and column if one staged value alone fails its cast, else the classified error.
pub(crate) async fn cast_failure(
    client: &Client,
    layout: &TableLayout,
    changes: &[Change],
    applying: Applying,
    err: tokio_postgres::Error,
    context: &str,
) -> WarehouseError {
    let data_error = err
        .code()
        .is_some_and(|c| c.code().starts_with("22") || c.code().starts_with("23"));
    if !data_error {
        return classify(err, context);
    }
    let key_columns = layout.key().unwrap_or_default();
    for (i, column) in layout.columns.iter().enumerate() {
        let cast = column.ty == ColumnType::Other
            && (applying == Applying::Insert || key_columns.contains(&i));
        if !cast {
            continue;
        }
        // (index of the change, its staged text) for the rows the statement casts.
        let mut texts: Vec<(usize, String)> = Vec::new();
        for (n, change) in changes.iter().enumerate() {
            if applying == Applying::Insert && matches!(change.op, RowOp::Delete) {
                continue;
            }
            let value = staged_value(change, i, key_columns, &Value::Null);
            if let Ok(Cell::Text(text)) = to_cell(value, column) {
                texts.push((n, text.into_owned()));
            }
        }
        let statement = format!(
            "SELECT count(CAST(v AS {})) FROM unnest($1::text[]) AS u(v)",
            column.sql_type
        );
        match first_failing(client, &statement, &texts).await {
            Ok(Some((n, reason))) => {
                if let Some(change) = changes.get(n) {
                    return WarehouseError::Data {
                        table: layout.table.clone(),
                        column: column.name.clone(),
                        coord: change.coord,
                        reason,
                    };
                }
            }
            Ok(None) => {}
            // The connection went away while looking: report what failed first.
            Err(()) => break,
        }
    }
    classify(err, context)
}

/// The first of `texts` whose cast fails, with the server's message; `Ok(None)` if every
/// value casts (the failure was something else), `Err` if the server could not be asked.
async fn first_failing(
    client: &Client,
    statement: &str,
    texts: &[(usize, String)],
) -> Result<Option<(usize, String)>, ()> {
    let casts = |part| casts(client, statement, part);
    if casts(texts).await?.is_none() {
        return Ok(None);
    }
    // Each cast depends on its value alone: the failing half holds a failing value.
    let mut candidates = texts;
    while candidates.len() > 1 {
        let (left, right) = candidates.split_at(candidates.len() / 2);
        candidates = if casts(left).await?.is_some() {
            left
        } else {
            right
        };
    }
    Ok(match (candidates.first(), casts(candidates).await?) {
        (Some((n, _)), Some(reason)) => Some((*n, reason)),
        _ => None,
    })
}

/// `None` if every value of `part` casts, else the server's message.
async fn casts(
    client: &Client,
    statement: &str,
    part: &[(usize, String)],
) -> Result<Option<String>, ()> {
    let values: Vec<&str> = part.iter().map(|(_, t)| t.as_str()).collect();
    match client.query_one(statement, &[&values]).await {
        Ok(_) => Ok(None),
        Err(e) => match e.as_db_error() {
            Some(db) => Ok(Some(format!("{} ({})", db.message(), db.code().code()))),
            None => Err(()),
        },
    }
}
