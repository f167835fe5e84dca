//! Failures: a replica killed with SIGKILL mid-stream, and records lost to retention.

use std::time::Duration;

use tidemark_cdcgen::{GenConfig, Generator};
use tidemark_e2e::*;
use tidemark_testkit::{LocalPostgres, MockKafka, ProduceRecord};

#[test]
fn sigkill_mid_stream_then_restart_ends_equal_to_the_oracle_without_duplicates() {
    sigkill_then_restart(Stack::start(), salesdb_setups());
}

/// The same on Redshift's merge path (run against PostgreSQL), targets without primary keys.
#[test]
fn sigkill_then_restart_on_the_redshift_dialect_ends_equal_to_the_oracle() {
    sigkill_then_restart(
        Stack::start().redshift(),
        without_primary_keys(salesdb_setups()),
    );
}

fn sigkill_then_restart(stack: Stack, setups: Vec<TableSetup>) {
    stack.prepare(&setups, 4);
    let mut history = Generator::new(
        setups.iter().map(|s| s.def.clone()).collect(),
        GenConfig {
            partitions: 4,
            ..GenConfig::hostile(31, 36_000)
        },
    );
    produce(stack.kafka.bootstrap(), history.by_ref().take(12_000));
    let config = stack.config(
        "kill",
        &setups,
        "[coordination]\nslices = 2\n[batch]\nmax_rows = 200\nlinger = \"20ms\"\n",
    );
    let url = stack.url();
    let mut seen = Default::default();

    let mut first = Running::start(&config, stack.dir.path().join("run1.log"));
    // More history arrives while it runs.
    produce(stack.kafka.bootstrap(), history.by_ref().take(12_000));
    // Kill it once it has committed part of the stream, but not all.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        first.assert_alive();
        let applied: i64 = watermarks(&url).values().sum();
        if applied >= 6_000 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no progress:\n{}",
            first.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill9();
    let at_kill: i64 = watermarks(&url).values().sum();
    assert!(
        at_kill < 24_000,
        "killed too late to test anything ({at_kill})"
    );

    produce(stack.kafka.bootstrap(), history.by_ref());
    let high = high_watermarks(stack.kafka.bootstrap(), &setups);
    let mut second = Running::start(&config, stack.dir.path().join("run2.log"));
    wait_caught_up(&url, &high, &mut seen, Duration::from_secs(180), || {
        second.assert_alive()
    });
    let status = second.terminate(Duration::from_secs(30));
    assert!(
        status.success(),
        "SIGTERM must exit 0, got {status}:\n{}",
        second.log_text()
    );
    assert_matches_oracle(&url, &setups, history.oracle());
    assert_eq!(watermarks(&url), high);
}

#[test]
fn sigterm_finishes_in_flight_work_and_exits_zero() {
    let stack = Stack::start();
    let setups = salesdb_setups();
    stack.prepare(&setups, 2);
    let mut history = Generator::new(
        setups.iter().map(|s| s.def.clone()).collect(),
        GenConfig {
            partitions: 2,
            ..GenConfig::hostile(41, 5_000)
        },
    );
    produce(stack.kafka.bootstrap(), history.by_ref());
    let config = stack.config("term", &setups, "");
    let high = high_watermarks(stack.kafka.bootstrap(), &setups);
    let mut running = Running::start(&config, stack.dir.path().join("run.log"));
    let mut seen = Default::default();
    wait_caught_up(
        &stack.url(),
        &high,
        &mut seen,
        Duration::from_secs(120),
        || running.assert_alive(),
    );
    let status = running.terminate(Duration::from_secs(20));
    assert!(status.success(), "{status}:\n{}", running.log_text());
    assert_matches_oracle(&stack.url(), &setups, history.oracle());
}

#[test]
fn postgres_restarted_mid_stream_is_waited_for_and_nothing_is_lost() {
    let UnderWay {
        mut stack,
        setups,
        mut history,
        config: _,
        mut running,
    } = under_way("pgrestart", 51, 30_000, 2_000);
    let url = stack.url();
    let mut seen = Default::default();
    // Kill the warehouse while merges are in flight, produce more, and bring it back.
    stack.pg.kill9();
    produce(stack.kafka.bootstrap(), history.by_ref().take(10_000));
    std::thread::sleep(Duration::from_secs(2));
    running.assert_alive();
    stack.pg.restart().expect("restart postgres");
    produce(stack.kafka.bootstrap(), history.by_ref());
    let high = high_watermarks(stack.kafka.bootstrap(), &setups);
    wait_caught_up(&url, &high, &mut seen, Duration::from_secs(120), || {
        running.assert_alive()
    });
    let status = running.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status}:\n{}", running.log_text());
    assert!(
        running.log_text().contains("retrying"),
        "the outage was seen and retried"
    );
    assert_matches_oracle(&url, &setups, history.oracle());
}

#[test]
fn records_deleted_by_retention_before_they_were_applied_stop_with_the_missing_range() {
    let pg = LocalPostgres::start().unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let mut kafka = MockKafka::start(1).unwrap_or_else(|e| panic!("cannot start mock kafka: {e}"));
    let setups = vec![salesdb_setups().remove(0)];
    let topic = setups[0].def.topic();
    kafka.create_topic(&topic, 1).expect("topic");
    block_on(create_targets(&pg.url(), &setups));
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("gap.toml");
    std::fs::write(
        &config,
        config_text(kafka.bootstrap(), &pg.url(), &setups, ""),
    )
    .expect("config");

    let mut history = Generator::new(
        vec![setups[0].def.clone()],
        GenConfig {
            partitions: 1,
            ..GenConfig::default()
        },
    );
    let applied = produce(kafka.bootstrap(), history.by_ref().take(50)) as i64;
    refresh(&config);
    let key = (topic.clone(), 0);
    assert_eq!(watermarks(&pg.url()).get(&key), Some(&applied));

    // More than the mock cluster keeps (5 MiB per partition): the oldest records, including
    // the ones tidemark has not applied yet, are deleted.
    let filler = (0..8_000).map(|i| ProduceRecord {
        headers: Vec::new(),
        topic: topic.clone(),
        partition: 0,
        key: Some(format!("{{\"CUST_ID\":{i}}}").into_bytes()),
        value: Some(vec![b' '; 1024]),
    });
    block_on(tidemark_testkit::produce(kafka.bootstrap(), filler)).expect("filler");
    let (_, low, _) = tidemark_testkit::high_watermarks(kafka.bootstrap(), &topic).expect("hwm")[0];
    assert!(
        low > applied,
        "retention did not move the log start ({low})"
    );

    let out = tidemark(&["refresh", "--config", &config.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must fail:\n{stderr}");
    assert!(
        stderr.contains(&format!("{topic}[0]")),
        "names the partition:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("{applied}..{low}")),
        "names the missing range:\n{stderr}"
    );
    assert_eq!(
        watermarks(&pg.url()).get(&key),
        Some(&applied),
        "the watermark must not jump"
    );
}

/// SIGTERM while merges are failing because the warehouse is down: the drain keeps retrying
/// (it does not give up because a shutdown was asked for), succeeds once PostgreSQL is back,
/// and the process exits 0. What it committed plus a later refresh equals the oracle.
#[test]
fn sigterm_during_a_warehouse_outage_drains_once_it_is_back_and_exits_zero() {
    let UnderWay {
        mut stack,
        setups,
        mut history,
        config,
        mut running,
    } = under_way("sigterm-outage", 57, 20_000, 1_000);
    let url = stack.url();
    stack.pg.kill9();
    produce(stack.kafka.bootstrap(), history.by_ref().take(5_000));
    // Wait until a merge is failing and being retried, then ask for a shutdown.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !running.log_text().contains("merge failed; retrying") {
        running.assert_alive();
        assert!(
            std::time::Instant::now() < deadline,
            "no retry seen:\n{}",
            running.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    running.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_secs(2));
    running.assert_alive(); // still draining: the failed merge is not given up
    stack.pg.restart().expect("restart postgres");
    let status = running.terminate(Duration::from_secs(30));
    let log = running.log_text();
    assert!(status.success(), "{status}:\n{log}");
    assert!(
        log.contains("attempt="),
        "the retries are counted in the log:\n{log}"
    );
    // The rest of the history, then everything still unapplied.
    produce(stack.kafka.bootstrap(), history.by_ref());
    refresh(&config);
    assert_matches_oracle(&url, &setups, history.oracle());
}

/// A `tidemark run` under way over salesdb (3 partitions, small batches): the first 10,000
/// events of a hostile history are produced, and at least `applied` offsets are committed.
struct UnderWay {
    stack: Stack,
    setups: Vec<TableSetup>,
    history: Generator,
    config: std::path::PathBuf,
    running: Running,
}

fn under_way(name: &str, seed: u64, events: u64, applied: i64) -> UnderWay {
    let stack = Stack::start();
    let setups = salesdb_setups();
    stack.prepare(&setups, 3);
    let mut history = Generator::new(
        setups.iter().map(|s| s.def.clone()).collect(),
        GenConfig {
            partitions: 3,
            ..GenConfig::hostile(seed, events)
        },
    );
    produce(stack.kafka.bootstrap(), history.by_ref().take(10_000));
    let config = stack.config(
        name,
        &setups,
        "[batch]\nmax_rows = 300\nlinger = \"20ms\"\n",
    );
    let mut running = Running::start(&config, stack.dir.path().join("run.log"));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while watermarks(&stack.url()).values().sum::<i64>() < applied {
        running.assert_alive();
        assert!(
            std::time::Instant::now() < deadline,
            "no progress:\n{}",
            running.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    UnderWay {
        stack,
        setups,
        history,
        config,
        running,
    }
}
