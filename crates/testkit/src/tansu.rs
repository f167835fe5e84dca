//! A real standalone Kafka-protocol broker: `tansu` with SQLite storage in a temp dir.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use crate::error::TestkitError;
use crate::process::{kill_and_reap, log_pair, log_tail, relaunch, try_free_port, wait_timeout};

/// How long the broker may take to answer a metadata request.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How many free ports to try if another process grabs ours first.
const PORT_ATTEMPTS: usize = 5;
/// How to install the broker, for error messages.
const INSTALL_HINT: &str =
    "run the tests with `cargo xtask test`, which installs it (or `cargo xtask setup` alone)";

/// A `tansu broker` process storing its data in `TEMPDIR/tansu.db`; killed by PID on drop.
#[derive(Debug)]
pub struct Tansu {
    /// The `tansu` binary, reused by `create_topic` and `restart`.
    bin: PathBuf,
    /// Working dir of the broker: holds the SQLite database and the log; removed on drop.
    dir: tempfile::TempDir,
    /// Broker output (stdout + stderr of every run), quoted in errors.
    log_path: PathBuf,
    /// TCP port on 127.0.0.1, kept across restarts.
    port: u16,
    /// `127.0.0.1:PORT`, what rdkafka clients bootstrap from.
    bootstrap: String,
    /// The broker process while it runs; `None` after `kill9`.
    child: Option<Child>,
}

impl Tansu {
    /// Starts a broker on a free port with an empty SQLite database.
    pub fn start() -> Result<Tansu, TestkitError> {
        let bin = find_tansu()?;
        let dir = tempfile::Builder::new()
            .prefix("tidemark-tansu-")
            .tempdir()
            .map_err(|e| TestkitError::io("creating a temp dir for tansu", e))?;
        let log_path = dir.path().join("tansu.log");
        let mut tansu = Tansu {
            bin,
            dir,
            log_path,
            port: 0,
            bootstrap: String::new(),
            child: None,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            tansu.port = try_free_port()?;
            tansu.bootstrap = format!("127.0.0.1:{}", tansu.port);
            match tansu.launch() {
                Ok(()) => break,
                Err(TestkitError::Exited { ref log_tail, .. })
                    if attempt < PORT_ATTEMPTS && log_tail.contains("in use") => {}
                Err(e) => return Err(e),
            }
        }
        tracing::info!(bootstrap = %tansu.bootstrap, pid = tansu.pid(), "tansu started");
        Ok(tansu)
    }

    /// Bootstrap servers (`127.0.0.1:PORT`).
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The broker's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// PID of the broker, if running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The broker's working directory (holds `tansu.db`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Creates a topic with `tansu topic create`, then waits until metadata shows it with
    /// `partitions` partitions.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), TestkitError> {
        let broker = format!("tcp://{}", self.bootstrap);
        let out = Command::new(&self.bin)
            .args(["topic", "create", name, "--partitions"])
            .arg(partitions.to_string())
            .args(["--broker", &broker])
            .output()
            .map_err(|e| {
                TestkitError::io(format!("running {} topic create", self.bin.display()), e)
            })?;
        if !out.status.success() {
            return Err(TestkitError::Command {
                program: format!(
                    "tansu topic create {name} --partitions {partitions} --broker {broker}"
                ),
                status: out.status,
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            });
        }
        wait_for_topic(&self.bootstrap, name, partitions, Duration::from_secs(10))
    }

    /// SIGKILL the broker (a crash). Data acknowledged before stays in the SQLite file.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
    }

    /// Starts the broker again on the same port and database (killing it first if running).
    pub fn restart(&mut self) -> Result<(), TestkitError> {
        self.kill9();
        relaunch(
            Duration::from_secs(5),
            |tail: &str| tail.contains("in use"),
            || self.launch(),
        )
    }

    /// Spawns the broker on `self.port` and waits until it answers a metadata request.
    fn launch(&mut self) -> Result<(), TestkitError> {
        let (log, log2) = log_pair(&self.log_path)?;
        let url = format!("tcp://{}", self.bootstrap);
        // The SQLite path is relative to the working directory (tansu joins the URL path
        // onto its current dir), hence current_dir + `sqlite://tansu.db`.
        let mut cmd = Command::new(&self.bin);
        cmd.arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        for var in [
            "CLUSTER_ID",
            "LISTENER_URL",
            "ADVERTISED_LISTENER_URL",
            "STORAGE_ENGINE",
            "SCHEMA_REGISTRY",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ] {
            cmd.env_remove(var);
        }
        let child = cmd
            .spawn()
            .map_err(|e| TestkitError::io(format!("spawning {}", self.bin.display()), e))?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), TestkitError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut last_error = "no TCP connection yet".to_string();
        loop {
            let Some(child) = self.child.as_mut() else {
                return Ok(());
            };
            if let Some(status) = child
                .try_wait()
                .map_err(|e| TestkitError::io("waiting for tansu", e))?
            {
                self.child = None;
                return Err(TestkitError::Exited {
                    what: format!("tansu on port {}", self.port),
                    status,
                    log_tail: log_tail(&self.log_path),
                });
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
                match metadata_probe(&self.bootstrap) {
                    Ok(()) => return Ok(()),
                    Err(e) => last_error = e.to_string(),
                }
            }
            if Instant::now() >= deadline {
                self.kill9();
                return Err(TestkitError::NotReady {
                    what: format!("tansu on port {}", self.port),
                    secs: READY_TIMEOUT.as_secs(),
                    last_error,
                    log_tail: log_tail(&self.log_path),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Give it a moment to close SQLite cleanly, then kill.
            let _ = sigterm(&child);
            if !matches!(
                wait_timeout(&mut child, Duration::from_secs(2)),
                Ok(Some(_))
            ) {
                kill_and_reap(&mut child);
            }
        }
    }
}

/// SIGTERM by PID.
fn sigterm(child: &Child) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(child.id())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: kill has no memory-safety preconditions; pid is our own child (> 0).
    if unsafe { libc::kill(pid, libc::SIGTERM) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// `$TANSU_BIN`, else `tansu` on PATH, else `$HOME/.cargo/bin/tansu`, else `/root/.cargo/bin/tansu`.
fn find_tansu() -> Result<PathBuf, TestkitError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("TANSU_BIN") {
        candidates.push(PathBuf::from(path));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("tansu")));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cargo/bin/tansu"));
    }
    candidates.push(PathBuf::from("/root/.cargo/bin/tansu"));
    match candidates.iter().find(|p| p.is_file()) {
        Some(path) => Ok(path.clone()),
        None => Err(TestkitError::MissingBinary {
            name: "tansu".to_string(),
            tried: "$TANSU_BIN, PATH, ~/.cargo/bin, /root/.cargo/bin".to_string(),
            hint: INSTALL_HINT.to_string(),
        }),
    }
}

fn probe_consumer(bootstrap: &str) -> Result<BaseConsumer, TestkitError> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "tidemark-testkit-probe")
        .set("enable.auto.commit", "false")
        .set("log_level", "3")
        .create()
        .map_err(|e| TestkitError::kafka(format!("creating a client for {bootstrap}"), e))
}

/// One metadata request to the broker.
fn metadata_probe(bootstrap: &str) -> Result<(), TestkitError> {
    let consumer = probe_consumer(bootstrap)?;
    consumer
        .fetch_metadata(None, Duration::from_secs(2))
        .map(|_| ())
        .map_err(|e| TestkitError::kafka(format!("metadata request to {bootstrap}"), e))
}

/// Waits until metadata shows `topic` with `partitions` partitions.
pub(crate) fn wait_for_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<(), TestkitError> {
    let consumer = probe_consumer(bootstrap)?;
    let deadline = Instant::now() + timeout;
    loop {
        let found = match consumer.fetch_metadata(Some(topic), Duration::from_secs(2)) {
            Ok(md) => match md.topics().iter().find(|t| t.name() == topic) {
                Some(t) if t.error().is_none() => {
                    if t.partitions().len() == partitions as usize {
                        return Ok(());
                    }
                    format!("{} partitions", t.partitions().len())
                }
                Some(t) => format!("error {:?}", t.error()),
                None => "missing".to_string(),
            },
            Err(e) => format!("metadata error: {e}"),
        };
        if Instant::now() >= deadline {
            return Err(TestkitError::TopicMismatch {
                topic: topic.to_string(),
                expected: partitions,
                found,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
