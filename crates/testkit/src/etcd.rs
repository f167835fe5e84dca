//! A single-member etcd cluster for coordination tests: `etcd` with its data in a temp dir.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::TestkitError;
use crate::process::{kill_and_reap, log_pair, log_tail, relaunch, try_free_port};
use crate::tls::Certificates;

/// How long etcd may take to report itself healthy.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a restart keeps retrying while the old ports are still held.
const RESTART_PORT_WAIT: Duration = Duration::from_secs(5);
/// How many pairs of free ports to try if another process grabs ours first.
const PORT_ATTEMPTS: usize = 5;
/// Timeout of one health request (connect, write, read each).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How to install etcd, for error messages.
const INSTALL_HINT: &str = "install the Debian package `etcd-server` (or set ETCD_BIN)";
/// The member name (each `Etcd` is its own one-member cluster).
const MEMBER_NAME: &str = "tidemark-test";

/// An `etcd` process serving one member on 127.0.0.1; killed by PID on drop, its data dir
/// removed with it.
#[derive(Debug)]
pub struct Etcd {
    /// The `etcd` binary, reused by `restart`.
    bin: PathBuf,
    /// Holds the data dir and the log; removed on drop.
    dir: tempfile::TempDir,
    /// `--data-dir`, kept across restarts (state survives them).
    data_dir: PathBuf,
    /// etcd output (stdout + stderr of every run), quoted in errors.
    log_path: PathBuf,
    /// Client port on 127.0.0.1, kept across restarts.
    client_port: u16,
    /// Peer port on 127.0.0.1, kept across restarts.
    peer_port: u16,
    /// The etcd process while it runs; `None` after `kill9`.
    child: Option<Child>,
    /// Serve clients over TLS with this CA's server certificate, requiring client
    /// certificates signed by it (`--client-cert-auth`); see [`Etcd::start_tls`].
    tls: Option<Certificates>,
    /// Plain-HTTP port of `/health` and `/metrics` (`--listen-metrics-urls`), so readiness
    /// is probed the same way with and without TLS on the client port.
    metrics_port: u16,
}

impl Etcd {
    /// Starts a fresh one-member cluster on free client and peer ports and waits (up to 30 s)
    /// until `GET /health` answers `{"health":"true"}`.
    pub fn start() -> Result<Etcd, TestkitError> {
        Self::start_with(None)
    }

    /// [`Etcd::start`] serving clients over TLS only (`https://`), with the server
    /// certificate of `certificates` and client certificates required (signed by the same CA;
    /// its server certificate doubles as the client's).
    pub fn start_tls(certificates: &Certificates) -> Result<Etcd, TestkitError> {
        Self::start_with(Some(certificates.clone()))
    }

    fn start_with(tls: Option<Certificates>) -> Result<Etcd, TestkitError> {
        let bin = find_etcd()?;
        let dir = tempfile::Builder::new()
            .prefix("tidemark-etcd-")
            .tempdir()
            .map_err(|e| TestkitError::io("creating a temp dir for etcd", e))?;
        let data_dir = dir.path().join("data");
        let log_path = dir.path().join("etcd.log");
        let mut etcd = Etcd {
            bin,
            dir,
            data_dir,
            log_path,
            client_port: 0,
            peer_port: 0,
            child: None,
            tls,
            metrics_port: 0,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            etcd.client_port = try_free_port()?;
            etcd.peer_port = try_free_port()?;
            etcd.metrics_port = try_free_port()?;
            if etcd.peer_port == etcd.client_port
                || etcd.metrics_port == etcd.client_port
                || etcd.metrics_port == etcd.peer_port
            {
                continue;
            }
            match etcd.launch() {
                Ok(()) => break,
                Err(TestkitError::Exited { ref log_tail, .. })
                    if attempt < PORT_ATTEMPTS && port_taken(log_tail) =>
                {
                    // Start the next attempt from an empty data dir: the member's peer URL is
                    // recorded in it.
                    if etcd.data_dir.exists() {
                        std::fs::remove_dir_all(&etcd.data_dir).map_err(|e| {
                            TestkitError::io(format!("removing {}", etcd.data_dir.display()), e)
                        })?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        tracing::info!(endpoint = %etcd.endpoint(), pid = etcd.pid(), "etcd started");
        Ok(etcd)
    }

    /// The client URL, `http://127.0.0.1:PORT` (`https://localhost:PORT` with TLS: the name
    /// the certificate is for).
    pub fn endpoint(&self) -> String {
        match self.tls {
            None => format!("http://127.0.0.1:{}", self.client_port),
            Some(_) => format!("https://localhost:{}", self.client_port),
        }
    }

    /// The client port on 127.0.0.1.
    pub fn client_port(&self) -> u16 {
        self.client_port
    }

    /// PID of the etcd process, if running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The data directory (removed on drop).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The last lines of etcd's log, for assertion messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path)
    }

    /// One `GET /health` request: `Ok` if etcd answers 200 with `{"health":"true"}`.
    pub fn health(&self) -> Result<(), TestkitError> {
        health_probe(self.metrics_port)
    }

    /// Turns authentication on as an operator would (`etcdctl user add root`, `grant-role root
    /// root`, `auth enable`), with `root_password` for the root user. Talks TLS with the CA and
    /// certificate of [`Etcd::start_tls`] when the server has them.
    pub async fn enable_auth(&self, root_password: &str) -> Result<(), TestkitError> {
        let etcd = |context: &str, e: etcd_client::Error| {
            TestkitError::io(
                format!("etcd {context}"),
                std::io::Error::other(e.to_string()),
            )
        };
        let mut options = etcd_client::ConnectOptions::new();
        if let Some(tls) = &self.tls {
            let pem = |path: &Path| {
                std::fs::read(path)
                    .map_err(|e| TestkitError::io(format!("reading {}", path.display()), e))
            };
            options = options.with_tls(
                etcd_client::TlsOptions::new()
                    .ca_certificate(etcd_client::Certificate::from_pem(pem(&tls.ca)?))
                    .identity(etcd_client::Identity::from_pem(
                        pem(&tls.cert)?,
                        pem(&tls.key)?,
                    )),
            );
        }
        let mut client = etcd_client::Client::connect([self.endpoint()], Some(options))
            .await
            .map_err(|e| etcd("connect", e))?;
        client
            .user_add("root", root_password, None)
            .await
            .map_err(|e| etcd("user add root", e))?;
        client
            .user_grant_role("root", "root")
            .await
            .map_err(|e| etcd("user grant-role root root", e))?;
        client
            .auth_enable()
            .await
            .map_err(|e| etcd("auth enable", e))?;
        Ok(())
    }

    /// SIGKILL etcd (a crash). Committed data stays in the data dir.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
    }

    /// Starts etcd again on the same ports and data dir (killing it first if running), so the
    /// stored keys survive; waits until it is healthy.
    pub fn restart(&mut self) -> Result<(), TestkitError> {
        self.kill9();
        relaunch(RESTART_PORT_WAIT, port_taken, || self.launch())
    }

    /// Spawns etcd on `self.client_port`/`self.peer_port` and waits until it is healthy.
    fn launch(&mut self) -> Result<(), TestkitError> {
        let (log, log2) = log_pair(&self.log_path)?;
        let client_url = match self.tls {
            None => self.endpoint(),
            Some(_) => format!("https://127.0.0.1:{}", self.client_port),
        };
        let peer_url = format!("http://127.0.0.1:{}", self.peer_port);
        let metrics_url = format!("http://127.0.0.1:{}", self.metrics_port);
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--name")
            .arg(MEMBER_NAME)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .arg("--initial-cluster")
            .arg(format!("{MEMBER_NAME}={peer_url}"))
            .args(["--initial-cluster-state", "new"])
            .arg("--initial-cluster-token")
            .arg(format!("tidemark-test-{}", self.client_port))
            .args(["--listen-metrics-urls", &metrics_url])
            .args(["--logger", "zap", "--log-outputs", "stderr"])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        if let Some(tls) = &self.tls {
            cmd.arg("--cert-file")
                .arg(&tls.cert)
                .arg("--key-file")
                .arg(&tls.key)
                .arg("--trusted-ca-file")
                .arg(&tls.ca)
                .arg("--client-cert-auth");
        }
        // Every flag has an ETCD_* twin; a stray one in the test environment would clash.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ETCD_") {
                cmd.env_remove(key);
            }
        }
        let child = cmd
            .spawn()
            .map_err(|e| TestkitError::io(format!("spawning {}", self.bin.display()), e))?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), TestkitError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let Some(child) = self.child.as_mut() else {
                return Ok(());
            };
            if let Some(status) = child
                .try_wait()
                .map_err(|e| TestkitError::io("waiting for etcd", e))?
            {
                self.child = None;
                return Err(TestkitError::Exited {
                    what: format!("etcd on {}", self.endpoint()),
                    status,
                    log_tail: log_tail(&self.log_path),
                });
            }
            let last_error = match health_probe(self.metrics_port) {
                Ok(()) => return Ok(()),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                self.kill9();
                return Err(TestkitError::NotReady {
                    what: format!("etcd on {}", self.endpoint()),
                    secs: READY_TIMEOUT.as_secs(),
                    last_error,
                    log_tail: log_tail(&self.log_path),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        // The data dir is thrown away, so there is nothing to shut down cleanly.
        self.kill9();
    }
}

/// Whether etcd's log says a listener could not bind.
fn port_taken(log_tail: &str) -> bool {
    log_tail.contains("address already in use")
}

/// `$ETCD_BIN`, else `etcd` on PATH, else `/usr/bin/etcd`.
fn find_etcd() -> Result<PathBuf, TestkitError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("ETCD_BIN") {
        candidates.push(PathBuf::from(path));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("etcd")));
    }
    candidates.push(PathBuf::from("/usr/bin/etcd"));
    match candidates.iter().find(|p| p.is_file()) {
        Some(path) => Ok(path.clone()),
        None => Err(TestkitError::MissingBinary {
            name: "etcd".to_string(),
            tried: "$ETCD_BIN, PATH, /usr/bin".to_string(),
            hint: INSTALL_HINT.to_string(),
        }),
    }
}

/// `GET /health` over HTTP/1.0 on 127.0.0.1:`port`.
fn health_probe(port: u16) -> Result<(), TestkitError> {
    let context = format!("etcd health at http://127.0.0.1:{port}/health");
    let (status, body) =
        http_get(port, "/health").map_err(|e| TestkitError::io(context.clone(), e))?;
    if status == 200 && body.contains(r#""health":"true""#) {
        Ok(())
    } else {
        Err(TestkitError::io(
            context,
            std::io::Error::other(format!("answered {status}: {}", body.trim())),
        ))
    }
}

/// A minimal HTTP/1.0 GET (the server closes the connection after the answer): status and
/// body.
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)?;
    stream.set_read_timeout(Some(PROBE_TIMEOUT))?;
    stream.set_write_timeout(Some(PROBE_TIMEOUT))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "not an HTTP answer: {:?}",
                    head.chars().take(200).collect::<String>()
                ),
            )
        })?;
    Ok((status, body.to_string()))
}
