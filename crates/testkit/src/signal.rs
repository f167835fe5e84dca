//! Sending signals to processes by PID (SIGSTOP/SIGCONT for zombie-owner tests, SIGTERM for
//! graceful-shutdown tests).

use crate::error::TestkitError;

/// Sends signal `sig` (e.g. `libc::SIGSTOP`, `libc::SIGCONT`, `libc::SIGTERM`) to the single
/// process `pid`.
///
/// PID 0 and PIDs that do not fit a `pid_t` are refused: `kill(2)` would read them as a
/// process group.
pub fn signal(pid: u32, sig: i32) -> Result<(), TestkitError> {
    let context = || format!("sending signal {sig} to process {pid}");
    let target = libc::pid_t::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            TestkitError::io(
                context(),
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a single-process PID"),
            )
        })?;
    // SAFETY: kill has no memory-safety preconditions; target names one process (> 0).
    if unsafe { libc::kill(target, sig) } == 0 {
        Ok(())
    } else {
        Err(TestkitError::io(context(), std::io::Error::last_os_error()))
    }
}
