//! Benchmark: rows/s applying the same backlog with 1 replica and with 3 replicas (etcd mode),
//! measured in the same run on fresh topics and tables, and their ratio.
//!
//! `cargo bench -p tidemark-e2e --bench cluster -- [--events N]`
//!
//! On this 2-core machine the broker, PostgreSQL and the replicas share the cores, so the
//! ratio says how much coordination costs here, not how a real cluster scales.

use std::process::Command;
use std::time::{Duration, Instant};

use tidemark_cdcgen::{GenConfig, Generator};
use tidemark_e2e::cluster::*;
use tidemark_e2e::*;

fn events() -> u64 {
    let argv: Vec<String> = std::env::args().collect();
    argv.iter()
        .position(|a| a == "--events")
        .and_then(|i| argv.get(i + 1))
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(200_000)
}

/// Produces `n` events on fresh topics, then starts `replicas` and times until every
/// watermark reaches the high-water mark.
fn measure(n: u64, replicas: usize) -> (f64, Duration) {
    let cs = ClusterStack::start();
    let setups = salesdb_setups();
    cs.stack.prepare(&setups, 4);
    let mut history = Generator::new(
        setups.iter().map(|s| s.def.clone()).collect(),
        GenConfig {
            partitions: 4,
            nasty_strings: false,
            snapshot_rows: 0,
            seed: 7,
            events: n,
            ..GenConfig::default()
        },
    );
    let produced = produce(cs.stack.kafka.bootstrap(), history.by_ref());
    let high = high_watermarks(cs.stack.kafka.bootstrap(), &setups);
    let config = cs.config(&setups, "");
    let started = Instant::now();
    let mut running: Vec<Running> = (0..replicas)
        .map(|i| cs.replica(&config, &format!("r{i}")))
        .collect();
    let mut seen = Default::default();
    wait_caught_up(
        &cs.stack.url(),
        &high,
        &mut seen,
        Duration::from_secs(1800),
        || running.iter_mut().for_each(|r| r.assert_alive()),
    );
    let elapsed = started.elapsed();
    for r in running.iter_mut() {
        assert!(r.terminate(Duration::from_secs(60)).success());
    }
    assert_matches_oracle(&cs.stack.url(), &setups, history.oracle());
    (produced as f64 / elapsed.as_secs_f64(), elapsed)
}

fn main() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--release", "-p", "tidemark", "--bin", "tidemark"])
        .status()
        .expect("cargo build");
    assert!(built.success());
    let n = events();
    let (one, t1) = measure(n, 1);
    let (three, t3) = measure(n, 3);
    println!("cluster benchmark ({n} events, 12 partitions over 3 tables, etcd mode, 2 slices per replica)");
    println!(
        "  1 replica   {one:>10.0} rows/s  ({:.1} s from start to caught up)",
        t1.as_secs_f64()
    );
    println!(
        "  3 replicas  {three:>10.0} rows/s  ({:.1} s)",
        t3.as_secs_f64()
    );
    println!(
        "  ratio 3/1   {:>10.2} ×  (broker, PostgreSQL and replicas share this machine's 2 cores)",
        three / one
    );
}
