//! A failpoint for fault tests: `TIDEMARK_FAILPOINT_STOP_BEFORE_COMMIT=N` makes the process
//! stop itself (SIGSTOP) once, after staging the N-th merge and before its watermark update
//! and commit — a replica paused while holding a staged batch, deterministically. Unset (the
//! only production setting), it costs one relaxed atomic load per merge.
//!
//! It stops only while no other merge of the process holds watermark locks (between taking
//! them and the end of its transaction): a process paused there is another scenario, in which
//! the other replicas' claims of those partitions (and, on the Redshift dialect, whose lock is
//! the whole watermarks table's, every claim and `tidemark status`) wait until it wakes or its
//! connection dies. The Redshift cluster test of a paused replica failed on it when a merge of
//! another table was at its commit at that moment (2 of 5 loaded runs of the cluster tests).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const VAR: &str = "TIDEMARK_FAILPOINT_STOP_BEFORE_COMMIT";

static MERGES: AtomicU64 = AtomicU64::new(0);

/// Merges of this process holding (or about to ask for) watermark locks, when armed.
static HOLDING: AtomicUsize = AtomicUsize::new(0);

/// The merge at which to stop, if the failpoint is armed.
fn armed() -> Option<u64> {
    static AT: OnceLock<Option<u64>> = OnceLock::new();
    *AT.get_or_init(|| std::env::var(VAR).ok().and_then(|v| v.parse().ok()))
}

/// Counts a merge among those holding watermark locks until dropped (at the end of its
/// transaction); nothing when the failpoint is unarmed.
pub(crate) struct Holding(());

impl Drop for Holding {
    fn drop(&mut self) {
        HOLDING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Call before asking for watermark locks; keep the guard until the transaction ends.
pub(crate) fn holding_watermarks() -> Option<Holding> {
    armed()?;
    HOLDING.fetch_add(1, Ordering::Relaxed);
    Some(Holding(()))
}

pub(crate) fn before_commit() {
    let Some(at) = armed() else {
        return;
    };
    if MERGES.fetch_add(1, Ordering::Relaxed) + 1 == at {
        // Bounded: a merge stuck at its commit for 10 s stops the test's scenario anyway.
        let deadline = Instant::now() + Duration::from_secs(10);
        while HOLDING.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        tracing::warn!("failpoint {VAR}={at}: stopping this process before commit");
        // SAFETY: raise(3) with a valid signal number.
        unsafe {
            libc::raise(libc::SIGSTOP);
        }
    }
}
