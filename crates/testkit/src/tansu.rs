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

/// A SASL/SCRAM credential for [`Tansu::create_user`].
#[derive(Debug, Clone)]
pub struct ScramUser {
    pub name: String,
    pub password: String,
    /// `"scram256"` or `"scram512"` (tansu's names for SCRAM-SHA-256/512).
    pub mechanism: &'static str,
}

/// A `tansu broker` process storing its data in `TEMPDIR/tansu.db`; killed by PID on drop.
#[derive(Debug)]
pub struct Tansu {
    /// The `tansu` binary, reused by `create_topic` and `restart`.
    bin: PathBuf,
    /// Working dir of the broker: holds the SQLite database and the log; removed on drop.
    dir: tempfile::TempDir,
    /// Broker output (stdout + stderr of every run), quoted in errors.
    log_path: PathBuf,
    /// TCP port on 127.0.0.1 the broker listens on, kept across restarts.
    port: u16,
    /// What rdkafka clients bootstrap from: `127.0.0.1:PORT`, or the TLS proxy's address once
    /// [`Tansu::secure`] made the broker advertise it.
    bootstrap: String,
    /// Client properties every client of this broker needs (security settings after
    /// [`Tansu::secure`]); used by the readiness probe and topic checks.
    client: Vec<(String, String)>,
    /// `--authentication` (SASL required) on every launch after [`Tansu::secure`].
    authentication: bool,
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
            client: Vec::new(),
            authentication: false,
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

    /// Client properties every client of this broker needs (empty until [`Tansu::secure`]).
    pub fn client_properties(&self) -> &[(String, String)] {
        &self.client
    }

    /// Stores a SASL/SCRAM credential with `tansu user create` (before [`Tansu::secure`]: the
    /// command does not authenticate).
    pub fn create_user(&self, user: &ScramUser) -> Result<(), TestkitError> {
        let broker = format!("tcp://127.0.0.1:{}", self.port);
        self.run_cli(&[
            "user",
            "create",
            "--broker",
            &broker,
            "--mechanism",
            user.mechanism,
            &user.name,
            &user.password,
        ])
    }

    /// Restarts the broker requiring SASL authentication and advertising `localhost:PORT` of a
    /// [`crate::TlsProxy`] in front of it, so that every client connection goes through the
    /// proxy; `client` are the properties a client then needs (security protocol, mechanism,
    /// credentials, CA). Topics and users must exist before: tansu's CLI cannot authenticate.
    pub fn secure(
        &mut self,
        proxy_port: u16,
        client: Vec<(String, String)>,
    ) -> Result<(), TestkitError> {
        self.authentication = true;
        self.bootstrap = format!("localhost:{proxy_port}");
        self.client = client;
        self.restart()
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
        let broker = format!("tcp://127.0.0.1:{}", self.port);
        let partitions_arg = partitions.to_string();
        self.run_cli(&[
            "topic",
            "create",
            name,
            "--partitions",
            &partitions_arg,
            "--broker",
            &broker,
        ])?;
        wait_for_topic(
            &self.bootstrap,
            &self.client,
            name,
            partitions,
            Duration::from_secs(10),
        )
    }

    /// Runs `tansu ARGS` and fails with its output if it fails.
    fn run_cli(&self, args: &[&str]) -> Result<(), TestkitError> {
        let out = Command::new(&self.bin).args(args).output().map_err(|e| {
            TestkitError::io(format!("running {} {}", self.bin.display(), args[0]), e)
        })?;
        if out.status.success() {
            return Ok(());
        }
        Err(TestkitError::Command {
            program: format!("tansu {}", args.join(" ")),
            status: out.status,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
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
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = format!("tcp://{}", self.bootstrap);
        // The SQLite path is relative to the working directory (tansu joins the URL path
        // onto its current dir), hence current_dir + `sqlite://tansu.db`.
        let mut cmd = Command::new(&self.bin);
        cmd.arg("broker")
            .args([
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        if self.authentication {
            cmd.arg("--authentication");
        }
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
                match metadata_probe(&self.bootstrap, &self.client) {
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

fn probe_consumer(
    bootstrap: &str,
    client: &[(String, String)],
) -> Result<BaseConsumer, TestkitError> {
    let mut config = ClientConfig::new();
    for (key, value) in client {
        config.set(key, value);
    }
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "tidemark-testkit-probe")
        .set("enable.auto.commit", "false")
        .set("log_level", "3")
        .create()
        .map_err(|e| TestkitError::kafka(format!("creating a client for {bootstrap}"), e))
}

/// One metadata request to the broker.
fn metadata_probe(bootstrap: &str, client: &[(String, String)]) -> Result<(), TestkitError> {
    let consumer = probe_consumer(bootstrap, client)?;
    consumer
        .fetch_metadata(None, Duration::from_secs(2))
        .map(|_| ())
        .map_err(|e| TestkitError::kafka(format!("metadata request to {bootstrap}"), e))
}

/// Waits until metadata shows `topic` with `partitions` partitions.
pub(crate) fn wait_for_topic(
    bootstrap: &str,
    client: &[(String, String)],
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<(), TestkitError> {
    let consumer = probe_consumer(bootstrap, client)?;
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
