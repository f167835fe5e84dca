//! Harness for the multi-process cluster tests: etcd + PostgreSQL + a broker, replica processes,
//! a producer running in the background, and the ownership map read through `tidemark status`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tidemark_cdcgen::{GenConfig, Generator};
use tidemark_testkit::Etcd;

use crate::{produce, Running, Stack, TableSetup};

/// Lease TTL of the cluster tests: short, so failover is quick.
pub const TTL: Duration = Duration::from_secs(4);

pub struct ClusterStack {
    pub stack: Stack,
    pub etcd: Etcd,
}

impl ClusterStack {
    pub fn start() -> ClusterStack {
        let stack = Stack::start();
        let etcd = Etcd::start().unwrap_or_else(|e| panic!("cannot start etcd: {e}"));
        ClusterStack { stack, etcd }
    }

    /// The cluster with the warehouse in `dialect = "redshift"` (see [`Stack::redshift`]).
    pub fn redshift(self) -> ClusterStack {
        ClusterStack {
            stack: self.stack.redshift(),
            etcd: self.etcd,
        }
    }

    pub fn config(&self, setups: &[TableSetup], batch: &str) -> PathBuf {
        let coordination = format!(
            "[coordination]\nmode = \"etcd\"\nendpoints = [{:?}]\ncluster = \"test\"\nlease_ttl = \"{}s\"\nslices = 2\n{batch}",
            self.etcd.endpoint(),
            TTL.as_secs()
        );
        self.stack.config("cluster", setups, &coordination)
    }

    pub fn replica(&self, config: &Path, id: &str) -> Running {
        Running::start_with_env(
            config,
            self.stack.dir.path().join(format!("{id}.log")),
            &[("TIDEMARK_MEMBER_ID", id)],
        )
    }
}

/// Produces a history in chunks with pauses, in the background; joins into the generator (the
/// oracle of everything produced).
pub struct Producer {
    handle: Option<JoinHandle<Generator>>,
}

impl Producer {
    pub fn start(
        bootstrap: &str,
        setups: &[TableSetup],
        config: GenConfig,
        chunk: usize,
        pause: Duration,
    ) -> Producer {
        let bootstrap = bootstrap.to_string();
        let defs = setups.iter().map(|s| s.def.clone()).collect();
        let handle = std::thread::spawn(move || {
            let mut generator = Generator::new(defs, config);
            loop {
                let n = produce(&bootstrap, generator.by_ref().take(chunk));
                if n == 0 {
                    return generator;
                }
                std::thread::sleep(pause);
            }
        });
        Producer {
            handle: Some(handle),
        }
    }

    pub fn finish(mut self) -> Generator {
        self.handle
            .take()
            .expect("joined once")
            .join()
            .expect("producer thread")
    }
}

/// One field of every partition in `tidemark status --json`, per (topic, partition); `Err`
/// with status's stderr when it printed no JSON (the cluster may be down on purpose).
fn status_by_partition<T>(
    config: &Path,
    field: impl Fn(&serde_json::Value) -> Option<T>,
) -> Result<BTreeMap<(String, i32), T>, String> {
    let out = Command::new(crate::tidemark_bin())
        .args([
            "status",
            "--json",
            "--config",
            &config.display().to_string(),
        ])
        .output()
        .expect("status");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "status --json: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok(v["partitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let tp = (
                p["topic"].as_str()?.to_string(),
                p["partition"].as_i64()? as i32,
            );
            Some((tp, field(p)?))
        })
        .collect())
}

/// Ownership map from `tidemark status --json`: (topic, partition) → member id; empty while
/// status cannot answer.
pub fn owners(config: &Path) -> BTreeMap<(String, i32), String> {
    status_by_partition(config, |p| {
        let owner = p["owner"].as_str()?;
        Some(owner.rsplit_once('/').map_or(owner, |(m, _)| m).to_string())
    })
    .unwrap_or_default()
}

/// The epoch `tidemark status --json` shows per (topic, partition).
pub fn status_epochs(config: &Path) -> BTreeMap<(String, i32), i64> {
    status_by_partition(config, |p| p["epoch"].as_i64()).unwrap_or_else(|e| panic!("{e}"))
}

/// The fencing epoch stored in the warehouse per (topic, partition).
pub fn stored_epochs(url: &str) -> BTreeMap<(String, i32), i64> {
    crate::block_on(async {
        let client = tidemark_testkit::connect(url).await.expect("connect");
        client
            .query(
                "SELECT topic, partition, epoch FROM tidemark.watermarks",
                &[],
            )
            .await
            .expect("reading epochs")
            .iter()
            .map(|r| {
                (
                    (r.get::<_, String>(0), r.get::<_, i32>(1)),
                    r.get::<_, i64>(2),
                )
            })
            .collect()
    })
}

/// Waits until `done(owners)` holds; returns how long it took.
pub fn wait_owners(
    config: &Path,
    within: Duration,
    what: &str,
    mut done: impl FnMut(&BTreeMap<(String, i32), String>) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let o = owners(config);
        if done(&o) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{what}: not within {within:?}; owners {o:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn members(o: &BTreeMap<(String, i32), String>) -> BTreeSet<String> {
    o.values().cloned().collect()
}

/// Samples every partition's stored watermark every 50 ms in the background, for the whole
/// scenario, and records any step backwards (invariants 1 and 3: a fenced or replayed commit
/// would show up as one).
pub struct WatermarkMonitor {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<JoinHandle<(u64, Vec<String>)>>,
}

impl WatermarkMonitor {
    pub fn start(url: &str) -> WatermarkMonitor {
        let url = url.to_string();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut last: BTreeMap<(String, i32), i64> = BTreeMap::new();
            let mut violations = Vec::new();
            let mut samples = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                // An unreachable warehouse (restart tests) reads as empty: skipped.
                for (k, v) in crate::try_watermarks(&url).unwrap_or_default() {
                    if let Some(prev) = last.get(&k) {
                        if v < *prev {
                            violations.push(format!("{k:?}: {prev} -> {v}"));
                        }
                    }
                    last.insert(k, v);
                }
                samples += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            (samples, violations)
        });
        WatermarkMonitor {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops sampling; fails if any watermark went backwards.
    pub fn assert_never_backwards(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (samples, violations) = self
            .handle
            .take()
            .expect("once")
            .join()
            .expect("monitor thread");
        assert!(samples > 10, "too few samples ({samples})");
        assert!(
            violations.is_empty(),
            "watermarks went backwards: {violations:?}"
        );
    }
}
