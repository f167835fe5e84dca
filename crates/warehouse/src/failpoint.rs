//! A failpoint for fault tests: `TIDEMARK_FAILPOINT_STOP_BEFORE_COMMIT=N` makes the process
//! stop itself (SIGSTOP) once, after staging the N-th merge and before its watermark update
//! and commit — a replica paused while holding a staged batch, deterministically. Unset (the
//! only production setting), it costs one relaxed atomic load per merge.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

const VAR: &str = "TIDEMARK_FAILPOINT_STOP_BEFORE_COMMIT";

static MERGES: AtomicU64 = AtomicU64::new(0);

pub(crate) fn before_commit() {
    static AT: OnceLock<Option<u64>> = OnceLock::new();
    let Some(at) = *AT.get_or_init(|| std::env::var(VAR).ok().and_then(|v| v.parse().ok())) else {
        return;
    };
    if MERGES.fetch_add(1, Ordering::Relaxed) + 1 == at {
        tracing::warn!("failpoint {VAR}={at}: stopping this process before commit");
        // SAFETY: raise(3) with a valid signal number.
        unsafe {
            libc::raise(libc::SIGSTOP);
        }
    }
}
