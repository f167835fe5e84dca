use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tidemark_ports::{ReadEvent, RecordReader};
use tokio::sync::mpsc;

use crate::budget::{accounted_bytes, MemoryBudget};
use crate::messages::FetchedChunk;

/// Records per poll: large enough to amortize the hand-off, small enough to keep latency low.
const CHUNK: usize = 2_000;

/// Runs a blocking reader on a named thread of its own (never on an actor thread): polls,
/// takes memory permits for what it read, and hands chunks to the owner through a bounded
/// channel. Ends when `stop` is set, the owner goes away, or the reader fails (the failure is
/// handed on).
pub(crate) fn spawn_fetcher(
    name: String,
    mut reader: Box<dyn RecordReader>,
    tx: mpsc::Sender<FetchedChunk>,
    budget: MemoryBudget,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(name).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let mut events = Vec::with_capacity(CHUNK);
            if let Err(e) = reader.poll(CHUNK, Duration::from_millis(100), &mut events) {
                tidemark_telemetry::health().set_kafka_ok(false);
                let _ = tx.blocking_send(FetchedChunk::Failed(e));
                return;
            }
            tidemark_telemetry::health().set_kafka_ok(true);
            if events.is_empty() {
                continue;
            }
            let bytes: usize = events
                .iter()
                .map(|e| match e {
                    ReadEvent::Record(r) => accounted_bytes(r),
                    ReadEvent::PartitionEof { .. } => 0,
                })
                .sum();
            let memory = if bytes > 0 {
                match budget.acquire_blocking(bytes, &stop) {
                    Some(p) => Some(p),
                    None => return,
                }
            } else {
                None
            };
            if tx
                .blocking_send(FetchedChunk::Events { events, memory })
                .is_err()
            {
                return;
            }
        }
    })
}
