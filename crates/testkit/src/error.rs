//! Errors of the test support code.

use std::process::ExitStatus;

/// Everything that can go wrong in the test kit (brokers, producing, reading tables).
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// An operating-system call failed.
    #[error("{context}")]
    Io {
        /// What we were doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A Kafka client call failed.
    #[error("{context}")]
    Kafka {
        /// What we were doing (broker, topic, partition).
        context: String,
        /// The client error.
        #[source]
        source: rdkafka::error::KafkaError,
    },

    /// A PostgreSQL call failed.
    #[error("{context}: {detail}")]
    Postgres {
        /// What we were doing (statement or connection).
        context: String,
        /// The driver error with its causes (its `Display` alone says only "db error").
        detail: String,
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// The throwaway PostgreSQL failed.
    #[error("local postgres: {0}")]
    LocalPg(#[from] tidemark_localpg::LocalPgError),

    /// A binary the test kit runs is not there.
    #[error("binary `{name}` not found (looked at {tried}); {hint}")]
    MissingBinary {
        /// Binary name.
        name: String,
        /// The places that were searched.
        tried: String,
        /// How to get it.
        hint: String,
    },

    /// A helper process exited when it should be running.
    #[error("{what} exited with {status}; log tail:\n{log_tail}")]
    Exited {
        /// Which process.
        what: String,
        /// Its exit status.
        status: ExitStatus,
        /// The last lines of its log.
        log_tail: String,
    },

    /// A helper process did not become ready in time (it has been killed).
    #[error(
        "{what} not ready after {secs} s (killed); last error: {last_error}; log tail:\n{log_tail}"
    )]
    NotReady {
        /// Which process.
        what: String,
        /// How long we waited.
        secs: u64,
        /// The last readiness-probe failure.
        last_error: String,
        /// The last lines of its log.
        log_tail: String,
    },

    /// The mock Kafka process broke its line protocol or refused a command.
    /// Generating certificates or configuring the TLS proxy failed.
    #[error("test TLS: {0}")]
    Tls(String),

    #[error("mock kafka: {0}")]
    MockKafka(String),

    /// A helper command (e.g. `tansu topic create`) failed.
    #[error("`{program}` failed with {status}: {output}")]
    Command {
        /// Program and arguments.
        program: String,
        /// Its exit status.
        status: ExitStatus,
        /// Its output.
        output: String,
    },

    /// A topic did not show up with the expected partitions.
    #[error("topic `{topic}` expected with {expected} partitions, metadata shows {found}")]
    TopicMismatch {
        /// Topic name.
        topic: String,
        /// Partitions asked for.
        expected: i32,
        /// What metadata said last (or "missing").
        found: String,
    },

    /// A record could not be delivered.
    #[error("delivery to {topic}[{partition}] failed")]
    Delivery {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The producer error.
        #[source]
        source: rdkafka::error::KafkaError,
    },

    /// The producer dropped a delivery report (it was shut down).
    #[error("delivery report for {topic}[{partition}] was canceled")]
    DeliveryCanceled {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },

    /// Rows of a table that share a key when they must not.
    #[error(
        "{table}: {count} rows share a key with another row; examples (key => rows): {examples}"
    )]
    DuplicateKeys {
        /// Table name.
        table: String,
        /// Number of surplus rows (rows beyond the first of each key).
        count: u64,
        /// A few duplicated keys with their rows.
        examples: String,
    },

    /// A key column is NULL, so the row cannot be keyed.
    #[error("{table}: key column `{column}` is NULL in row {row:?}")]
    NullKey {
        /// Table name.
        table: String,
        /// The NULL key column.
        column: String,
        /// The row's texts.
        row: Vec<Option<String>>,
    },
}

impl TestkitError {
    /// Wraps an I/O error with what we were doing.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> TestkitError {
        TestkitError::Io {
            context: context.into(),
            source,
        }
    }

    /// Wraps a Kafka error with what we were doing.
    pub(crate) fn kafka(
        context: impl Into<String>,
        source: rdkafka::error::KafkaError,
    ) -> TestkitError {
        TestkitError::Kafka {
            context: context.into(),
            source,
        }
    }

    /// Wraps a PostgreSQL error with what we were doing.
    pub(crate) fn pg(context: impl Into<String>, source: tokio_postgres::Error) -> TestkitError {
        let detail = match source.as_db_error() {
            Some(db) => {
                let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
                if let Some(d) = db.detail() {
                    text.push_str(&format!(" (detail: {d})"));
                }
                if let Some(h) = db.hint() {
                    text.push_str(&format!(" (hint: {h})"));
                }
                text
            }
            None => {
                let mut text = source.to_string();
                let mut cause = std::error::Error::source(&source);
                while let Some(c) = cause {
                    text.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                text
            }
        };
        TestkitError::Postgres {
            context: context.into(),
            detail,
            source,
        }
    }
}
