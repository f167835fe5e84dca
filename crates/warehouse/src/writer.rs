use std::sync::Arc;

use async_trait::async_trait;
use tidemark_model::{LayoutCell, TableBatchStats, TableLayout, SOFT_DELETE_COLUMNS};
use tidemark_ports::{Landing, MergeRequest, TableWriter, WarehouseError};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, GenericClient, Transaction};
use tracing::Instrument;

use crate::bound;
use crate::cell::stage_pg_type;
use crate::ddl::{sync_target, Synced};
use crate::diagnose::{cast_failure, Applying};
use crate::error::column;
use crate::merge_sql::{KeyIndex, MergeSql, TargetShape};
use crate::sql;
use crate::stage;
use crate::{classify, connect, quote_table, PgSettings};

/// Writes one target table over a connection of its own. The connection (and its temporary
/// stage table) is opened lazily and dropped after a retriable error, so the next merge
/// reconnects.
pub struct PgTableWriter {
    settings: Arc<PgSettings>,
    /// The table's shared layout, which decoders may evolve.
    cell: Arc<LayoutCell>,
    /// The cell's layout that the statements, the stage and `copy_types` are built for.
    layout: Arc<TableLayout>,
    /// The target has every column of `layout`, as wide (else the next merge with changes
    /// makes it so, in its transaction).
    target_synced: bool,
    /// The layout version the live connection's stage table was created for.
    stage_version: Option<u64>,
    /// Quoted name of the watermarks table.
    watermarks: String,
    /// The live connection, if any.
    client: Option<Client>,
    /// Statements for the key columns seen last (they only change if the key does).
    statements: Option<(Vec<usize>, MergeSql)>,
    /// Key columns whose index coverage was checked, and what the indexes allow.
    key_index: Option<(Vec<usize>, TargetShape)>,
    /// Driver types of the COPY columns: the delete flag, then the layout's columns.
    copy_types: Vec<Type>,
    /// The table's key is recorded in `table_keys` and equals the layout's (checked in the
    /// first committed merge with changes, then trusted).
    key_recorded: bool,
}

impl PgTableWriter {
    pub(crate) fn new(
        settings: Arc<PgSettings>,
        cell: Arc<LayoutCell>,
        watermarks: String,
    ) -> Self {
        let layout = cell.current();
        Self {
            settings,
            // A layout described at start is the target's; a pending one is still to be made.
            target_synced: !layout.is_pending(),
            copy_types: copy_types(&layout),
            layout,
            cell,
            stage_version: None,
            watermarks,
            client: None,
            statements: None,
            key_index: None,
            key_recorded: false,
        }
    }

    /// Takes the cell's current layout if it changed: statements and stage are rebuilt, and
    /// the target is made to match at the next merge.
    fn follow_layout(&mut self) {
        let current = self.cell.current();
        if current.version != self.layout.version {
            self.copy_types = copy_types(&current);
            self.layout = current;
            self.statements = None;
            self.key_index = None;
            self.target_synced = false;
        }
    }

    fn statements(&mut self, key_columns: &[usize]) -> MergeSql {
        match &self.statements {
            Some((k, s)) if k == key_columns => s.clone(),
            _ => {
                let s = MergeSql::new(&self.layout, key_columns);
                self.statements = Some((key_columns.to_vec(), s.clone()));
                s
            }
        }
    }

    async fn client(&mut self, statements: &MergeSql) -> Result<&mut Client, WarehouseError> {
        if self.client.is_none() {
            self.client = Some(connect(&self.settings, "connecting table writer").await?);
            self.stage_version = None;
        }
        if let Some(client) = &self.client {
            // A pending table has no columns to stage yet.
            if self.stage_version != Some(self.layout.version) && !self.layout.is_pending() {
                if self.stage_version.is_some() {
                    client
                        .batch_execute(&statements.drop_stage)
                        .await
                        .map_err(|e| classify(e, "dropping the stage of an earlier layout"))?;
                }
                client
                    .batch_execute(&statements.create_stage)
                    .await
                    .map_err(|e| classify(e, "creating stage table"))?;
                self.stage_version = Some(self.layout.version);
            }
        }
        self.client
            .as_mut()
            .ok_or_else(|| WarehouseError::Connection {
                context: "table writer".into(),
                sqlstate: None,
                message: "connection unavailable".into(),
            })
    }

    async fn merge_once(
        &mut self,
        request: &MergeRequest,
        pieces: usize,
    ) -> Result<TableBatchStats, WarehouseError> {
        self.follow_layout();
        let key_columns = batch_key(&self.layout, request)?;
        let statements = self.statements(&key_columns);
        let layout = self.layout.clone();
        let copy_types = self.copy_types.clone();
        let watermarks = self.watermarks.clone();
        let pipeline = self.settings.pipeline.clone();
        let recording_key = !self.key_recorded && !request.changes.is_empty();
        let settings = self.settings.clone();
        let has_changes = !request.changes.is_empty();
        let syncing = !self.target_synced && has_changes;
        let mut key_index = self.key_index.clone();
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
            match sync_target(&tx, &layout).await? {
                // Its shape is read below, in this transaction.
                Synced::Created => key_index = None,
                Synced::Matching => {}
                Synced::Deferred => {
                    return Err(WarehouseError::Table {
                        table: layout.table.clone(),
                        reason: "cannot create the table: its key is not decided".into(),
                    })
                }
            }
        }
        if recording_key {
            record_key(&tx, &settings, &layout, &key_columns).await?;
        }
        // Once per key set: is there an index the DELETE can probe?
        if has_changes && key_index.as_ref().map(|(k, _)| &k[..]) != Some(&key_columns[..]) {
            let key_names: Vec<String> = key_columns
                .iter()
                .filter_map(|&i| layout.columns.get(i).map(|c| c.name.clone()))
                .collect();
            let shape = target_shape(&tx, &layout, &key_names).await?;
            key_index = Some((key_columns.clone(), shape));
        }
        let statements = match key_index.as_ref().map(|(_, s)| s) {
            Some(shape) => statements
                .for_shape(shape, layout.soft_delete, settings.merge)
                .map_err(|e| WarehouseError::Table {
                    table: layout.table.clone(),
                    reason: e.to_string(),
                })?,
            None => statements,
        };
        // Phase timings (summed over the pieces), for `TIDEMARK_LOG=tidemark_warehouse=debug`.
        let mut phases = [std::time::Duration::ZERO; 5];
        let mut clock = std::time::Instant::now();
        let mut lap = |phase: usize| {
            phases[phase] += clock.elapsed();
            clock = std::time::Instant::now();
        };
        if request.truncate && !layout.is_pending() {
            stats.deletes += tx
                .execute(&statements.truncate, &[])
                .await
                .map_err(|e| classify(e, "emptying the target for a source truncate"))?;
        }
        if statements.probe_index && has_changes {
            // The planner prefers hashing the stage and scanning the whole target, whose
            // cost grows with the table (measured: 105 ms vs 35 ms for 10k keys against 1M
            // rows). Probing the key index per staged row stays flat.
            tx.batch_execute(sql::PREFER_INDEX_PROBES)
                .await
                .map_err(|e| classify(e, "steering the delete plan"))?;
        }
        let piece_len = request.changes.len().div_ceil(pieces.max(1)).max(1);
        let mut staged = false;
        for piece in request.changes.chunks(piece_len) {
            if let Some(bound) = statements
                .bound
                .as_ref()
                .filter(|_| bound::fits(&layout, piece))
            {
                match bound::apply(&tx, bound, &layout, piece).await {
                    Ok(applied) => {
                        stats.deletes += applied.deletes;
                        stats.upserts += applied.upserts;
                    }
                    Err(Ok(refused)) => return Err(refused),
                    Err(Err(failed)) => {
                        drop(tx);
                        return Err(bound::diagnose(
                            client,
                            &statements,
                            &copy_types,
                            &layout,
                            piece,
                            failed,
                        )
                        .await);
                    }
                }
                lap(3);
                continue;
            }
            if staged {
                // The stage is emptied at commit; between pieces of one transaction, here.
                tx.batch_execute(&statements.clear_stage)
                    .await
                    .map_err(|e| classify(e, "emptying stage"))?;
            }
            staged = true;
            let unavailable = stage::stage(&tx, &statements, &copy_types, &layout, piece)
                .instrument(tracing::info_span!("stage", rows = piece.len()))
                .await?;
            lap(0);
            if unavailable {
                // Unchanged TOASTed values keep what the target has (the batch's ranking
                // already filled those an earlier change of the key had).
                tx.execute(&statements.keep_unavailable, &[])
                    .await
                    .map_err(|e| classify(e, "keeping values the source did not send"))?;
            }
            // Without statistics the planner guesses the stage's size and may scan the whole
            // target for every merge; with them it uses the target's key index.
            if let Some(analyze) = &statements.analyze_stage {
                tx.batch_execute(analyze)
                    .await
                    .map_err(|e| classify(e, "analyzing stage"))?;
            }
            lap(1);
            // A failed cast of a text-staged column is looked into after the rollback, to name
            // its record.
            let row = match tx
                .query_one(&statements.delete, &[])
                .instrument(tracing::info_span!("delete"))
                .await
            {
                Ok(row) => row,
                Err(e) => {
                    drop(tx);
                    let context = "deleting replaced and deleted rows";
                    return Err(
                        cast_failure(client, &layout, piece, Applying::Delete, e, context).await,
                    );
                }
            };
            stats.deletes += column::<i64>(&row, 0, "counting deleted rows")?.max(0) as u64;
            if let Some(mark) = &statements.mark_deleted {
                stats.deletes += tx
                    .execute(mark, &[])
                    .await
                    .map_err(|e| classify(e, "marking deleted rows"))?;
            }
            lap(2);
            stats.upserts += match tx
                .execute(&statements.insert, &[])
                .instrument(tracing::info_span!("insert"))
                .await
            {
                Ok(n) => n,
                Err(e) => {
                    drop(tx);
                    let context = "inserting winners";
                    return Err(
                        cast_failure(client, &layout, piece, Applying::Insert, e, context).await,
                    );
                }
            };
            lap(3);
        }
        stats.dead_letters = dead_letters(&tx, &settings, &layout, request).await?;
        if let Some(landing) = &request.landing {
            land(&tx, landing).await?;
        }
        crate::failpoint::before_commit();
        let _holding = crate::failpoint::holding_watermarks();
        advance(&tx, &watermarks, &pipeline, request)
            .instrument(tracing::info_span!(
                "watermark",
                partitions = request.watermarks.len()
            ))
            .await?;
        tx.commit()
            .instrument(tracing::info_span!("commit"))
            .await
            .map_err(|e| classify(e, "committing merge"))?;
        self.key_recorded |= recording_key;
        self.target_synced |= syncing;
        self.key_index = key_index;
        lap(4);
        tracing::debug!(
            table = %layout.table,
            rows = request.changes.len(),
            copy = ?phases[0],
            analyze = ?phases[1],
            delete = ?phases[2],
            insert = ?phases[3],
            commit = ?phases[4],
            "merge phases"
        );
        Ok(stats)
    }
}

/// Writes the batch's dead letters, in the merge's transaction.
async fn dead_letters(
    tx: &Transaction<'_>,
    settings: &PgSettings,
    layout: &TableLayout,
    request: &MergeRequest,
) -> Result<u64, WarehouseError> {
    let letters = &request.dead_letters;
    if letters.is_empty() {
        return Ok(0);
    }
    let topics: Vec<&str> = letters.iter().map(|l| &*l.tp.topic).collect();
    let partitions: Vec<i32> = letters.iter().map(|l| l.tp.partition).collect();
    let offsets: Vec<i64> = letters.iter().map(|l| l.offset).collect();
    let keys: Vec<Option<&[u8]>> = letters.iter().map(|l| l.key.as_deref()).collect();
    let values: Vec<Option<&[u8]>> = letters.iter().map(|l| l.value.as_deref()).collect();
    let errors: Vec<&str> = letters.iter().map(|l| l.error.as_str()).collect();
    tx.execute(
        &sql::insert_dead_letters(&sql::dead_letters_table(&settings.schema)),
        &[
            &settings.pipeline,
            &layout.table.to_string(),
            &topics,
            &partitions,
            &offsets,
            &keys,
            &values,
            &errors,
        ],
    )
    .await
    .map_err(|e| classify(e, "writing dead letters"))
}

/// Writes the batch's records to the raw landing table, in the merge's transaction.
async fn land(tx: &Transaction<'_>, landing: &Landing) -> Result<(), WarehouseError> {
    let records = &landing.records;
    if records.is_empty() {
        return Ok(());
    }
    let topics: Vec<&str> = records.iter().map(|r| &*r.tp.topic).collect();
    let partitions: Vec<i32> = records.iter().map(|r| r.tp.partition).collect();
    let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
    let timestamps: Vec<Option<i64>> = records.iter().map(|r| r.timestamp_ms).collect();
    let keys: Vec<Option<&[u8]>> = records.iter().map(|r| r.key.as_deref()).collect();
    // Decoded records: their values are JSON, so UTF-8.
    let values: Vec<Option<&str>> = records
        .iter()
        .map(|r| r.value.as_deref().and_then(|v| std::str::from_utf8(v).ok()))
        .collect();
    let headers: Vec<Option<String>> = records.iter().map(|r| headers_json(&r.headers)).collect();
    tx.execute(
        &sql::insert_landed(&landing.table),
        &[
            &topics,
            &partitions,
            &offsets,
            &timestamps,
            &keys,
            &values,
            &headers,
        ],
    )
    .await
    .map_err(|e| classify(e, "writing the raw landing table"))?;
    Ok(())
}

/// Headers as a JSON array of `{"key": …, "value": …}` (the value as UTF-8 text, lossily; null
/// for a header without one), or `None` without headers.
fn headers_json(headers: &[(String, Option<Vec<u8>>)]) -> Option<String> {
    if headers.is_empty() {
        return None;
    }
    let list: Vec<serde_json::Value> = headers
        .iter()
        .map(|(k, v)| {
            serde_json::json!({
                "key": k,
                "value": v.as_deref().map(String::from_utf8_lossy),
            })
        })
        .collect();
    Some(serde_json::Value::Array(list).to_string())
}

/// Records the table's key if no merge has, in the merge's own transaction, and fails if the
/// recorded key is another one: every replica merges a table by one key.
async fn record_key(
    tx: &Transaction<'_>,
    settings: &PgSettings,
    layout: &TableLayout,
    key_columns: &[usize],
) -> Result<(), WarehouseError> {
    let decided: Vec<String> = key_columns
        .iter()
        .filter_map(|&i| layout.columns.get(i).map(|c| c.name.clone()))
        .collect();
    let keys_table = sql::table_keys_table(&settings.schema);
    let row = tx
        .query_one(
            &sql::record_key(&keys_table),
            &[&settings.pipeline, &layout.table.to_string(), &decided],
        )
        .await
        .map_err(|e| classify(e, "recording the table's key"))?;
    let recorded: Vec<String> = column(&row, 0, "recording the table's key")?;
    same_key(layout, recorded, decided, keys_table)
}

/// Fails unless the recorded key and this replica's are the same columns: every replica
/// merges a table by one key.
pub(crate) fn same_key(
    layout: &TableLayout,
    recorded: Vec<String>,
    decided: Vec<String>,
    keys_table: String,
) -> Result<(), WarehouseError> {
    let mut a = recorded.clone();
    let mut b = decided.clone();
    a.sort();
    b.sort();
    if a != b {
        return Err(WarehouseError::KeyMismatch {
            table: layout.table.clone(),
            keys_table,
            recorded,
            decided,
        });
    }
    Ok(())
}

/// The key columns a batch is merged by: decided by the first change decoded for the table;
/// a batch with no changes (only tombstones, or records past) has nothing to key and only
/// advances watermarks.
pub(crate) fn batch_key(
    layout: &TableLayout,
    request: &MergeRequest,
) -> Result<Vec<usize>, WarehouseError> {
    match layout.key() {
        Some(key) => Ok(key.to_vec()),
        None if request.changes.is_empty() => Ok(Vec::new()),
        None => Err(WarehouseError::Table {
            table: layout.table.clone(),
            reason: "a batch has changes but the table's key is not decided".into(),
        }),
    }
}

/// What the target's indexes and columns allow (see [`TargetShape`]). Every merge deletes the
/// staged keys from the target: without an index whose columns are all key columns, each merge
/// scans the whole table. Said once, at the first merge.
pub(crate) async fn target_shape(
    client: &impl GenericClient,
    layout: &TableLayout,
    key: &[String],
) -> Result<TargetShape, WarehouseError> {
    let table = quote_table(&layout.table);
    let ctx = "checking for a key index";
    let row = client
        .query_one(sql::KEY_INDEXES, &[&table, &key])
        .await
        .map_err(|e| classify(e, ctx))?;
    let (covers, arbiter, has_merge): (bool, bool, bool) = (
        column(&row, 0, ctx)?,
        column(&row, 1, ctx)?,
        column(&row, 2, ctx)?,
    );
    let ctx = "reading the target's columns";
    let rows = client
        .query(sql::WRITABLE_COLUMNS, &[&table])
        .await
        .map_err(|e| classify(e, ctx))?;
    let mut others = Vec::new();
    for r in &rows {
        let name: String = column(r, 0, ctx)?;
        let written = layout.columns.iter().any(|c| c.name == name)
            || (layout.soft_delete && SOFT_DELETE_COLUMNS.contains(&name.as_str()));
        if !written {
            others.push(name);
        }
    }
    let index = match (arbiter, covers) {
        (true, _) => KeyIndex::Unique,
        (false, true) => KeyIndex::Covering,
        (false, false) => {
            tracing::warn!(
                table = %layout.table,
                key = ?key,
                "no index covers the key columns: every merge scans the whole table; \
                 consider CREATE INDEX ON the key columns"
            );
            KeyIndex::None
        }
    };
    Ok(TargetShape {
        index,
        others,
        has_merge,
    })
}

async fn advance(
    tx: &Transaction<'_>,
    watermarks: &str,
    pipeline: &str,
    request: &MergeRequest,
) -> Result<(), WarehouseError> {
    if request.watermarks.is_empty() {
        return Ok(());
    }
    let topics: Vec<&str> = request.watermarks.iter().map(|w| &*w.tp.topic).collect();
    let partitions: Vec<i32> = request.watermarks.iter().map(|w| w.tp.partition).collect();
    let offsets: Vec<i64> = request.watermarks.iter().map(|w| w.next_offset).collect();
    let epochs: Vec<i64> = request.watermarks.iter().map(|w| w.epoch.0).collect();
    let rows = tx
        .query(
            &sql::advance_watermarks(watermarks),
            &[&pipeline, &topics, &partitions, &offsets, &epochs],
        )
        .await
        .map_err(|e| classify(e, "advancing watermarks"))?;
    if rows.len() == request.watermarks.len() {
        return Ok(());
    }
    // Some row was refused: name the first one and why. The transaction is rolled back when
    // it is dropped.
    let ctx = "reading advanced watermarks";
    let mut written_rows = std::collections::HashSet::new();
    for r in &rows {
        written_rows.insert((column::<String>(r, 0, ctx)?, column::<i32>(r, 1, ctx)?));
    }
    for w in &request.watermarks {
        let written = written_rows.contains(&(w.tp.topic.to_string(), w.tp.partition));
        if written {
            continue;
        }
        let row = tx
            .query_opt(
                &sql::stored_watermark(watermarks),
                &[&pipeline, &&*w.tp.topic, &w.tp.partition],
            )
            .await
            .map_err(|e| classify(e, "reading refused watermark"))?;
        let stored = match row {
            Some(r) => Some((
                column::<i64>(&r, 0, ctx)?,
                column::<Option<i64>>(&r, 1, ctx)?,
            )),
            None => None,
        };
        return Err(crate::fence::refusal(w, stored));
    }
    Err(WarehouseError::Statement {
        context: "advancing watermarks".into(),
        sqlstate: None,
        message: "fewer rows written than sent".into(),
    })
}

#[async_trait]
impl TableWriter for PgTableWriter {
    async fn merge_in_pieces(
        &mut self,
        request: &MergeRequest,
        pieces: usize,
    ) -> Result<TableBatchStats, WarehouseError> {
        let mut result = self.merge_once(request, pieces).await;
        after_merge(
            &mut result,
            &mut self.client,
            self.settings.statement_timeout,
        );
        result
    }
}

/// What a failed merge leaves a writer with, in either dialect: after a retriable error the
/// connection (and its temp stage) is dropped, so the retry reconnects; a timeout names the
/// configured statement timeout.
pub(crate) fn after_merge<T>(
    result: &mut Result<T, WarehouseError>,
    client: &mut Option<Client>,
    statement_timeout: std::time::Duration,
) {
    match result {
        Err(e) if e.is_retriable() => *client = None,
        Err(WarehouseError::Timeout { timeout, .. }) => *timeout = Some(statement_timeout),
        _ => {}
    }
}

/// Driver types of the COPY columns: the delete flag, the layout's columns, the unavailable
/// columns.
fn copy_types(layout: &TableLayout) -> Vec<Type> {
    std::iter::once(Type::BOOL)
        .chain(layout.columns.iter().map(stage_pg_type))
        .chain(std::iter::once(Type::INT4_ARRAY))
        .collect()
}
