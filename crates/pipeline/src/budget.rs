use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tidemark_ports::RawRecord;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes a record holds between fetch and commit beyond its key and value: the `RawRecord`
/// itself (topic pointer, partition, offset, two `Option<Vec>` headers: 56 bytes on 64-bit)
/// rounded up for the allocator.
const RECORD_OVERHEAD: usize = 64;

/// The bytes one record is accounted for in the [`MemoryBudget`]: what the fetch thread takes
/// and what the owner moves into the record's batch. One function, so the two always agree.
pub(crate) fn accounted_bytes(record: &RawRecord) -> usize {
    record.payload_len() + RECORD_OVERHEAD
}

/// The replica-wide cap on record bytes between fetch and commit (bounded memory). Fetch threads
/// take permits for the bytes they read; the permits travel with the records into batches and
/// are released when the batch is merged (or dropped).
#[derive(Clone, Debug)]
pub struct MemoryBudget {
    semaphore: Arc<Semaphore>,
    /// Total permits, so a single record larger than the budget can still pass alone.
    total: usize,
}

impl MemoryBudget {
    pub fn new(bytes: u64) -> Self {
        let total = usize::try_from(bytes)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        Self {
            semaphore: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// Bytes currently held.
    pub fn in_use(&self) -> usize {
        self.total - self.semaphore.available_permits()
    }

    /// Blocks the calling (non-async) thread until `bytes` are available or `stop` is set.
    pub fn acquire_blocking(
        &self,
        bytes: usize,
        stop: &AtomicBool,
    ) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(bytes.clamp(1, self.total)).unwrap_or(u32::MAX);
        loop {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            match self.semaphore.clone().try_acquire_many_owned(n) {
                Ok(permit) => return Some(permit),
                Err(tokio::sync::TryAcquireError::Closed) => return None,
                Err(tokio::sync::TryAcquireError::NoPermits) => {
                    std::thread::sleep(Duration::from_millis(2))
                }
            }
        }
    }
}
