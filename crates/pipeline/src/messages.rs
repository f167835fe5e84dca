use actix::Message;
use tidemark_ports::{BrokerError, MergeRequest, ReadEvent};
use tokio::sync::OwnedSemaphorePermit;

use crate::in_flight::InFlightGuard;
use crate::PipelineError;

/// Records read by a fetch thread, with the memory permit covering their bytes.
pub(crate) enum FetchedChunk {
    Events {
        events: Vec<ReadEvent>,
        memory: Option<OwnedSemaphorePermit>,
    },
    Failed(BrokerError),
}

/// A ranked micro-batch for one table, sent by an owner to the table's merger.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct MergeBatch {
    pub request: MergeRequest,
    /// Which slice sent it, for logs.
    pub slice: usize,
    /// Counts the batch among its owner's batches in flight until it is dropped. Declared
    /// before `slot`: fields drop in order, and the count must fall before the slot lets the
    /// owner cut the next batch.
    #[allow(dead_code)]
    pub counted: InFlightGuard,
    /// The owner's in-flight slot: released when the merge is done, which lets the owner
    /// send its next batch (backpressure). Held for its `Drop`.
    #[allow(dead_code)]
    pub slot: OwnedSemaphorePermit,
    /// Memory of the records in this batch, released when it is merged. Held for its `Drop`.
    #[allow(dead_code)]
    pub memory: Option<OwnedSemaphorePermit>,
    /// The Kafka timestamps (ms) of the batch's records, for `tidemark_freshness_seconds`.
    pub timestamps: Vec<i64>,
    /// The records' `source.ts_ms` (ms), for `tidemark_source_freshness_seconds`.
    pub source_timestamps: Vec<i64>,
    /// The batch's trace span (ends when the batch is dropped, after its commit).
    pub span: tracing::Span,
    /// Tells the owner the batch is done (merged or dropped), after `slot` is released:
    /// the owner then sends what accumulated meanwhile (group commit). Last, so it drops last.
    #[allow(dead_code)]
    pub merged: Merged,
}

/// Sends its table to the owner when dropped, with the batch it belongs to.
pub(crate) struct Merged {
    pub topic: std::sync::Arc<str>,
    pub to_owner: tokio::sync::mpsc::UnboundedSender<std::sync::Arc<str>>,
}

impl Drop for Merged {
    fn drop(&mut self) {
        // The owner may be gone (stopped after an error): nobody to tell.
        let _ = self.to_owner.send(self.topic.clone());
    }
}

/// Asks an owner to stop fetching, flush what it holds, wait for its merges and report.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Drain;

/// Asks an owner to stop at once without flushing (its lease is gone: nothing more may be
/// committed), wait for the merges already sent, and report.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Abort;

/// What actors report to the supervisor.
#[derive(Debug)]
pub(crate) enum SupervisorEvent {
    /// An owner stopped: after a drain, at the end of a refresh, or on an error.
    SliceFinished {
        slice: usize,
        result: Result<(), PipelineError>,
    },
    /// A merger failed for good; nothing after the failed batch is applied for that table.
    MergeFailed(PipelineError),
}
