//! Harness for the multi-process cluster tests: etcd + PostgreSQL + a broker, replica processes,
//! a producer running in the background, and the ownership map read through `tidemark status`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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

/// Ownership map from `tidemark status --json`: (topic, partition) → member id.
pub fn owners(config: &Path) -> BTreeMap<(String, i32), String> {
    let out = Command::new(crate::tidemark_bin())
        .args([
            "status",
            "--json",
            "--config",
            &config.display().to_string(),
        ])
        .stderr(Stdio::null())
        .output()
        .expect("status");
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return BTreeMap::new();
    };
    v["partitions"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter_map(|p| {
                    let owner = p["owner"].as_str()?;
                    let member = owner.rsplit_once('/').map_or(owner, |(m, _)| m);
                    Some((
                        (
                            p["topic"].as_str()?.to_string(),
                            p["partition"].as_i64()? as i32,
                        ),
                        member.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
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
