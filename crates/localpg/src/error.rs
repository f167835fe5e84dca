//! Errors of the throwaway PostgreSQL server.

use std::path::PathBuf;
use std::process::ExitStatus;

/// Everything that can go wrong while preparing, starting or stopping a [`crate::LocalPostgres`].
#[derive(Debug, thiserror::Error)]
pub enum LocalPgError {
    /// No PostgreSQL binary directory could be found.
    #[error(
        "no PostgreSQL binaries found (tried {tried}); install PostgreSQL or set TIDEMARK_PG_BINDIR"
    )]
    BinDirNotFound {
        /// The places that were searched, for the message.
        tried: String,
    },

    /// An operating-system call failed.
    #[error("{context}")]
    Io {
        /// What we were doing (with the path involved).
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The unprivileged user the server must run as (when we are root) does not exist.
    #[error("running as root, but user `{user}` to run PostgreSQL as was not found: {reason}")]
    UserNotFound {
        /// The user name looked up.
        user: String,
        /// Why the lookup failed.
        reason: String,
    },

    /// `postgres --version` printed something unexpected.
    #[error("cannot parse the PostgreSQL major version from `{output}` ({binary})")]
    Version {
        /// The binary that was asked.
        binary: PathBuf,
        /// What it printed.
        output: String,
    },

    /// A helper program (initdb, createdb, ...) failed.
    #[error("`{program}` failed with {status}: {output}")]
    Command {
        /// Program and arguments, for the message.
        program: String,
        /// Its exit status.
        status: ExitStatus,
        /// Its combined stdout and stderr.
        output: String,
    },

    /// The server exited while we were waiting for it to accept connections.
    #[error("postgres on port {port} exited during startup with {status}; log tail:\n{log_tail}")]
    Exited {
        /// The port it was asked to listen on.
        port: u16,
        /// Its exit status.
        status: ExitStatus,
        /// The last lines of its log file.
        log_tail: String,
    },

    /// The server did not accept connections in time (it has been killed).
    #[error("postgres on port {port} not ready after {secs} s (killed); log tail:\n{log_tail}")]
    StartTimeout {
        /// The port it was asked to listen on.
        port: u16,
        /// How long we waited.
        secs: u64,
        /// The last lines of its log file.
        log_tail: String,
    },
}

impl LocalPgError {
    /// Wraps an I/O error with what we were doing.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> LocalPgError {
        LocalPgError::Io {
            context: context.into(),
            source,
        }
    }
}
