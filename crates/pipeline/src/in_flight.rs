//! Counting an owner's batches in flight (cut from pending records and not yet merged), with
//! the peak: what the backpressure bound `batch.max_in_flight` is about, observed independently
//! of the slots that enforce it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Debug, Default)]
pub(crate) struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl InFlight {
    /// Counts one batch from now until the guard is dropped (with the batch, after its merge).
    pub fn enter(self: &Arc<Self>) -> InFlightGuard {
        let now = self.now.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(now, Ordering::AcqRel);
        InFlightGuard(self.clone())
    }

    #[cfg(test)]
    pub fn now(&self) -> usize {
        self.now.load(Ordering::Acquire)
    }

    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Acquire)
    }
}

#[derive(Debug)]
pub(crate) struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::AcqRel);
    }
}
