use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use tidemark_model::{TableBatchStats, TableName};
use tidemark_ports::{MergeRequest, TableWriter};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::messages::{MergeBatch, SupervisorEvent};
use crate::summary::{RunSummary, TableSummary};
use crate::PipelineError;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Serializes the writes to one target table: one transaction per batch, in arrival order.
/// Retriable failures (lost connection, server restart) are retried with backoff until the
/// pipeline stops; any other failure poisons the merger, so no later batch of the table can
/// be applied over the gap.
pub(crate) struct TableMerger {
    pub table: TableName,
    pub topic: String,
    /// `None` only while a merge is running.
    pub writer: Option<Box<dyn TableWriter>>,
    /// Set after a failure that must not be skipped.
    pub poisoned: bool,
    /// Set when the pipeline stops: retriable failures are no longer retried.
    pub stopping: Arc<AtomicBool>,
    pub summary: Arc<Mutex<RunSummary>>,
    pub supervisor: mpsc::UnboundedSender<SupervisorEvent>,
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
        let work = async move {
            let mut writer = writer;
            let mut backoff = FIRST_BACKOFF;
            let span = tracing::info_span!(
                "merge",
                table = %table,
                slice = batch.slice,
                rows = batch.request.changes.len(),
                events = batch.request.events
            );
            let result = async {
                loop {
                    match writer.merge(&batch.request).await {
                        Ok(stats) => break Ok(stats),
                        Err(e) if e.is_retriable() && !stopping.load(Ordering::Relaxed) => {
                            tracing::warn!(error = %e, retry_in = ?backoff, "merge failed; retrying");
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                        }
                        Err(e) => break Err(e),
                    }
                }
            }
            .instrument(span)
            .await;
            (writer, batch, result)
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |(writer, batch, result), act, _ctx| {
                act.writer = Some(writer);
                match result {
                    Ok(stats) => {
                        tracing::debug!(table = %act.table, ?stats, "merged");
                        act.record(&batch.request, stats);
                    }
                    Err(source) => {
                        act.poisoned = true;
                        let _ = act.supervisor.send(SupervisorEvent::MergeFailed(
                            PipelineError::Merge {
                                table: act.table.clone(),
                                source: Box::new(source),
                            },
                        ));
                    }
                }
                drop(batch); // releases the owner's slot and the records' memory
            },
        )))
    }
}
