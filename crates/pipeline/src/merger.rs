use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use tidemark_model::{ErrorChain, TableBatchStats, TableName};
use tidemark_ports::{MergeRequest, OffsetReporter, TableWriter, WarehouseError};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::messages::{MergeBatch, SupervisorEvent};
use crate::retry::{next_split, Retry};
use crate::summary::{RunSummary, TableSummary};
use crate::PipelineError;

/// Serializes the writes to one target table: one transaction per batch, in arrival order.
/// Retriable failures (lost connection, server restart) are retried as [`Retry`] says, unless
/// the session gives up; any other failure, or retries run out, poisons the merger, so no later
/// batch of the table can be applied over the gap.
pub(crate) struct TableMerger {
    pub table: TableName,
    pub topic: String,
    /// `None` only while a merge is running.
    pub writer: Option<Box<dyn TableWriter>>,
    /// Set after a failure that must not be skipped.
    pub poisoned: bool,
    /// Set when the session gives up: retriable failures are no longer retried.
    pub stopping: Arc<AtomicBool>,
    pub summary: Arc<Mutex<RunSummary>>,
    pub supervisor: mpsc::UnboundedSender<SupervisorEvent>,
    /// Told the applied offsets after each commit (advisory Kafka commits), if enabled.
    pub reporter: Option<Arc<dyn OffsetReporter>>,
}

impl Actor for TableMerger {
    type Context = Context<Self>;
}

impl TableMerger {
    fn record(&self, request: &MergeRequest, stats: TableBatchStats) {
        let Ok(mut summary) = self.summary.lock() else {
            return;
        };
        let entry = summary
            .tables
            .entry(self.topic.clone())
            .or_insert_with(|| TableSummary {
                target: self.table.clone(),
                stats: TableBatchStats::default(),
                offsets: Default::default(),
                merges: 0,
            });
        entry.stats += stats;
        entry.merges += 1;
        for w in &request.watermarks {
            entry.offsets.insert(w.tp.partition, w.next_offset);
        }
    }
}

impl Handler<MergeBatch> for TableMerger {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, batch: MergeBatch, _ctx: &mut Context<Self>) -> Self::Result {
        let writer = match (self.poisoned, self.writer.take()) {
            (false, Some(w)) => w,
            (_, w) => {
                // Dropping the batch releases its slot and memory; nothing is committed.
                self.writer = w;
                return AtomicResponse::new(Box::pin(actix::fut::ready(())));
            }
        };
        let stopping = self.stopping.clone();
        let table = self.table.clone();
        let label = table.to_string();
        let work = async move {
            let started = std::time::Instant::now();
            let mut writer = writer;
            let mut retry = Retry::new();
            let span = tracing::info_span!(
                parent: &batch.span,
                "merge",
                table = %table,
                slice = batch.slice,
                rows = batch.request.changes.len(),
                events = batch.request.events
            );
            let result = async {
                let mut pieces = 1;
                loop {
                    let e = match writer.merge_in_pieces(&batch.request, pieces).await {
                        Ok(stats) => break Ok(stats),
                        Err(e) => e,
                    };
                    if stopping.load(Ordering::Relaxed) {
                        break Err(MergeFailure::Failed(e));
                    }
                    if e.is_timeout() {
                        let Some(more) = next_split(pieces) else {
                            break Err(MergeFailure::TimedOut { source: e, pieces });
                        };
                        tracing::warn!(
                            error = %ErrorChain(&e),
                            pieces = more,
                            "merge statement timed out; retrying with the batch split"
                        );
                        pieces = more;
                        continue;
                    }
                    if matches!(e, WarehouseError::Fenced { .. }) {
                        tidemark_telemetry::metrics().fence_rejections.inc();
                    }
                    if !e.is_retriable() {
                        break Err(MergeFailure::Failed(e));
                    }
                    tidemark_telemetry::health().set_warehouse_ok(false);
                    tidemark_telemetry::metrics()
                        .merge_retries
                        .with_label_values(&[&label])
                        .inc();
                    let Some(delay) = retry.next_delay() else {
                        break Err(MergeFailure::GaveUp {
                            source: e,
                            attempts: retry.attempts(),
                            elapsed: retry.elapsed(),
                        });
                    };
                    tracing::warn!(
                        error = %ErrorChain(&e),
                        attempt = retry.attempts() - 1,
                        retry_in = ?delay,
                        "merge failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
            }
            .instrument(span)
            .await;
            if let Ok(stats) = &result {
                record_metrics(&label, &batch, stats, started.elapsed());
            }
            (writer, batch, result)
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |(writer, batch, result), act, _ctx| {
                act.writer = Some(writer);
                match result {
                    Ok(stats) => {
                        tracing::debug!(table = %act.table, ?stats, "merged");
                        act.record(&batch.request, stats);
                        if let Some(reporter) = &act.reporter {
                            for w in &batch.request.watermarks {
                                reporter.applied(&w.tp, w.next_offset);
                            }
                        }
                    }
                    Err(failure) => {
                        act.poisoned = true;
                        let table = act.table.clone();
                        let error = match failure {
                            MergeFailure::Failed(source) => PipelineError::Merge {
                                table,
                                source: Box::new(source),
                            },
                            MergeFailure::TimedOut { source, pieces } => {
                                PipelineError::MergeTimedOut {
                                    table,
                                    pieces,
                                    source: Box::new(source),
                                }
                            }
                            MergeFailure::GaveUp {
                                source,
                                attempts,
                                elapsed,
                            } => PipelineError::MergeRetriesExhausted {
                                table,
                                attempts,
                                elapsed,
                                source: Box::new(source),
                            },
                        };
                        let _ = act.supervisor.send(SupervisorEvent::MergeFailed(error));
                    }
                }
                drop(batch); // releases the owner's slot and the records' memory
            },
        )))
    }
}

/// How a merge ended without committing.
enum MergeFailure {
    /// Not retriable, or the session stopped retrying.
    Failed(WarehouseError),
    /// A statement exceeded the statement timeout even with the batch split into `pieces`.
    TimedOut {
        source: WarehouseError,
        pieces: usize,
    },
    /// Retriable, but the retry policy ran out.
    GaveUp {
        source: WarehouseError,
        attempts: u32,
        elapsed: std::time::Duration,
    },
}

/// A committed batch in the metrics: rows, duration, and each record's freshness.
fn record_metrics(
    table: &str,
    batch: &MergeBatch,
    stats: &TableBatchStats,
    took: std::time::Duration,
) {
    let m = tidemark_telemetry::metrics();
    tidemark_telemetry::health().set_warehouse_ok(true);
    m.rows_upserted
        .with_label_values(&[table])
        .inc_by(stats.upserts);
    m.rows_deleted
        .with_label_values(&[table])
        .inc_by(stats.deletes);
    m.dead_letters
        .with_label_values(&[table])
        .inc_by(stats.dead_letters);
    m.batches.with_label_values(&[table]).inc();
    m.batch_records
        .with_label_values(&[table])
        .observe(stats.events as f64);
    m.merge_seconds
        .with_label_values(&[table])
        .observe(took.as_secs_f64());
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    for (histogram, timestamps) in [
        (m.freshness(table), &batch.timestamps),
        (m.source_freshness(table), &batch.source_timestamps),
    ] {
        for ts in timestamps {
            histogram.observe((now_ms - ts).max(0) as f64 / 1000.0);
        }
    }
}
