//! The warehouse operations that are not a table's merge, on Redshift: preparing tidemark's
//! tables, describing a target, reading the recorded key, choosing an epoch, claiming
//! partitions and reading watermarks. Each opens a short-lived connection, like PostgreSQL's.

use tidemark_model::{ColumnType, Epoch, TableName, TopicPartition, Watermark};
use tidemark_ports::WarehouseError;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::param::{bind, Text};
use super::state::{create_state_tables, StateSql, DESCRIBE};
use super::{create_own_tables, SESSION_SETUP};
use crate::error::column;
use crate::{classify, connect, PgSettings};

/// A connection with the session set up for the dialect.
pub(crate) async fn session(
    settings: &PgSettings,
    context: &str,
) -> Result<Client, WarehouseError> {
    let client = connect(settings, context).await?;
    match client.batch_execute(SESSION_SETUP).await {
        Ok(()) => {}
        // A server without the setting is not Redshift but PostgreSQL (the oracle tests run
        // the dialect there), whose quoted identifiers always keep their case.
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_OBJECT) => {
            tracing::debug!(error = %e, "the server has no enable_case_sensitive_identifier");
        }
        Err(e) => return Err(classify(e, "setting enable_case_sensitive_identifier")),
    }
    Ok(client)
}

/// Creates tidemark's schema and tables if missing. Without advisory locks, replicas that
/// prepare at once may both try to create one table: the loser's "already exists" (of the
/// table, or of its row type; or, on PostgreSQL, the catalog's unique violation) means it
/// exists, and is not an error.
pub(crate) async fn prepare(settings: &PgSettings) -> Result<(), WarehouseError> {
    let client = session(settings, "preparing tidemark schema").await?;
    let statements = create_own_tables(&settings.schema)
        .into_iter()
        .chain(create_state_tables(&settings.schema));
    for sql in statements {
        if let Err(e) = client.batch_execute(&sql).await {
            let exists = e.code().is_some_and(|c| {
                *c == SqlState::DUPLICATE_TABLE
                    || *c == SqlState::DUPLICATE_SCHEMA
                    // The table's row type, created first (`type "watermarks" already exists`:
                    // a fresh-clone CI run of the Redshift paused-replica test).
                    || *c == SqlState::DUPLICATE_OBJECT
                    || *c == SqlState::UNIQUE_VIOLATION
            });
            if !exists {
                return Err(classify(e, "creating tidemark schema"));
            }
        }
    }
    Ok(())
}

pub(crate) async fn describe(
    settings: &PgSettings,
    table: &TableName,
) -> Result<Option<Vec<(String, ColumnType, String)>>, WarehouseError> {
    let client = session(settings, "describing target table").await?;
    let rows = client
        .query(
            DESCRIBE,
            &bind(&[Text::of(&table.schema), Text::of(&table.name)]),
        )
        .await
        .map_err(|e| classify(e, "describing target table"))?;
    let columns = crate::described_columns(&rows)?;
    Ok((!columns.is_empty()).then(|| {
        columns
            .into_iter()
            .map(|c| (c.name, c.ty, c.sql_type))
            .collect()
    }))
}

pub(crate) async fn primary_key(
    settings: &PgSettings,
    table: &TableName,
) -> Result<Vec<String>, WarehouseError> {
    let ctx = "reading the target's primary key";
    let client = session(settings, ctx).await?;
    let rows = client
        .query(
            crate::sql::PRIMARY_KEY,
            &bind(&[Text::of(&table.schema), Text::of(&table.name)]),
        )
        .await
        .map_err(|e| classify(e, ctx))?;
    rows.iter().map(|r| column::<String>(r, 0, ctx)).collect()
}

pub(crate) async fn stored_key(
    settings: &PgSettings,
    table: &TableName,
) -> Result<Option<Vec<String>>, WarehouseError> {
    let ctx = "reading the recorded key";
    let client = session(settings, ctx).await?;
    let state = StateSql::new(&settings.schema);
    let row = client
        .query_opt(
            &state.stored_key,
            &bind(&[Text::of(&settings.pipeline), Text::of(table)]),
        )
        .await
        .map_err(|e| classify(e, ctx))?;
    match row {
        None => Ok(None),
        Some(r) => Ok(Some(super::writer::parse_key(
            &column::<String>(&r, 0, ctx)?,
            ctx,
        )?)),
    }
}

pub(crate) async fn next_epoch(settings: &PgSettings) -> Result<Epoch, WarehouseError> {
    let ctx = "choosing an epoch";
    let client = session(settings, ctx).await?;
    let state = StateSql::new(&settings.schema);
    let row = client
        .query_one(&state.next_epoch, &bind(&[Text::of(&settings.pipeline)]))
        .await
        .map_err(|e| classify(e, ctx))?;
    Ok(Epoch(column(&row, 0, ctx)?))
}

/// Raises each partition's epoch to `epoch` in one transaction under the watermarks' `LOCK`,
/// or fails with `Fenced` naming the first partition a newer epoch holds.
pub(crate) async fn claim(
    settings: &PgSettings,
    tps: &[TopicPartition],
    epoch: Epoch,
) -> Result<Vec<Option<i64>>, WarehouseError> {
    let ctx = "claiming partitions";
    let mut client = session(settings, ctx).await?;
    let state = StateSql::new(&settings.schema);
    let tx = client.transaction().await.map_err(|e| classify(e, ctx))?;
    tx.batch_execute(&state.lock_watermarks)
        .await
        .map_err(|e| classify(e, ctx))?;
    let mut next = Vec::with_capacity(tps.len());
    for tp in tps {
        let at = [
            Text::of(&settings.pipeline),
            Text::of(&tp.topic),
            Text::of(tp.partition),
        ];
        let stored = tx
            .query_opt(&state.stored_watermark, &bind(&at))
            .await
            .map_err(|e| classify(e, ctx))?;
        let row: Vec<Text> = at.iter().cloned().chain([Text::of(epoch.0)]).collect();
        match stored {
            Some(r) => {
                let stored_epoch: i64 = column(&r, 0, ctx)?;
                if stored_epoch > epoch.0 {
                    return Err(WarehouseError::Fenced {
                        tp: tp.clone(),
                        epoch,
                        stored: Epoch(stored_epoch),
                    });
                }
                tx.execute(&state.claim_update, &bind(&row))
                    .await
                    .map_err(|e| classify(e, ctx))?;
                next.push(column::<Option<i64>>(&r, 1, ctx)?);
            }
            None => {
                tx.execute(&state.claim_insert, &bind(&row))
                    .await
                    .map_err(|e| classify(e, ctx))?;
                next.push(None);
            }
        }
    }
    tx.commit()
        .await
        .map_err(|e| classify(e, "committing partition claim"))?;
    Ok(next)
}

pub(crate) async fn watermarks(settings: &PgSettings) -> Result<Vec<Watermark>, WarehouseError> {
    let ctx = "reading watermarks";
    let client = session(settings, ctx).await?;
    let state = StateSql::new(&settings.schema);
    let rows = client
        .query(
            &state.select_watermarks,
            &bind(&[Text::of(&settings.pipeline)]),
        )
        .await
        .map_err(|e| classify(e, ctx))?;
    let mut marks = Vec::with_capacity(rows.len());
    for r in &rows {
        if let Some(next_offset) = column::<Option<i64>>(r, 2, ctx)? {
            marks.push(Watermark {
                tp: TopicPartition::new(column::<String>(r, 0, ctx)?, column::<i32>(r, 1, ctx)?),
                next_offset,
                epoch: Epoch(column(r, 3, ctx)?),
            });
        }
    }
    Ok(marks)
}
