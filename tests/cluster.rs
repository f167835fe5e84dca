//! Multi-process cluster scenarios: 3 replica processes, real etcd, real PostgreSQL, the real
//! broker tansu; 12 partitions over 3 tables; a producer writing a random history throughout.
//! Each ends with every target equal to the oracle, no duplicate keys, and watermarks that
//! never went backwards.

use std::time::{Duration, Instant};

use tidemark_cdcgen::GenConfig;
use tidemark_e2e::cluster::*;
use tidemark_e2e::*;

const PARTITIONS: i32 = 4;

fn history(seed: u64, events: u64) -> GenConfig {
    GenConfig {
        partitions: PARTITIONS,
        ..GenConfig::hostile(seed, events)
    }
}

const BATCH: &str = "[batch]\nmax_rows = 500\nlinger = \"50ms\"\n";

/// Waits for the stored watermarks to reach the high-water marks, then SIGTERMs every replica
/// (each must exit 0) and compares with the oracle.
fn finish(
    cs: &ClusterStack,
    setups: &[TableSetup],
    producer: Producer,
    replicas: &mut [Running],
    seen: &mut std::collections::BTreeMap<(String, i32), i64>,
    monitor: WatermarkMonitor,
) {
    let history = producer.finish();
    let high = high_watermarks(cs.stack.kafka.bootstrap(), setups);
    let url = cs.stack.url();
    wait_caught_up(&url, &high, seen, Duration::from_secs(120), || {
        replicas.iter_mut().for_each(|r| r.assert_alive())
    });
    for r in replicas.iter_mut() {
        let status = r.terminate(Duration::from_secs(30));
        assert!(status.success(), "{status}:\n{}", r.log_text());
    }
    assert_matches_oracle(&url, setups, history.oracle());
    assert_eq!(watermarks(&url), high);
    monitor.assert_never_backwards();
}

#[test]
fn scale_out_from_one_to_three_replicas_then_in_to_one_with_sigterm() {
    let cs = ClusterStack::start();
    let setups = salesdb_setups();
    cs.stack.prepare(&setups, PARTITIONS);
    let config = cs.config(&setups, BATCH);
    let mut seen = Default::default();
    let monitor = WatermarkMonitor::start(&cs.stack.url());

    let mut replicas = vec![cs.replica(&config, "r1")];
    let producer = Producer::start(
        cs.stack.kafka.bootstrap(),
        &setups,
        history(61, 40_000),
        1_000,
        Duration::from_millis(150),
    );
    wait_owners(&config, Duration::from_secs(30), "r1 owns all 12", |o| {
        o.len() == 12
    });

    replicas.push(cs.replica(&config, "r2"));
    replicas.push(cs.replica(&config, "r3"));
    let t = wait_owners(
        &config,
        Duration::from_secs(30),
        "spread over 3 replicas",
        |o| {
            o.len() == 12
                && members(o).len() == 3
                && o.values()
                    .all(|m| o.values().filter(|x| *x == m).count() == 4)
        },
    );
    eprintln!("scale out 1 -> 3: balanced after {t:?}");

    // Scale in with SIGTERM: r2 and r3 drain, release, leave; r1 takes everything over.
    let started = Instant::now();
    for r in replicas.iter_mut().skip(1) {
        r.signal(libc::SIGTERM);
    }
    let handoff = wait_owners(&config, Duration::from_secs(30), "r1 owns all again", |o| {
        o.len() == 12 && members(o).len() == 1 && o.values().all(|m| m == "r1")
    });
    eprintln!("handoff after SIGTERM: {handoff:?} (lease TTL {TTL:?})");
    assert!(
        handoff < TTL,
        "SIGTERM handoff must not wait for lease expiry: {handoff:?}"
    );
    for mut r in replicas.drain(1..) {
        let status = r.terminate(Duration::from_secs(30));
        assert!(status.success(), "{status}:\n{}", r.log_text());
    }
    let _ = started;
    finish(&cs, &setups, producer, &mut replicas, &mut seen, monitor);
}

fn three_replicas(cs: &ClusterStack, config: &std::path::Path) -> Vec<Running> {
    let replicas: Vec<Running> = ["r1", "r2", "r3"]
        .iter()
        .map(|id| cs.replica(config, id))
        .collect();
    wait_owners(
        config,
        Duration::from_secs(30),
        "spread over 3 replicas",
        |o| o.len() == 12 && members(o).len() == 3,
    );
    replicas
}

/// A cluster of 3 replicas under a producer writing `history(seed, events)`, 2 s in.
struct UnderLoad {
    cs: ClusterStack,
    setups: Vec<TableSetup>,
    config: std::path::PathBuf,
    replicas: Vec<Running>,
    producer: Producer,
    seen: std::collections::BTreeMap<(String, i32), i64>,
    monitor: WatermarkMonitor,
}

fn three_replicas_under_load(seed: u64, events: u64) -> UnderLoad {
    let cs = ClusterStack::start();
    let setups = salesdb_setups();
    cs.stack.prepare(&setups, PARTITIONS);
    let config = cs.config(&setups, BATCH);
    let monitor = WatermarkMonitor::start(&cs.stack.url());
    let replicas = three_replicas(&cs, &config);
    let producer = Producer::start(
        cs.stack.kafka.bootstrap(),
        &setups,
        history(seed, events),
        1_000,
        Duration::from_millis(150),
    );
    std::thread::sleep(Duration::from_secs(2));
    UnderLoad {
        cs,
        setups,
        config,
        replicas,
        producer,
        seen: Default::default(),
        monitor,
    }
}

impl UnderLoad {
    fn finish(mut self) {
        finish(
            &self.cs,
            &self.setups,
            self.producer,
            &mut self.replicas,
            &mut self.seen,
            self.monitor,
        );
    }
}

#[test]
fn sigkill_of_a_replica_moves_its_partitions_within_the_lease_ttl_plus_3s() {
    let mut run = three_replicas_under_load(71, 40_000);
    let config = run.config.clone();
    let victim: Vec<(String, i32)> = owners(&config)
        .into_iter()
        .filter(|(_, m)| m == "r2")
        .map(|(k, _)| k)
        .collect();
    assert!(!victim.is_empty());
    let before = watermarks(&run.cs.stack.url());
    let killed = Instant::now();
    run.replicas[1].kill9();
    // Applying again elsewhere: owned by a live replica and its watermark moves.
    let deadline = TTL + Duration::from_secs(3);
    loop {
        let o = owners(&config);
        let wm = watermarks(&run.cs.stack.url());
        let moved = victim.iter().all(|tp| {
            o.get(tp).is_some_and(|m| m != "r2")
                && wm.get(tp).copied().unwrap_or(0) > before.get(tp).copied().unwrap_or(0)
        });
        if moved {
            break;
        }
        assert!(
            killed.elapsed() < deadline + Duration::from_secs(5),
            "failover too slow: {:?}; owners {o:?}",
            killed.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let failover = killed.elapsed();
    eprintln!("failover after SIGKILL: {failover:?} (lease TTL {TTL:?})");
    assert!(failover <= deadline, "failover {failover:?} > TTL + 3 s");
    run.replicas.remove(1);
    run.finish();
}

#[test]
fn a_paused_replica_that_wakes_after_losing_its_lease_is_fenced_and_steps_down() {
    paused_replica_is_fenced(ClusterStack::start(), salesdb_setups());
}

/// The same on Redshift's merge path (run against PostgreSQL), targets without primary keys:
/// the zombie holds its target's `LOCK` while stopped, not the watermarks', so the others'
/// claims raise the epochs and its commit is refused.
#[test]
fn a_paused_replica_on_the_redshift_dialect_is_fenced_and_steps_down() {
    paused_replica_is_fenced(
        ClusterStack::start().redshift(),
        without_primary_keys(salesdb_setups()),
    );
}

fn paused_replica_is_fenced(cs: ClusterStack, setups: Vec<TableSetup>) {
    cs.stack.prepare(&setups, PARTITIONS);
    let config = cs.config(&setups, BATCH);
    let mut seen = Default::default();
    let monitor = WatermarkMonitor::start(&cs.stack.url());
    // r2 stops itself (SIGSTOP) holding a staged batch, just before its watermark update and
    // commit, on its 5th merge.
    let mut replicas = vec![cs.replica(&config, "r1")];
    replicas.push(Running::start_with_env(
        &config,
        cs.stack.dir.path().join("r2.log"),
        &[
            ("TIDEMARK_MEMBER_ID", "r2"),
            ("TIDEMARK_FAILPOINT_STOP_BEFORE_COMMIT", "5"),
        ],
    ));
    replicas.push(cs.replica(&config, "r3"));
    let producer = Producer::start(
        cs.stack.kafka.bootstrap(),
        &setups,
        history(81, 40_000),
        1_000,
        Duration::from_millis(150),
    );

    let pid = replicas[1].child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !process_stopped(pid) {
        replicas[1].assert_alive();
        assert!(
            Instant::now() < deadline,
            "r2 never reached the failpoint:\n{}",
            replicas[1].log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let stopped = Instant::now();
    // Its lease expires; the others claim its partitions and raise their epochs.
    wait_owners(
        &config,
        TTL + Duration::from_secs(10),
        "others took r2's partitions",
        |o| o.len() == 12 && !members(o).contains("r2"),
    );
    eprintln!(
        "zombie: partitions taken over {:?} after r2 stopped",
        stopped.elapsed()
    );
    std::thread::sleep(Duration::from_secs(1));
    tidemark_testkit::signal(pid, libc::SIGCONT).expect("SIGCONT");
    // It wakes up, tries to commit the staged batch: rejected by the fence; it steps down and
    // rejoins with a new lease.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !replicas[1].log_text().contains("rejoining") {
        replicas[1].assert_alive();
        assert!(
            Instant::now() < deadline,
            "r2 did not step down:\n{}",
            replicas[1].log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = replicas[1].log_text();
    assert!(
        log.contains("fenced"),
        "the staged commit must be rejected by the fence:\n{log}"
    );
    wait_owners(&config, Duration::from_secs(30), "r2 is back", |o| {
        members(o).contains("r2")
    });
    finish(&cs, &setups, producer, &mut replicas, &mut seen, monitor);
}

fn process_stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('T'))
        })
        .unwrap_or(false)
}

#[test]
fn etcd_restarted_mid_stream_is_survived() {
    let mut run = three_replicas_under_load(91, 30_000);
    run.cs.etcd.kill9();
    std::thread::sleep(Duration::from_secs(2));
    run.cs.etcd.restart().expect("restart etcd");
    wait_owners(
        &run.config,
        Duration::from_secs(30),
        "owners after etcd restart",
        |o| o.len() == 12,
    );
    run.finish();
}

/// etcd rebuilt from empty (its revisions start again from 1, below every stored epoch): the
/// replicas rejoin, claim with epochs of the new incarnation, which are above every stored one,
/// and the run ends equal to the oracle with watermarks that never went backwards.
#[test]
fn etcd_wiped_and_restarted_mid_stream_is_recovered_from_without_editing_tables() {
    let mut run = three_replicas_under_load(97, 30_000);
    run.cs.etcd.kill9();
    // The lost etcd had lived long: its revisions (and so the stored epochs) were far above
    // what a new etcd hands out for a long while. A test run makes only a few hundred
    // revisions, so the stored epochs are raised to where a long-lived etcd would have put them.
    tidemark_e2e::block_on(async {
        let client = tidemark_testkit::connect(&run.cs.stack.url())
            .await
            .unwrap();
        client
            .execute(
                "UPDATE tidemark.watermarks SET epoch = epoch + 1000000",
                &[],
            )
            .await
            .unwrap();
    });
    let bumped = stored_epochs(&run.cs.stack.url())
        .into_values()
        .max()
        .expect("epochs stored before the wipe");
    std::fs::remove_dir_all(run.cs.etcd.data_dir()).expect("wiping etcd's data");
    std::thread::sleep(Duration::from_secs(2));
    run.cs.etcd.restart().expect("restart etcd");
    wait_owners(
        &run.config,
        Duration::from_secs(45),
        "owners after etcd was rebuilt",
        |o| o.len() == 12,
    );
    // Every partition committed again under the new incarnation, and `status` shows the very
    // epoch the warehouse fences with.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stored = stored_epochs(&run.cs.stack.url());
        if stored.len() == 12 && stored.values().all(|&e| e > bumped) {
            let shown = status_epochs(&run.config);
            let stored = stored_epochs(&run.cs.stack.url());
            if shown == stored {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "epochs never rose above the bumped ones: {stored:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    run.finish();
}

#[test]
fn postgres_restarted_mid_stream_is_waited_for() {
    let mut run = three_replicas_under_load(101, 30_000);
    run.cs.stack.pg.kill9();
    std::thread::sleep(Duration::from_secs(2));
    run.cs.stack.pg.restart().expect("restart postgres");
    run.finish();
}

#[test]
fn the_broker_down_for_a_few_seconds_is_waited_for_and_nothing_is_lost() {
    let pg = tidemark_testkit::LocalPostgres::start()
        .unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let etcd = tidemark_testkit::Etcd::start().unwrap_or_else(|e| panic!("cannot start etcd: {e}"));
    let mut kafka = tidemark_testkit::MockKafka::start(1)
        .unwrap_or_else(|e| panic!("cannot start mock kafka: {e}"));
    let setups = salesdb_setups();
    for s in &setups {
        kafka
            .create_topic(&s.def.topic(), PARTITIONS)
            .expect("topic");
    }
    block_on(create_targets(&pg.url(), &setups));
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("mock.toml");
    let coordination = format!(
        "[coordination]\nmode = \"etcd\"\nendpoints = [{:?}]\ncluster = \"mock\"\nlease_ttl = \"{}s\"\nslices = 2\n{BATCH}",
        etcd.endpoint(),
        TTL.as_secs()
    );
    std::fs::write(
        &config,
        config_text(kafka.bootstrap(), &pg.url(), &setups, &coordination),
    )
    .expect("config");
    let monitor = WatermarkMonitor::start(&pg.url());
    let mut replicas: Vec<Running> = ["r1", "r2", "r3"]
        .iter()
        .map(|id| {
            Running::start_with_env(
                &config,
                dir.path().join(format!("{id}.log")),
                &[("TIDEMARK_MEMBER_ID", id)],
            )
        })
        .collect();
    wait_owners(
        &config,
        Duration::from_secs(30),
        "spread over 3 replicas",
        |o| o.len() == 12 && members(o).len() == 3,
    );
    // Small data: the mock cluster keeps only 5 MiB per partition.
    let mut history = tidemark_cdcgen::Generator::new(
        setups.iter().map(|s| s.def.clone()).collect(),
        history(111, 9_000),
    );
    produce(kafka.bootstrap(), history.by_ref().take(3_000));
    std::thread::sleep(Duration::from_millis(500));
    kafka.broker_down(1).expect("broker down");
    std::thread::sleep(Duration::from_secs(4));
    replicas.iter_mut().for_each(|r| r.assert_alive());
    kafka.broker_up(1).expect("broker up");
    produce(kafka.bootstrap(), history.by_ref());
    let high = high_watermarks(kafka.bootstrap(), &setups);
    let mut seen = Default::default();
    wait_caught_up(
        &pg.url(),
        &high,
        &mut seen,
        Duration::from_secs(120),
        || replicas.iter_mut().for_each(|r| r.assert_alive()),
    );
    for r in replicas.iter_mut() {
        let status = r.terminate(Duration::from_secs(30));
        assert!(status.success(), "{status}:\n{}", r.log_text());
    }
    assert_matches_oracle(&pg.url(), &setups, history.oracle());
    monitor.assert_never_backwards();
}

#[test]
fn etcd_down_longer_than_the_lease_ttl_stops_every_owner_and_they_rejoin() {
    let mut run = three_replicas_under_load(131, 30_000);
    run.cs.etcd.kill9();
    std::thread::sleep(TTL + Duration::from_secs(3));
    for r in &run.replicas {
        assert!(
            r.log_text().contains("lease lost"),
            "every replica must notice:\n{}",
            r.log_text()
        );
    }
    run.cs.etcd.restart().expect("restart etcd");
    wait_owners(
        &run.config,
        Duration::from_secs(30),
        "owners after etcd is back",
        |o| o.len() == 12 && members(o).len() == 3,
    );
    run.finish();
}
