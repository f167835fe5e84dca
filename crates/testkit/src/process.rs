//! Small helpers for the processes the test kit owns.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use crate::error::TestkitError;

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
///
/// Panics if no socket can be bound at all (the machine cannot run any test then).
pub fn free_port() -> u16 {
    match try_free_port() {
        Ok(port) => port,
        Err(e) => panic!("cannot find a free TCP port: {e}"),
    }
}

pub(crate) fn try_free_port() -> Result<u16, TestkitError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| TestkitError::io("binding 127.0.0.1:0", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| TestkitError::io("reading the bound address", e))?;
    Ok(addr.port())
}

/// The directory of binaries cargo built next to the running executable
/// (`target/<profile>` for `target/<profile>/deps/test-xxx` or `target/<profile>/examples/x`).
fn profile_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let mut dir = exe.parent()?.to_path_buf();
    if dir
        .file_name()
        .is_some_and(|n| n == "deps" || n == "examples")
    {
        dir = dir.parent()?.to_path_buf();
    }
    Some(dir)
}

/// The path of a workspace binary if cargo built it next to the running executable.
pub(crate) fn find_workspace_bin(name: &str) -> Result<PathBuf, TestkitError> {
    let dir = profile_dir();
    if let Some(path) = dir.as_ref().map(|d| d.join(name)) {
        if path.is_file() {
            return Ok(path);
        }
    }
    Err(TestkitError::MissingBinary {
        name: name.to_string(),
        tried: dir.map_or_else(
            || "(current executable unknown)".to_string(),
            |d| d.display().to_string(),
        ),
        hint: format!(
            "run the tests with `cargo nextest run --workspace` so that bin {name} is built"
        ),
    })
}

/// The path of a binary built by cargo in the same target dir as the running test executable.
///
/// Panics with a clear message if it is missing.
pub fn workspace_bin(name: &str) -> PathBuf {
    match find_workspace_bin(name) {
        Ok(path) => path,
        Err(e) => panic!("{e}"),
    }
}

/// Polls `child` until it exits or `timeout` passes.
pub(crate) fn wait_timeout(
    child: &mut Child,
    timeout: Duration,
) -> Result<Option<ExitStatus>, TestkitError> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = child
            .try_wait()
            .map_err(|e| TestkitError::io(format!("waiting for process {}", child.id()), e))?;
        if status.is_some() || Instant::now() >= deadline {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGKILL a child we own (by its PID, through `Child::kill`) and reap it.
pub(crate) fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    if let Err(e) = child.wait() {
        tracing::warn!(pid = child.id(), error = %e, "reaping a killed child");
    }
}

/// The last ~40 lines (at most 16 KiB) of a log file, for error messages.
pub(crate) fn log_tail(path: &Path) -> String {
    let read = || -> std::io::Result<String> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    match read() {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// Opens a log file for appending, twice: the child's stdout and stderr.
pub(crate) fn log_pair(path: &Path) -> Result<(std::fs::File, std::fs::File), TestkitError> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| TestkitError::io(format!("opening {}", path.display()), e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| TestkitError::io("duplicating the log file handle", e))?;
    Ok((log, log2))
}

/// Launches a server again on its old port(s): while `wait` lasts and the failed launch's log
/// says the port is still held (the killed process's socket lingering), try again.
pub(crate) fn relaunch(
    wait: Duration,
    port_busy: impl Fn(&str) -> bool,
    mut launch: impl FnMut() -> Result<(), TestkitError>,
) -> Result<(), TestkitError> {
    let deadline = Instant::now() + wait;
    loop {
        match launch() {
            Err(TestkitError::Exited { ref log_tail, .. })
                if Instant::now() < deadline && port_busy(log_tail) =>
            {
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}
