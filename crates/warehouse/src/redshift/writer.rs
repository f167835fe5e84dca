//! The Redshift merge, one transaction per batch: create the target if `auto_create` must,
//! stage the batch into the session's temp table, `LOCK` the target (replicas then wait for
//! each other instead of aborting each other under Redshift's serializable isolation), count
//! and `DELETE … USING` the staged keys, `INSERT … SELECT` the non-delete winners, `LOCK` the
//! watermarks table, write the dead letters, record the key, advance each watermark under the
//! shared fencing rule ([`crate::fence`]) without `ON CONFLICT`, `COMMIT`. A serialization failure
//! (SQLSTATE 40001, Redshift's error 1023) is retriable: the merger retries the whole batch
//! on a new connection.

use std::sync::Arc;

use async_trait::async_trait;
use tidemark_model::{Change, LayoutCell, RowOp, TableBatchStats, TableLayout, Value};
use tidemark_ports::{MergeRequest, TableWriter, WarehouseError};
use tokio_postgres::{Client, Transaction};

use super::param::{bind, Text};
use super::state::{create_schema, StateSql};
use super::{create_table, MergeSql, RedshiftSettings, Staging, WatermarkSql};
use crate::error::column;
use crate::s3_stage::{copy_statement, S3Stage, StagedFiles};
use crate::stage::staged_value;
use crate::{classify, PgSettings};

/// Writes one target table on Redshift over a connection of its own (opened lazily, dropped
/// after a retriable error so that the next merge reconnects).
pub(crate) struct RedshiftTableWriter {
    settings: Arc<PgSettings>,
    redshift: Arc<RedshiftSettings>,
    /// The table's shared layout.
    cell: Arc<LayoutCell>,
    /// The cell's layout the statements and the stage are built for.
    layout: Arc<TableLayout>,
    /// The target exists (a pending layout's is created by the first merge with changes).
    target_synced: bool,
    /// The layout version the live connection's stage was created for.
    stage_version: Option<u64>,
    client: Option<Client>,
    /// Statements for the key columns seen last.
    statements: Option<(Vec<usize>, MergeSql)>,
    state: StateSql,
    watermark: WatermarkSql,
    /// The table's key is recorded and equals the layout's.
    key_recorded: bool,
    /// With `staging = "s3"`: where the batches' files go.
    s3: Option<Arc<S3Stage>>,
}

impl RedshiftTableWriter {
    pub(crate) fn new(
        settings: Arc<PgSettings>,
        redshift: Arc<RedshiftSettings>,
        cell: Arc<LayoutCell>,
    ) -> Result<Self, WarehouseError> {
        let layout = cell.current();
        let s3 = match &redshift.staging {
            Staging::Insert => None,
            Staging::S3(s3) => Some(Arc::new(S3Stage::new(s3)?)),
        };
        Ok(Self {
            s3,
            state: StateSql::new(&settings.schema),
            watermark: WatermarkSql::new(&settings.schema),
            settings,
            redshift,
            target_synced: !layout.is_pending(),
            layout,
            cell,
            stage_version: None,
            client: None,
            statements: None,
            key_recorded: false,
        })
    }

    fn follow_layout(&mut self) {
        let current = self.cell.current();
        if current.version != self.layout.version {
            self.layout = current;
            self.statements = None;
            self.target_synced = false;
        }
    }

    fn statements(&mut self, key_columns: &[usize]) -> Result<MergeSql, WarehouseError> {
        if let Some((k, s)) = &self.statements {
            if k == key_columns {
                return Ok(s.clone());
            }
        }
        let s = MergeSql::new(&self.layout, key_columns).map_err(|e| WarehouseError::Table {
            table: self.layout.table.clone(),
            reason: e.to_string(),
        })?;
        self.statements = Some((key_columns.to_vec(), s.clone()));
        Ok(s)
    }

    /// The live connection, its session set up and its stage made for the current layout.
    async fn client(&mut self, statements: &MergeSql) -> Result<&mut Client, WarehouseError> {
        if self.client.is_none() {
            let client = super::ops::session(&self.settings, "connecting table writer").await?;
            self.client = Some(client);
            self.stage_version = None;
        }
        let Some(client) = self.client.as_mut() else {
            return Err(WarehouseError::Connection {
                context: "table writer".into(),
                sqlstate: None,
                message: "connection unavailable".into(),
            });
        };
        if self.stage_version != Some(self.layout.version) && !self.layout.is_pending() {
            client
                .batch_execute(&statements.drop_stage)
                .await
                .map_err(|e| classify(e, "dropping the stage of an earlier layout"))?;
            client
                .batch_execute(&statements.create_stage)
                .await
                .map_err(|e| classify(e, "creating stage table"))?;
            self.stage_version = Some(self.layout.version);
        }
        Ok(client)
    }

    /// The merge, then (S3 staging) the removal of its files, whether it committed or not.
    async fn merge_once(
        &mut self,
        request: &MergeRequest,
        pieces: usize,
    ) -> Result<TableBatchStats, WarehouseError> {
        let mut staged = Vec::new();
        let result = self.merge_tx(request, pieces, &mut staged).await;
        if let Some(s3) = &self.s3 {
            for files in &staged {
                // A file left behind is only storage (a bucket lifecycle rule on the prefix
                // expires it); the merge's outcome stands.
                if let Err(e) = s3.remove(files).await {
                    tracing::warn!(error = %e, "could not remove staged files");
                }
            }
        }
        result
    }

    async fn merge_tx(
        &mut self,
        request: &MergeRequest,
        pieces: usize,
        staged: &mut Vec<StagedFiles>,
    ) -> Result<TableBatchStats, WarehouseError> {
        self.follow_layout();
        let s3 = self.s3.clone();
        let key_columns = crate::writer::batch_key(&self.layout, request)?;
        let has_changes = !request.changes.is_empty();
        let syncing = !self.target_synced && has_changes;
        let recording_key = !self.key_recorded && has_changes;
        let layout = self.layout.clone();
        let settings = self.settings.clone();
        let state = self.state.clone();
        let watermark = self.watermark.clone();
        let options = self
            .redshift
            .tables
            .get(&layout.table)
            .cloned()
            .unwrap_or_default();
        if layout.is_pending() && has_changes {
            return Err(WarehouseError::Table {
                table: layout.table.clone(),
                reason: "cannot create the table: its columns are not known yet".into(),
            });
        }
        let statements = self.statements(&key_columns)?;
        let client = self.client(&statements).await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| classify(e, "beginning merge"))?;
        let mut stats = TableBatchStats {
            events: request.events,
            ..TableBatchStats::default()
        };
        if syncing {
            let ddl = create_table(&layout, &key_columns, &options).map_err(|e| {
                WarehouseError::Table {
                    table: layout.table.clone(),
                    reason: e.to_string(),
                }
            })?;
            for sql in [create_schema(&layout.table), ddl] {
                tx.batch_execute(&sql)
                    .await
                    .map_err(|e| classify(e, "creating the target table"))?;
            }
        }
        // The target is locked only once its first piece is staged, and the failpoint (a
        // paused owner) is just before: a stopped owner then holds no lock, so the other
        // replicas' merges of the table can end, their sessions drain and claim, and its
        // commit finds the raised epoch. Locked earlier, it would block them all until it woke
        // and committed before their claims (safe, but never fenced).
        let mut locked = false;
        let piece_len = request.changes.len().div_ceil(pieces.max(1)).max(1);
        for (i, piece) in request.changes.chunks(piece_len).enumerate() {
            // The temp stage outlives transactions: emptied before each piece.
            tx.batch_execute(&statements.clear_stage)
                .await
                .map_err(|e| classify(e, "emptying stage"))?;
            match &s3 {
                None => stage_insert(&tx, &statements, &layout, piece).await?,
                Some(s3) => {
                    let files = stage_s3(s3, &layout, piece, &batch_id(request, i)).await?;
                    let names: Vec<&str> = layout.columns.iter().map(|c| &*c.name).collect();
                    let copy = copy_statement(&files, &names);
                    // Removed once the transaction has ended, whatever COPY does.
                    staged.push(files);
                    tx.batch_execute(&copy)
                        .await
                        .map_err(|e| classify(e, "loading the staged files (COPY)"))?;
                }
            }
            if !locked {
                stats.deletes += lock_target(&tx, &statements, &layout, request.truncate).await?;
                locked = true;
            }
            let row = tx
                .query_one(&statements.count_deleted, &[])
                .await
                .map_err(|e| classify(e, "counting deleted rows"))?;
            stats.deletes += column::<i64>(&row, 0, "counting deleted rows")?.max(0) as u64;
            tx.execute(&statements.delete, &[])
                .await
                .map_err(|e| classify(e, "deleting replaced and deleted rows"))?;
            stats.upserts += tx
                .execute(&statements.insert, &[])
                .await
                .map_err(|e| classify(e, "inserting winners"))?;
        }
        if !locked {
            // No changes: a truncate, or watermarks alone.
            stats.deletes += lock_target(&tx, &statements, &layout, request.truncate).await?;
        }
        // Last, and always after the target's: tidemark's own tables are written under the
        // watermarks' lock, so merges of different tables and claims serialize on them
        // without a cycle, and a claim never waits for a merge that is still staging.
        let _holding = crate::failpoint::holding_watermarks();
        tx.batch_execute(&state.lock_watermarks)
            .await
            .map_err(|e| classify(e, "locking the watermarks"))?;
        stats.dead_letters = dead_letters(&tx, &state, &settings, &layout, request).await?;
        if recording_key {
            record_key(&tx, &state, &settings, &layout, &key_columns).await?;
        }
        advance(&tx, &state, &watermark, &settings.pipeline, request).await?;
        tx.commit()
            .await
            .map_err(|e| classify(e, "committing merge"))?;
        self.key_recorded |= recording_key;
        self.target_synced |= syncing;
        Ok(stats)
    }
}

/// Where the paused-owner failpoint stops, then the target's `LOCK` (none for a table not
/// created yet) and the emptying of a source truncate; the rows the truncate removed.
async fn lock_target(
    tx: &Transaction<'_>,
    statements: &MergeSql,
    layout: &TableLayout,
    truncate: bool,
) -> Result<u64, WarehouseError> {
    crate::failpoint::before_commit();
    if layout.is_pending() {
        return Ok(0);
    }
    tx.batch_execute(&statements.lock)
        .await
        .map_err(|e| classify(e, "locking the target"))?;
    if !truncate {
        return Ok(0);
    }
    tx.execute(&statements.truncate, &[])
        .await
        .map_err(|e| classify(e, "emptying the target for a source truncate"))
}

/// Stages `changes` with multi-row `INSERT … VALUES`, each statement under the parameter
/// limit and half of Redshift's statement size.
async fn stage_insert(
    tx: &Transaction<'_>,
    statements: &MergeSql,
    layout: &TableLayout,
    changes: &[Change],
) -> Result<(), WarehouseError> {
    let key_columns = layout.key().unwrap_or_default();
    let width = statements.stage_width;
    let mut params: Vec<Text> = Vec::new();
    let mut bytes = 0;
    let mut rows = 0;
    for change in changes {
        let row = stage_row(change, layout, key_columns)?;
        let row_bytes: usize = row
            .iter()
            .map(|t| t.0.as_ref().map_or(4, String::len))
            .sum();
        let full = rows > 0
            && (params.len() + width > super::MAX_PARAMETERS
                || bytes + row_bytes > super::MAX_STATEMENT_BYTES / 2);
        if full {
            flush(tx, statements, &mut params, rows).await?;
            rows = 0;
            bytes = 0;
        }
        params.extend(row);
        bytes += row_bytes;
        rows += 1;
    }
    if rows > 0 {
        flush(tx, statements, &mut params, rows).await?;
    }
    Ok(())
}

/// Writes `changes` to S3 as the stage's rows.
async fn stage_s3(
    s3: &S3Stage,
    layout: &TableLayout,
    changes: &[Change],
    batch_id: &str,
) -> Result<StagedFiles, WarehouseError> {
    let key_columns = layout.key().unwrap_or_default();
    let rows: Vec<Vec<Option<String>>> = changes
        .iter()
        .map(|c| {
            Ok(stage_row(c, layout, key_columns)?
                .into_iter()
                .map(|t| t.0)
                .collect())
        })
        .collect::<Result<_, WarehouseError>>()?;
    s3.upload(&layout.table, batch_id, &rows).await
}

/// A name for one piece of one merge attempt, unique across replicas and retries: the epoch
/// and next offset of its first partition (unique per owner and batch), the attempt's clock
/// reading, and the piece.
fn batch_id(request: &MergeRequest, piece: usize) -> String {
    let first = request.watermarks.first();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "e{}-p{}-o{}-{nanos}-{piece}",
        first.map_or(0, |w| w.epoch.0),
        first.map_or(0, |w| w.tp.partition),
        first.map_or(0, |w| w.next_offset),
    )
}

async fn flush(
    tx: &Transaction<'_>,
    statements: &MergeSql,
    params: &mut Vec<Text>,
    rows: usize,
) -> Result<(), WarehouseError> {
    tx.execute(&statements.stage_rows(rows), &bind(params))
        .await
        .map_err(|e| classify(e, "staging rows"))?;
    params.clear();
    Ok(())
}

/// One staged row as text: the delete flag, then every column (a delete stages its key).
pub(crate) fn stage_row(
    change: &Change,
    layout: &TableLayout,
    key_columns: &[usize],
) -> Result<Vec<Text>, WarehouseError> {
    let mut row = Vec::with_capacity(layout.columns.len() + 1);
    row.push(Text::of(matches!(change.op, RowOp::Delete)));
    for (i, column) in layout.columns.iter().enumerate() {
        let value = staged_value(change, i, key_columns, &Value::Null);
        if matches!(value, Value::Unavailable) {
            // The decoder refuses these for Redshift (`Capacity`); never staged as NULL.
            return Err(WarehouseError::Data {
                table: layout.table.clone(),
                column: column.name.clone(),
                coord: change.coord,
                reason: "an unchanged TOASTed value the source did not send".into(),
            });
        }
        row.push(Text(value.to_redshift_text()));
    }
    Ok(row)
}

async fn dead_letters(
    tx: &Transaction<'_>,
    state: &StateSql,
    settings: &PgSettings,
    layout: &TableLayout,
    request: &MergeRequest,
) -> Result<u64, WarehouseError> {
    // Key and value go through `FROM_HEX` of a VARCHAR: at most 32,767 bytes each. Beyond,
    // the dead letter keeps their start and says so; the whole record stays at its offset.
    let limit = tidemark_model::REDSHIFT_MAX_STAGED_BYTES as usize;
    let hex = |b: &Option<Vec<u8>>| {
        Text(
            b.as_ref()
                .map(|b| tidemark_model::hex(&b[..b.len().min(limit)])),
        )
    };
    for l in &request.dead_letters {
        let mut error = l.error.clone();
        for (part, bytes) in [("key", &l.key), ("value", &l.value)] {
            if let Some(len) = bytes.as_ref().map(Vec::len).filter(|&n| n > limit) {
                error.push_str(&format!(
                    " (the {part} is cut to its first {limit} of {len} bytes here; the whole \
                     record is at its offset)"
                ));
            }
        }
        let at = [
            Text::of(&settings.pipeline),
            Text::of(&l.tp.topic),
            Text::of(l.tp.partition),
            Text::of(l.offset),
        ];
        tx.execute(&state.delete_dead_letter, &bind(&at))
            .await
            .map_err(|e| classify(e, "replacing a dead letter"))?;
        let row = [
            Text::of(&settings.pipeline),
            Text::of(&layout.table),
            Text::of(&l.tp.topic),
            Text::of(l.tp.partition),
            Text::of(l.offset),
            hex(&l.key),
            hex(&l.value),
            Text(Some(error)),
        ];
        tx.execute(&state.insert_dead_letter, &bind(&row))
            .await
            .map_err(|e| classify(e, "writing dead letters"))?;
    }
    Ok(request.dead_letters.len() as u64)
}

/// Records the table's key if none is, in the merge's transaction (the target's `LOCK`
/// serializes its merges), and fails if another key is recorded.
async fn record_key(
    tx: &Transaction<'_>,
    state: &StateSql,
    settings: &PgSettings,
    layout: &TableLayout,
    key_columns: &[usize],
) -> Result<(), WarehouseError> {
    let decided: Vec<String> = key_columns
        .iter()
        .filter_map(|&i| layout.columns.get(i).map(|c| c.name.clone()))
        .collect();
    let target = Text::of(&layout.table);
    let pipeline = Text::of(&settings.pipeline);
    let ctx = "recording the table's key";
    let row = tx
        .query_opt(
            &state.stored_key,
            &bind(&[pipeline.clone(), target.clone()]),
        )
        .await
        .map_err(|e| classify(e, ctx))?;
    let Some(row) = row else {
        let json = Text(Some(serde_json::Value::from(decided).to_string()));
        tx.execute(&state.record_key, &bind(&[pipeline, target, json]))
            .await
            .map_err(|e| classify(e, ctx))?;
        return Ok(());
    };
    let recorded = parse_key(&column::<String>(&row, 0, ctx)?, ctx)?;
    let keys_table = crate::quote_table(&super::state::table_keys_table(&settings.schema));
    crate::writer::same_key(layout, recorded, decided, keys_table)
}

/// A recorded key: a JSON array of column names.
pub(crate) fn parse_key(json: &str, ctx: &str) -> Result<Vec<String>, WarehouseError> {
    serde_json::from_str(json).map_err(|e| WarehouseError::Statement {
        context: ctx.to_string(),
        sqlstate: None,
        message: format!("the recorded key {json:?} is not a JSON array of names: {e}"),
    })
}

/// Advances each watermark under the fencing rule: refused rows roll the merge back.
async fn advance(
    tx: &Transaction<'_>,
    state: &StateSql,
    watermark: &WatermarkSql,
    pipeline: &str,
    request: &MergeRequest,
) -> Result<(), WarehouseError> {
    let ctx = "advancing watermarks";
    for w in &request.watermarks {
        let at = [
            Text::of(pipeline),
            Text::of(&w.tp.topic),
            Text::of(w.tp.partition),
        ];
        let stored = tx
            .query_opt(&state.stored_watermark, &bind(&at))
            .await
            .map_err(|e| classify(e, ctx))?;
        let stored = match stored {
            Some(r) => Some((
                column::<i64>(&r, 0, ctx)?,
                column::<Option<i64>>(&r, 1, ctx)?,
            )),
            None => None,
        };
        if let Some((epoch, offset)) = stored {
            if !crate::fence::admits(w, epoch, offset) {
                return Err(crate::fence::refusal(w, stored));
            }
        }
        let row: Vec<Text> = at
            .iter()
            .cloned()
            .chain([Text::of(w.next_offset), Text::of(w.epoch.0)])
            .collect();
        let sql = if stored.is_some() {
            &watermark.update
        } else {
            &watermark.insert
        };
        tx.execute(sql, &bind(&row))
            .await
            .map_err(|e| classify(e, ctx))?;
    }
    Ok(())
}

#[async_trait]
impl TableWriter for RedshiftTableWriter {
    async fn merge_in_pieces(
        &mut self,
        request: &MergeRequest,
        pieces: usize,
    ) -> Result<TableBatchStats, WarehouseError> {
        let mut result = self.merge_once(request, pieces).await;
        crate::writer::after_merge(
            &mut result,
            &mut self.client,
            self.settings.statement_timeout,
        );
        result
    }
}
