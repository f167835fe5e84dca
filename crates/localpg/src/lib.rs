//! A throwaway PostgreSQL server started from the installed binaries.
//!
//! [`LocalPostgres::start`] copies a shared template data directory (created once with
//! `initdb`) into a fresh temp dir and runs `postgres` as a direct child process on a free
//! TCP port of 127.0.0.1, with `fsync=off` (committed data survives a kill of the server,
//! not a crash of the machine) and `synchronous_commit=on` (see [`LocalPostgres::kill9`]). The server is
//! owned: it is killed by PID and its files removed when the value is dropped.
//!
//! When the current user is root, `initdb` and `postgres` run as the `postgres` user (they
//! refuse to run as root); the server is still our direct child, so its PID is ours to kill.

mod error;
mod procfs;
mod setup;

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub use error::LocalPgError;
use setup::{PgBinaries, RunAs};

/// The directory of the installed PostgreSQL server binaries that [`LocalPostgres::start`] would
/// use: `$TIDEMARK_PG_BINDIR`, else the highest `/usr/lib/postgresql/*/bin`, else
/// `pg_config --bindir`. The set-up (`cargo xtask`) asks this to decide whether to install them.
pub fn installed_bindir() -> Result<PathBuf, LocalPgError> {
    setup::find_bindir()
}

/// How long to wait for the server to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a fast shutdown may take before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How many free ports to try when another process grabs ours before postgres binds it.
const PORT_ATTEMPTS: usize = 5;

/// A running (or stopped, restartable) throwaway PostgreSQL server with a database `dev`.
#[derive(Debug)]
pub struct LocalPostgres {
    /// The installation used, to run `postgres`, `pg_isready` and `createdb` again on restart.
    bins: PgBinaries,
    /// The user the server runs as (switches away from root).
    run_as: RunAs,
    /// Temp dir holding the data dir, the socket dir and the log; removed on drop.
    root: tempfile::TempDir,
    /// The data directory (a copy of the template), kept across restarts.
    data_dir: PathBuf,
    /// Unix socket directory (`-k`), owned by the server user so it can create sockets.
    sock_dir: PathBuf,
    /// The server's stdout/stderr, appended to across restarts; its tail goes into errors.
    log_path: PathBuf,
    /// The TCP port on 127.0.0.1, kept across restarts.
    port: u16,
    /// The postmaster process while it runs; `None` after stop/kill9.
    child: Option<Child>,
    /// PID of the current (or last) postmaster.
    pid: u32,
    /// Server processes orphaned by `kill9`: waited for before restarting (they hold the
    /// shared memory segment) and killed on drop.
    orphans: Vec<u32>,
}

impl LocalPostgres {
    /// Starts a fresh server with an empty database `dev`.
    pub fn start() -> Result<LocalPostgres, LocalPgError> {
        let bins = PgBinaries::find()?;
        let run_as = RunAs::detect()?;
        let template = setup::template(&bins, &run_as)?;
        let root = tempfile::Builder::new()
            .prefix("tidemark-pg-")
            .tempdir()
            .map_err(|e| LocalPgError::io("creating a temp dir for postgres", e))?;
        run_as.chown(root.path())?;
        let data_dir = root.path().join("data");
        setup::copy_tree(&template, &data_dir, run_as.switch.is_some())?;
        setup::set_mode(&data_dir, 0o700)?;
        let sock_dir = root.path().join("sock");
        std::fs::create_dir(&sock_dir)
            .map_err(|e| LocalPgError::io(format!("mkdir {}", sock_dir.display()), e))?;
        run_as.chown(&sock_dir)?;
        let log_path = root.path().join("postgres.log");
        let mut pg = LocalPostgres {
            bins,
            run_as,
            root,
            data_dir,
            sock_dir,
            log_path,
            port: 0,
            child: None,
            pid: 0,
            orphans: Vec::new(),
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            pg.port = free_port()?;
            match pg.launch() {
                Ok(()) => break,
                Err(LocalPgError::Exited { ref log_tail, .. })
                    if attempt < PORT_ATTEMPTS && port_taken(log_tail) =>
                {
                    tracing::debug!(
                        port = pg.port,
                        "port taken before postgres bound it; retrying"
                    );
                }
                Err(e) => return Err(e),
            }
        }
        pg.createdb("dev")?;
        tracing::info!(port = pg.port, pid = pg.pid, dir = %pg.root.path().display(), "local postgres started");
        Ok(pg)
    }

    /// Connection URL of the `dev` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/dev", self.port)
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// PID of the postmaster (the last one if the server is stopped).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server log (stdout and stderr of every run).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Fast shutdown (SIGINT), waiting for it; SIGKILL after 10 s. No-op when not running.
    pub fn stop(&mut self) -> Result<(), LocalPgError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = procfs::signal(self.pid, libc::SIGINT);
        if wait_timeout(&mut child, STOP_TIMEOUT)?.is_none() {
            tracing::warn!(pid = self.pid, "postgres did not stop in time; SIGKILL");
            self.orphans.extend(procfs::children(self.pid));
            let _ = child.kill();
            child
                .wait()
                .map_err(|e| LocalPgError::io(format!("waiting for postgres {}", self.pid), e))?;
        }
        Ok(())
    }

    /// SIGKILL the postmaster, like a crash. Its children notice and exit by themselves.
    /// Every transaction whose commit was acknowledged survives (`synchronous_commit=on`).
    pub fn kill9(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        self.orphans.extend(procfs::children(self.pid));
        let _ = child.kill();
        if let Err(e) = child.wait() {
            tracing::warn!(pid = self.pid, error = %e, "waiting for killed postgres");
        }
    }

    /// Starts the server again on the same port and data dir (stopping it first if running).
    pub fn restart(&mut self) -> Result<(), LocalPgError> {
        self.stop()?;
        self.reap_orphans(STOP_TIMEOUT);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.launch() {
                // After a crash the port or shared memory may be released a moment late.
                Err(LocalPgError::Exited { ref log_tail, .. })
                    if Instant::now() < deadline
                        && (port_taken(log_tail) || log_tail.contains("shared memory")) =>
                {
                    std::thread::sleep(Duration::from_millis(200));
                }
                other => return other,
            }
        }
    }

    /// User + system CPU time of the postmaster, its reaped children and its live children.
    pub fn server_cpu_time(&self) -> Duration {
        if self.child.is_none() {
            return Duration::ZERO;
        }
        procfs::tree_cpu_time(self.pid)
    }

    /// Spawns the postmaster on `self.port` and waits until it accepts connections.
    fn launch(&mut self) -> Result<(), LocalPgError> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| LocalPgError::io(format!("opening {}", self.log_path.display()), e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| LocalPgError::io("duplicating the log file handle", e))?;
        let mut cmd = Command::new(self.bins.bin("postgres"));
        cmd.arg("-D")
            .arg(&self.data_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.sock_dir)
            .args(["-c", "listen_addresses=127.0.0.1"])
            // fsync=off survives a kill -9 of the server (the OS still has the pages), only
            // not an OS crash. synchronous_commit stays ON: with it off, commits acknowledged
            // in the last ~0.6 s are lost on kill -9, which fault tests must not see. With
            // fsync=off it costs only a write(2) per commit.
            .args(["-c", "fsync=off", "-c", "synchronous_commit=on"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
            .args(["-c", "shared_buffers=128MB"])
            .current_dir(self.root.path())
            .env_remove("PGDATA")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        self.run_as.apply(&mut cmd);
        let child = cmd.spawn().map_err(|e| {
            LocalPgError::io(
                format!("spawning {}", self.bins.bin("postgres").display()),
                e,
            )
        })?;
        self.pid = child.id();
        self.child = Some(child);
        self.wait_ready()
    }

    /// Waits until the server accepts TCP connections and `pg_isready` succeeds.
    fn wait_ready(&mut self) -> Result<(), LocalPgError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            let Some(child) = self.child.as_mut() else {
                return Ok(());
            };
            let exited = child
                .try_wait()
                .map_err(|e| LocalPgError::io(format!("waiting for postgres {}", self.pid), e))?;
            if let Some(status) = exited {
                self.child = None;
                return Err(self.exited(status));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
                && self.pg_isready()?
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill9();
                return Err(LocalPgError::StartTimeout {
                    port: self.port,
                    secs: READY_TIMEOUT.as_secs(),
                    log_tail: log_tail(&self.log_path),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn exited(&self, status: ExitStatus) -> LocalPgError {
        LocalPgError::Exited {
            port: self.port,
            status,
            log_tail: log_tail(&self.log_path),
        }
    }

    /// Runs `pg_isready` against the TCP port: true when the server accepts connections.
    fn pg_isready(&self) -> Result<bool, LocalPgError> {
        let bin = self.bins.bin("pg_isready");
        let status = Command::new(&bin)
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-t",
                "2",
            ])
            .arg("-p")
            .arg(self.port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| LocalPgError::io(format!("running {}", bin.display()), e))?;
        Ok(status.success())
    }

    fn createdb(&self, name: &str) -> Result<(), LocalPgError> {
        let bin = self.bins.bin("createdb");
        let out = Command::new(&bin)
            .args(["-h", "127.0.0.1", "-U", "postgres"])
            .arg("-p")
            .arg(self.port.to_string())
            .arg(name)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .map_err(|e| LocalPgError::io(format!("running {}", bin.display()), e))?;
        if out.status.success() {
            return Ok(());
        }
        Err(LocalPgError::Command {
            program: format!("createdb -p {} {name}", self.port),
            status: out.status,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }

    /// Waits up to `timeout` for the orphans of a kill9 to exit, then SIGKILLs the rest.
    fn reap_orphans(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.orphans.iter().any(|&p| procfs::alive(p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for &pid in &self.orphans {
            if procfs::alive(pid) {
                tracing::warn!(pid, "postgres child survived its postmaster; SIGKILL");
                let _ = procfs::signal(pid, libc::SIGKILL);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.orphans.iter().any(|&p| procfs::alive(p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.orphans.clear();
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.orphans.extend(procfs::children(self.pid));
            // Immediate shutdown: the postmaster stops its children and frees shared memory.
            let _ = procfs::signal(self.pid, libc::SIGQUIT);
            if !matches!(
                wait_timeout(&mut child, Duration::from_secs(5)),
                Ok(Some(_))
            ) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        self.reap_orphans(Duration::from_secs(2));
        procfs::remove_stale_shm(&self.data_dir);
        // `root` (the temp dir) is removed when the fields drop, after this.
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, LocalPgError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| LocalPgError::io("binding 127.0.0.1:0 to find a free port", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| LocalPgError::io("reading the bound address", e))?;
    Ok(addr.port())
}

/// True when a startup log says the port was already in use.
fn port_taken(log_tail: &str) -> bool {
    log_tail.contains("Address already in use") || log_tail.contains("could not bind")
}

/// Polls `child` until it exits or `timeout` passes.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Result<Option<ExitStatus>, LocalPgError> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = child
            .try_wait()
            .map_err(|e| LocalPgError::io(format!("waiting for process {}", child.id()), e))?;
        if status.is_some() || Instant::now() >= deadline {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The last ~30 lines (at most 8 KiB) of a log file, for error messages.
fn log_tail(path: &Path) -> String {
    let read = || -> std::io::Result<String> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(8192)))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    match read() {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(30)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}
