//! Three replicas in etcd mode, as an on-call engineer sees them: etcd over TLS with client
//! certificates and a user/password, every replica ready, lag on `/metrics` falling to 0 after
//! catch-up with each partition reported by exactly its owner, and `/readyz` turning 503
//! "draining" during a SIGTERM drain while the other replicas stay ready, and an OTLP receiver
//! getting exactly one trace per committed batch from the three of them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tidemark_e2e::cluster::owners;
use tidemark_e2e::*;
use tidemark_testkit::{Certificates, Etcd, ProduceRecord};

const TOPIC: &str = "shop.shop.items";
const PARTITIONS: i32 = 6;
const PER_PARTITION: i64 = 50;
const ID: &str = r#"{"type":"int32","optional":false,"field":"id"}"#;
const ETCD_PASSWORD: &str = "etcd-pw-c3Lp0";

fn records(ids: impl Iterator<Item = i64>, partition: impl Fn(i64) -> i32) -> Vec<ProduceRecord> {
    ids.map(|id| {
        connect_record(
            TOPIC,
            partition(id),
            id,
            ID,
            &[ID],
            &format!(r#"{{"id":{id}}}"#),
        )
    })
    .collect()
}

fn wait(what: &str, replicas: &mut [Running], mut done: impl FnMut(&[Running]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done(replicas) {
        for r in replicas.iter_mut() {
            r.assert_alive();
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within 90 s\n{}",
            replicas
                .iter()
                .map(Running::log_text)
                .collect::<Vec<_>>()
                .join("\n---\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Lag samples of every partition on each replica: partition → [(replica index, lag)].
fn lag_by_partition(replicas: &[Running]) -> BTreeMap<i32, Vec<(usize, f64)>> {
    let mut lags: BTreeMap<i32, Vec<(usize, f64)>> = BTreeMap::new();
    for (i, r) in replicas.iter().enumerate() {
        let Some((_, metrics)) = http_get(r.http_port, "/metrics") else {
            continue;
        };
        for p in 0..PARTITIONS {
            let line =
                format!("tidemark_consumer_lag_messages{{partition=\"{p}\",topic=\"{TOPIC}\"}}");
            if let Some(lag) = metric_sample(&metrics, &line) {
                lags.entry(p).or_default().push((i, lag));
            }
        }
    }
    lags
}

#[test]
fn three_replicas_on_a_secured_etcd_catch_up_report_lag_zero_and_drain_visibly() {
    let stack = Stack::start();
    let certs = Certificates::generate(stack.dir.path(), "etcd-").expect("certificates");
    let etcd = Etcd::start_tls(&certs).expect("etcd with TLS");
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(etcd.enable_auth(ETCD_PASSWORD))
        .expect("turn etcd's authentication on");
    let password_file = stack.dir.path().join("etcd-password");
    std::fs::write(&password_file, format!("{ETCD_PASSWORD}\n")).expect("password file");

    stack.kafka.create_topic(TOPIC, PARTITIONS).expect("topic");
    let total = i64::from(PARTITIONS) * PER_PARTITION;
    stack.send(records(0..total, |id| (id % i64::from(PARTITIONS)) as i32));
    let config = stack.auto_table_config("ops", TOPIC, "public.items", "");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str(&format!(
        "[coordination]\nmode = \"etcd\"\nendpoints = [{:?}]\ncluster = \"ops\"\nlease_ttl = \"4s\"\n\
         ca_file = {:?}\ncert_file = {:?}\nkey_file = {:?}\nusername = \"root\"\npassword_file = {:?}\n",
        etcd.endpoint(),
        certs.ca.display().to_string(),
        certs.cert.display().to_string(),
        certs.key.display().to_string(),
        password_file.display().to_string(),
    ));
    std::fs::write(&config, text).expect("config");

    let (otlp_port, received) = otlp_http_receiver();
    let otlp = format!("http://127.0.0.1:{otlp_port}");
    let mut replicas: Vec<Running> = (0..3)
        .map(|i| {
            Running::start_with_env(
                &config,
                stack.dir.path().join(format!("r{i}.log")),
                &[
                    ("TIDEMARK_MEMBER_ID", &format!("r{i}")),
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp),
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                    ("OTEL_SERVICE_NAME", "tidemark-ops"),
                ],
            )
        })
        .collect();
    let rows = || {
        query_text(&stack.url(), "SELECT count(*)::text FROM public.items")
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .unwrap_or_default()
    };
    let all_ready = |rs: &[Running]| {
        rs.iter()
            .all(|r| http_get(r.http_port, "/readyz").is_some_and(|(s, _)| s == 200))
    };
    wait("every replica ready", &mut replicas, all_ready);
    wait("every record applied", &mut replicas, |_| {
        rows() == total.to_string()
    });
    // Lag 0 on every partition, reported by exactly one replica (its owner), once the
    // assignment has settled over the three members.
    wait(
        "lag 0, each partition on one replica, all replicas owning some",
        &mut replicas,
        |rs| {
            let lags = lag_by_partition(rs);
            let owners: std::collections::BTreeSet<usize> = lags
                .values()
                .flat_map(|v| v.iter().map(|(i, _)| *i))
                .collect();
            lags.len() == PARTITIONS as usize
                && lags.values().all(|v| v.len() == 1 && v[0].1 == 0.0)
                && owners.len() == 3
        },
    );

    // Hold merges on a table lock, give r0 a record to apply, and SIGTERM it: its readiness
    // turns 503 "draining" while the others stay ready.
    let held = owners(&config);
    let p0 = held
        .iter()
        .find(|(_, owner)| owner.as_str() == "r0")
        .map(|((_, p), _)| *p)
        .expect("r0 owns a partition");
    let lock = TableLock::hold(&stack.url(), "public.items");
    stack.send(records(total..total + 1, |_| p0));
    std::thread::sleep(Duration::from_millis(500));
    replicas[0].signal(libc::SIGTERM);
    let r0 = replicas[0].http_port;
    wait("r0 /readyz 503 draining", &mut replicas, |_| {
        http_get(r0, "/readyz").is_some_and(|(s, body)| s == 503 && body.contains("draining"))
    });
    assert!(all_ready(&replicas[1..]), "the other replicas stay ready");
    lock.release();
    let exit = replicas[0].terminate(Duration::from_secs(30));
    assert!(exit.success(), "{exit}\n{}", replicas[0].log_text());
    let mut merges = merges_logged(&replicas[0].log_text());
    let mut rest: Vec<Running> = replicas.drain(1..).collect();
    wait("the drained record applied", &mut rest, |_| {
        rows() == (total + 1).to_string()
    });
    // The two left take r0's partitions over and report them at lag 0.
    wait(
        "lag 0 on every partition over the two left",
        &mut rest,
        |rs| {
            let lags = lag_by_partition(rs);
            lags.len() == PARTITIONS as usize
                && lags.values().all(|v| v.len() == 1 && v[0].1 == 0.0)
        },
    );
    for mut r in rest {
        let exit = r.terminate(Duration::from_secs(30));
        assert!(exit.success(), "{exit}\n{}", r.log_text());
        merges += merges_logged(&r.log_text());
    }
    // Each replica exported its spans before exiting: one `batch` trace per committed batch.
    let requests = received.lock().expect("lock");
    let batches = requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .filter(|s| s.name == "batch" && s.parent_span_id.is_empty())
        .count() as u64;
    assert!(merges >= 3, "every replica committed batches: {merges}");
    assert_eq!(
        batches, merges,
        "one trace per committed batch over the three replicas"
    );
}

/// The `merges=N` of a replica's `stopped` log line.
fn merges_logged(log: &str) -> u64 {
    log.lines()
        .rev()
        .find(|l| l.contains("stopped"))
        .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("merges=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `stopped … merges=N` line in:\n{log}"))
}
