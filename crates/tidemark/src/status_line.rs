//! One progress line at the bottom of stderr, with log lines printed above it.
//!
//! On a terminal the line is redrawn in place; a log event first erases it, prints itself and
//! then redraws it, so a log line never lands in the middle of the progress text. Off a terminal
//! (CI logs, a file) nothing is redrawn: each update is a plain line, and callers update less
//! often (see [`StatusLine::is_terminal`]).

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};

/// The process-wide progress line of stderr.
pub struct StatusLine {
    /// The text currently shown (empty: none), redrawn under every log line.
    current: Mutex<String>,
    /// Whether stderr is a terminal: decides between redrawing and plain lines.
    terminal: bool,
}

/// Erase the current terminal line and return to its start.
const ERASE: &str = "\r\x1b[2K";

impl StatusLine {
    pub fn get() -> &'static StatusLine {
        static LINE: OnceLock<StatusLine> = OnceLock::new();
        LINE.get_or_init(|| StatusLine {
            current: Mutex::new(String::new()),
            terminal: std::io::stderr().is_terminal(),
        })
    }

    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// Shows `text` as the progress line.
    pub fn set(&self, text: String) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let mut err = std::io::stderr().lock();
        // Progress output is best effort: a closed stderr must not stop the pipeline.
        let _ = if self.terminal {
            write!(err, "{ERASE}{text}")
        } else {
            writeln!(err, "{text}")
        };
        let _ = err.flush();
        *current = if self.terminal { text } else { String::new() };
    }

    /// Leaves the last progress text on screen as an ordinary line and stops redrawing it.
    pub fn finish(&self) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if !current.is_empty() {
            let _ = writeln!(std::io::stderr().lock());
            current.clear();
        }
    }

    /// Writes one log record's bytes above the progress line.
    fn write_log(&self, buf: &[u8]) -> std::io::Result<()> {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let mut err = std::io::stderr().lock();
        if current.is_empty() {
            return err.write_all(buf);
        }
        err.write_all(ERASE.as_bytes())?;
        err.write_all(buf)?;
        err.write_all(current.as_bytes())?;
        err.flush()
    }
}

/// The `tracing` writer for stderr that keeps the progress line below the logs.
#[derive(Clone, Copy, Default)]
pub struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // tracing-subscriber's fmt layer formats an event into one buffer and writes it with
        // a single write_all, so one call here is one whole log line.
        StatusLine::get().write_log(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}
