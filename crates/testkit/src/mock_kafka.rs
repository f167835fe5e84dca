//! librdkafka's mock cluster, run in its own process (`tidemark-mock-kafka`).
//!
//! Running it out of process keeps the mock's broker threads away from the code under test
//! and lets a test drive faults (broker down/up) through a line protocol on stdin/stdout.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use crate::error::TestkitError;
use crate::process::{find_workspace_bin, kill_and_reap, log_tail};

/// Name of the bin target that hosts the mock cluster.
pub const MOCK_KAFKA_BIN: &str = "tidemark-mock-kafka";
/// How long to wait for the mock process to answer one line.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// A mock Kafka cluster in a child process; killed by PID on drop.
///
/// Retention: the mock keeps only the newest ~5 MiB / 100,000 message sets per partition
/// (hard-coded in librdkafka; not configurable), so the low watermark moves on big topics.
#[derive(Debug)]
pub struct MockKafka {
    /// The `tidemark-mock-kafka` process.
    child: Child,
    /// Its stdin, where commands are written (closing it makes the process exit).
    stdin: ChildStdin,
    /// Lines of its stdout, read by a thread so replies can be awaited with a timeout.
    lines: Receiver<String>,
    /// `host:port,...` of the mock brokers.
    bootstrap: String,
    /// Holds the stderr log of the process; removed on drop.
    _dir: tempfile::TempDir,
    /// The process's stderr (librdkafka logs), quoted in errors.
    log_path: PathBuf,
}

impl MockKafka {
    /// Starts a mock cluster with `brokers` brokers (ids 1..=brokers).
    ///
    /// The binary is `$TIDEMARK_MOCK_KAFKA_BIN` if set, else the `tidemark-mock-kafka` built
    /// by cargo next to the running test executable.
    pub fn start(brokers: usize) -> Result<MockKafka, TestkitError> {
        let bin = match std::env::var_os("TIDEMARK_MOCK_KAFKA_BIN") {
            Some(path) => PathBuf::from(path),
            None => find_workspace_bin(MOCK_KAFKA_BIN)?,
        };
        let dir = tempfile::Builder::new()
            .prefix("tidemark-mock-kafka-")
            .tempdir()
            .map_err(|e| TestkitError::io("creating a temp dir for the mock kafka", e))?;
        let log_path = dir.path().join("mock-kafka.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| TestkitError::io(format!("creating {}", log_path.display()), e))?;
        let mut child = Command::new(&bin)
            .arg("--brokers")
            .arg(brokers.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| TestkitError::io(format!("spawning {}", bin.display()), e))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            kill_and_reap(&mut child);
            return Err(TestkitError::MockKafka("child pipes missing".to_string()));
        };
        let (tx, lines) = mpsc::channel();
        std::thread::Builder::new()
            .name("mock-kafka-stdout".to_string())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| TestkitError::io("spawning the mock kafka reader thread", e))?;
        let mut mock = MockKafka {
            child,
            stdin,
            lines,
            bootstrap: String::new(),
            _dir: dir,
            log_path,
        };
        let first = mock.next_line()?;
        let Some(bootstrap) = first.strip_prefix("BOOTSTRAP ") else {
            return Err(TestkitError::MockKafka(format!(
                "expected `BOOTSTRAP <servers>`, got `{first}`"
            )));
        };
        mock.bootstrap = bootstrap.trim().to_string();
        tracing::info!(bootstrap = %mock.bootstrap, pid = mock.child.id(), "mock kafka started");
        Ok(mock)
    }

    /// Bootstrap servers of the mock cluster.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// PID of the mock process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Creates a topic (replication factor 1).
    pub fn create_topic(&mut self, name: &str, partitions: i32) -> Result<(), TestkitError> {
        self.request(&format!("create-topic {name} {partitions}"))
    }

    /// Creates a topic with a replication factor (followers on other mock brokers).
    pub fn create_topic_replicated(
        &mut self,
        name: &str,
        partitions: i32,
        replication: i32,
    ) -> Result<(), TestkitError> {
        self.request(&format!("create-topic {name} {partitions} {replication}"))
    }

    /// Takes a broker down: its connections are closed and new ones refused.
    pub fn broker_down(&mut self, id: i32) -> Result<(), TestkitError> {
        self.request(&format!("broker-down {id}"))
    }

    /// Brings a broker back up.
    pub fn broker_up(&mut self, id: i32) -> Result<(), TestkitError> {
        self.request(&format!("broker-up {id}"))
    }

    /// Sends one command line and waits for `OK` / `ERR reason`.
    fn request(&mut self, line: &str) -> Result<(), TestkitError> {
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| TestkitError::io(format!("sending `{line}` to the mock kafka"), e))?;
        let reply = self.next_line()?;
        if reply == "OK" {
            Ok(())
        } else if let Some(reason) = reply.strip_prefix("ERR ") {
            Err(TestkitError::MockKafka(format!("`{line}`: {reason}")))
        } else {
            Err(TestkitError::MockKafka(format!(
                "`{line}`: unexpected reply `{reply}`"
            )))
        }
    }

    fn next_line(&mut self) -> Result<String, TestkitError> {
        match self.lines.recv_timeout(REPLY_TIMEOUT) {
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => Err(TestkitError::MockKafka(format!(
                "no reply within {} s; log tail:\n{}",
                REPLY_TIMEOUT.as_secs(),
                log_tail(&self.log_path)
            ))),
            Err(RecvTimeoutError::Disconnected) => {
                let status = crate::process::wait_timeout(&mut self.child, REPLY_TIMEOUT)?;
                match status {
                    Some(status) => Err(TestkitError::Exited {
                        what: MOCK_KAFKA_BIN.to_string(),
                        status,
                        log_tail: log_tail(&self.log_path),
                    }),
                    None => Err(TestkitError::MockKafka(format!(
                        "stdout closed; log tail:\n{}",
                        log_tail(&self.log_path)
                    ))),
                }
            }
        }
    }
}

impl Drop for MockKafka {
    fn drop(&mut self) {
        kill_and_reap(&mut self.child);
    }
}
