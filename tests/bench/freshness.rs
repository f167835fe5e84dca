//! Benchmark: freshness at a steady load — how long after a change is readable from Kafka it
//! is visible in the target — at a light rate and near saturation, in one run.
//!
//! `TANSU_BIN=~/.cache/tidemark/tools/bin/tansu cargo bench -p tidemark-e2e --bench freshness --
//! [--rates 1000,5000] [--seconds 15] [--warmup 3] [--poll-ms 2] [--fetch-wait-ms 10]`
//!
//! One `tidemark run` (the product's default `[batch]`, untouched) applies the customer topic
//! (6 partitions) to `public.customer_target`. For each rate, a producer thread inserts new
//! keys at that rate (paced per ms, never bursts) for `--warmup` + `--seconds` seconds and
//! notes each record's produce time. Observers note when they first see each key, on the same
//! clock (`Instant`, one process):
//!
//! - a plain Kafka consumer (rdkafka, assigned to every partition from the end): the baseline,
//!   what a Kafka reader gets. tansu answers a fetch only when `fetch.wait.max.ms` has passed,
//!   even if records arrived meanwhile (real Kafka answers as soon as `fetch.min.bytes` = 1 is
//!   there), so the baseline uses a short wait (`--fetch-wait-ms`, default 10);
//! - a second consumer with tidemark's own `fetch.wait.max.ms` ([`tidemark_kafka::FETCH_WAIT_MAX_MS`]): visible minus its time is
//!   what tidemark adds beyond its fetches (its batching and merge);
//! - a poller that queries the target every `--poll-ms` for keys it has not seen yet (an index
//!   range scan per partition) — a key is "visible" at the start of the first query that
//!   returns it, so the poll interval plus one query bounds the resolution.
//!
//! Printed per rate, over the keys produced after the warm-up: p50 / p99 / max of
//! consumer − produced, visible − produced and visible − consumer, the last being the
//! freshness tidemark adds over a plain consumer (the figure of merit is its p99). Every key
//! produced must be seen by every observer, or the benchmark fails.
//!
//! The default second rate, 5,000/s, is near what the producer and tansu sustain on a 2-core
//! machine (about 7,000/s when asked for 20,000/s): already there the broker's own delay grows.
//!
//! The target gets an index on its key (the reference post's table has none) so that polling
//! stays cheap; tidemark's merges use it too.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tidemark_e2e::*;
use tidemark_testkit::ProduceRecord;

const PARTITIONS: i32 = 6;
/// Keys of partition `p` are `p * SPAN + seq`: each partition owns a contiguous key range, so
/// the poller asks for "above the lowest unseen key" with one index range per partition.
const SPAN: i64 = 100_000_000;
const TARGET: &str = "public.customer_target";
/// How long after the last record every key must have been seen.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

struct Args {
    rates: Vec<f64>,
    seconds: f64,
    warmup: f64,
    poll: Duration,
    /// The plain consumer's `fetch.wait.max.ms` (the second consumer uses tidemark's default).
    fetch_wait_ms: u64,
}

fn args() -> Args {
    let mut a = Args {
        rates: vec![1_000.0, 5_000.0],
        seconds: 15.0,
        warmup: 3.0,
        poll: Duration::from_millis(2),
        fetch_wait_ms: 10,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let value = argv.get(i + 1).map(|v| v.replace('_', ""));
        let number = || {
            value
                .as_deref()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| *v > 0.0)
                .unwrap_or_else(|| panic!("{} needs a positive number", argv[i]))
        };
        match argv[i].as_str() {
            "--bench" => {
                i += 1;
                continue;
            }
            "--rates" => {
                a.rates = value
                    .as_deref()
                    .map(|v| {
                        v.split(',')
                            .map(|r| r.trim().parse::<f64>())
                            .collect::<Result<Vec<f64>, _>>()
                    })
                    .and_then(Result::ok)
                    .filter(|r: &Vec<f64>| !r.is_empty() && r.iter().all(|x| *x > 0.0))
                    .unwrap_or_else(|| panic!("--rates needs positive rates like 1000,5000"));
            }
            "--seconds" => a.seconds = number(),
            "--warmup" => a.warmup = number(),
            "--poll-ms" => a.poll = Duration::from_secs_f64(number() / 1000.0),
            "--fetch-wait-ms" => a.fetch_wait_ms = number() as u64,
            other => panic!("unknown or incomplete argument {other:?}"),
        }
        i += 2;
    }
    a
}

/// The `n`th record produced overall: partition `n % 6`, the partition's `n / 6`th key.
fn key_of(n: u64) -> i64 {
    let p = (n % PARTITIONS as u64) as i64;
    p * SPAN + (n / PARTITIONS as u64) as i64
}

/// Inverse of [`key_of`], `None` for a key the benchmark never produces.
fn index_of(key: i64) -> Option<u64> {
    let (p, seq) = (key / SPAN, key % SPAN);
    (0..i64::from(PARTITIONS))
        .contains(&p)
        .then(|| (seq * i64::from(PARTITIONS) + p) as u64)
        .filter(|_| key >= 0)
}

/// An insert of key `key_of(n)` into the customer topic, as Debezium writes it.
fn insert(topic: &str, n: u64) -> ProduceRecord {
    let key = key_of(n);
    connect_record_keyed(
        topic,
        (n % PARTITIONS as u64) as i32,
        "CUST_ID",
        key,
        r#"{"type":"int32","optional":false,"field":"CUST_ID"}"#,
        &[
            r#"{"type":"int32","optional":false,"field":"CUST_ID"}"#,
            r#"{"type":"string","optional":false,"field":"NAME"}"#,
            r#"{"type":"string","optional":true,"field":"MKTSEGMENT"}"#,
        ],
        &format!(r#"{{"CUST_ID":{key},"NAME":"customer {key}","MKTSEGMENT":"BUILDING"}}"#),
    )
}

/// When each record was first seen, as µs since the benchmark's clock started plus one
/// (0 = not seen), indexed by record number; shared by an observer and the main thread.
struct Seen {
    at: Vec<AtomicU64>,
    count: AtomicU64,
}

impl Seen {
    fn new(capacity: u64) -> Arc<Seen> {
        Arc::new(Seen {
            at: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
        })
    }

    /// Notes key `key` as seen at `t` unless seen before; false for a key never produced.
    fn note(&self, key: i64, t: u64) -> bool {
        let Some(slot) = index_of(key).and_then(|n| self.at.get(n as usize)) else {
            return false;
        };
        if slot
            .compare_exchange(0, t + 1, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.count.fetch_add(1, Ordering::Release);
        }
        true
    }

    fn get(&self, n: u64) -> Option<u64> {
        match self.at[n as usize].load(Ordering::Relaxed) {
            0 => None,
            t => Some(t - 1),
        }
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }
}

/// µs since `base`.
fn micros(base: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(base).as_micros() as u64
}

/// A plain consumer: every partition from the `start` offsets, notes each key at the moment
/// `poll` hands its record over.
fn plain_consumer(
    name: &'static str,
    bootstrap: &str,
    fetch_wait_ms: u64,
    start: &BTreeMap<(String, i32), i64>,
    base: Instant,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Result<(), String>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "tidemark-freshness-plain")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        // tansu answers a fetch only after `fetch.wait.max.ms` even when records arrived
        // meanwhile, so this bounds how soon a reader sees a record (see the module doc).
        .set("fetch.wait.max.ms", fetch_wait_ms.to_string())
        .set("queued.max.messages.kbytes", "8192")
        .set("log_level", "3")
        .create()
        .unwrap_or_else(|e| panic!("creating the {name}: {e}"));
    let mut tpl = TopicPartitionList::new();
    for ((topic, p), &offset) in start {
        tpl.add_partition_offset(topic, *p, Offset::Offset(offset))
            .unwrap_or_else(|e| panic!("assigning {topic}[{p}]: {e}"));
    }
    consumer
        .assign(&tpl)
        .unwrap_or_else(|e| panic!("assigning {start:?}: {e}"));
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Some(message) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let t = micros(base, Instant::now());
            let message = message.map_err(|e| format!("{name}: {e}"))?;
            let key = message
                .key()
                .and_then(|k| serde_json::from_slice::<serde_json::Value>(k).ok())
                .and_then(|k| k["payload"]["CUST_ID"].as_i64())
                .ok_or_else(|| {
                    format!(
                        "{name}: record at {}[{}]@{} has no CUST_ID key",
                        message.topic(),
                        message.partition(),
                        message.offset()
                    )
                })?;
            if !seen.note(key, t) {
                return Err(format!("{name}: unexpected key {key}"));
            }
        }
        Ok(())
    })
}

/// Counters of the poller's queries, for the cost line.
#[derive(Default)]
struct PollStats {
    polls: AtomicU64,
    /// Sum of the queries' round trips, µs.
    busy_us: AtomicU64,
    /// Longest round trip, µs.
    max_us: AtomicU64,
    /// Rows returned (above the number of keys when a partition's rows appear out of order).
    rows: AtomicU64,
}

/// The poller: every `interval`, one query for the keys at or above each partition's lowest
/// unseen key (index range scans); a key is visible at the start of the query that returns it.
fn poller(
    url: String,
    interval: Duration,
    base: Instant,
    seen: Arc<Seen>,
    stats: Arc<PollStats>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Result<(), String>> {
    std::thread::spawn(move || {
        block_on(async move {
            let client = tidemark_testkit::connect(&url)
                .await
                .map_err(|e| format!("poller: connecting: {e}"))?;
            // Range scans whatever the statistics say while the table is small.
            client
                .batch_execute("SET enable_seqscan = off")
                .await
                .map_err(|e| format!("poller: {e}"))?;
            let ranges: Vec<String> = (0..PARTITIONS)
                .map(|p| {
                    format!(
                        "(customer_id >= ${} AND customer_id < ${})",
                        2 * p + 1,
                        2 * p + 2
                    )
                })
                .collect();
            let sql = format!(
                "SELECT customer_id FROM {TARGET} WHERE {}",
                ranges.join(" OR ")
            );
            let statement = client
                .prepare(&sql)
                .await
                .map_err(|e| format!("poller: {sql}: {e}"))?;
            // Per partition: the lowest sequence not seen yet, and those above it seen already.
            let mut low = vec![0i64; PARTITIONS as usize];
            let mut above: Vec<BTreeSet<i64>> = vec![BTreeSet::new(); PARTITIONS as usize];
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let bounds: Vec<i32> = (0..PARTITIONS as usize)
                    .flat_map(|p| {
                        let from = p as i64 * SPAN;
                        [(from + low[p]) as i32, (from + SPAN) as i32]
                    })
                    .collect();
                let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = bounds
                    .iter()
                    .map(|b| b as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect();
                let rows = client
                    .query(&statement, &params)
                    .await
                    .map_err(|e| format!("poller: {e}"))?;
                let took = micros(started, Instant::now());
                let t = micros(base, started);
                stats.rows.fetch_add(rows.len() as u64, Ordering::Relaxed);
                for row in rows {
                    let key = i64::from(
                        row.try_get::<_, i32>(0)
                            .map_err(|e| format!("poller: {e}"))?,
                    );
                    if !seen.note(key, t) {
                        return Err(format!("poller: unexpected key {key} in {TARGET}"));
                    }
                    let (p, seq) = ((key / SPAN) as usize, key % SPAN);
                    above[p].insert(seq);
                    while above[p].remove(&low[p]) {
                        low[p] += 1;
                    }
                }
                stats.polls.fetch_add(1, Ordering::Relaxed);
                stats.busy_us.fetch_add(took, Ordering::Relaxed);
                stats.max_us.fetch_max(took, Ordering::Relaxed);
                next = (next + interval).max(Instant::now());
                tokio::time::sleep_until(next.into()).await;
            }
            Ok(())
        })
    })
}

/// p50, p99 and max of µs values, in ms.
fn percentiles(mut v: Vec<i64>) -> [f64; 3] {
    v.sort_unstable();
    let at = |q: usize| v[(v.len() * q / 100).min(v.len() - 1)] as f64 / 1000.0;
    [at(50), at(99), at(100)]
}

fn median_ms(v: &[i64]) -> f64 {
    percentiles(v.to_vec())[0]
}

struct Phase {
    rate: f64,
    /// Record numbers produced in this phase, and the first one after the warm-up.
    first: u64,
    measured_from: u64,
    end: u64,
    /// Produce time of each record of the phase (µs since the clock started).
    produced: Vec<u64>,
    polls: u64,
    poll_busy_us: u64,
    poll_rows: u64,
    /// From the first record to every key seen.
    wall: Duration,
}

/// Produces `rate`/s for warm-up + measured seconds from record number `first` on; returns
/// the produce times. The records are handed to the producer as they fall due.
fn produce_paced(
    bootstrap: &str,
    topic: &str,
    first: u64,
    rate: f64,
    a: &Args,
    base: Instant,
) -> (Vec<u64>, u64) {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    let duration = Duration::from_secs_f64(a.warmup + a.seconds);
    let warmup = Duration::from_secs_f64(a.warmup);
    std::thread::spawn(move || {
        let paced = Paced::new(rate, duration);
        let measured_from = paced.start() + warmup;
        let mut times = Vec::new();
        let mut first_measured = None;
        let records = paced.enumerate().map(|(i, t)| {
            let n = first + i as u64;
            if t >= measured_from && first_measured.is_none() {
                first_measured = Some(n);
            }
            times.push(micros(base, t));
            insert(&topic, n)
        });
        let delivered = block_on(tidemark_testkit::produce(&bootstrap, records))
            .unwrap_or_else(|e| panic!("producing at {rate}/s: {e}"));
        assert_eq!(delivered, times.len() as u64, "deliveries");
        let measured_from = first_measured.unwrap_or(first + times.len() as u64);
        (times, measured_from)
    })
    .join()
    .unwrap_or_else(|_| panic!("the producer thread panicked"))
}

/// Waits until every observer saw every record below `end`; fails loudly with what is missing.
fn wait_seen(observers: &[(&str, &Seen)], end: u64, running: &mut Running) {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while observers.iter().any(|(_, s)| s.count() < end) {
        running.assert_alive();
        if Instant::now() > deadline {
            let missing: Vec<String> = observers
                .iter()
                .map(|(name, s)| {
                    let keys: Vec<i64> = (0..end)
                        .filter(|&n| s.get(n).is_none())
                        .take(10)
                        .map(key_of)
                        .collect();
                    format!("{name} saw {} (missing e.g. {keys:?})", s.count())
                })
                .collect();
            panic!(
                "not every key seen within {DRAIN_TIMEOUT:?} of the last record: produced {end}; {}",
                missing.join("; ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn report(phase: &Phase, consumer: &Seen, like_tidemark: &Seen, visible: &Seen) {
    let (mut kafka, mut kafka100, mut fresh) = (Vec::new(), Vec::new(), Vec::new());
    let (mut added, mut added100) = (Vec::new(), Vec::new());
    let mut both = 0u64;
    for n in phase.measured_from..phase.end {
        let p = phase.produced[(n - phase.first) as usize] as i64;
        let (Some(c), Some(c100), Some(v)) =
            (consumer.get(n), like_tidemark.get(n), visible.get(n))
        else {
            continue;
        };
        both += 1;
        let (c, c100, v) = (c as i64, c100 as i64, v as i64);
        kafka.push(c - p);
        kafka100.push(c100 - p);
        fresh.push(v - p);
        added.push(v - c);
        added100.push(v - c100);
    }
    let measured = phase.end - phase.measured_from;
    assert_eq!(
        both, measured,
        "keys seen by all ({both}) differ from keys produced ({measured})"
    );
    let times = &phase.produced[(phase.measured_from - phase.first) as usize..];
    let span = (times[times.len() - 1] - times[0]) as f64 / 1e6;
    let achieved = (measured - 1) as f64 / span;
    println!(
        "  rate {:.0}/s: achieved {achieved:.0}/s over {span:.1} s, {measured} keys, seen by all: {both}",
        phase.rate
    );
    if achieved < 0.95 * phase.rate {
        println!(
            "    (the producer and broker did not sustain {:.0}/s on this machine: this rate measures a backlog)",
            phase.rate
        );
    }
    println!("                                          p50         p99         max");
    for (name, v, what) in [
        ("plain consumer", &kafka, "consumer − produced"),
        ("visible in target", &fresh, "visible − produced"),
        (
            "added by tidemark",
            &added,
            "visible − consumer: the figure of merit",
        ),
        (
            "consumer, tidemark's fetch",
            &kafka100,
            "consumer with tidemark's fetch.wait.max.ms − produced",
        ),
        ("added, same fetch", &added100, "visible − that consumer"),
    ] {
        let [p50, p99, max] = percentiles(v.clone());
        println!("    {name:<19} {p50:>9.1} ms {p99:>8.1} ms {max:>8.1} ms   ({what})");
    }
    let [_, kafka99, _] = percentiles(kafka.clone());
    let [_, fresh99, _] = percentiles(fresh.clone());
    let [_, added99, _] = percentiles(added.clone());
    // A rate the pipeline cannot sustain shows as an added delay that grows over the window.
    let second = ((measured as f64 / span) as usize).max(1);
    let head = &added[..second.min(added.len())];
    let tail = &added[added.len().saturating_sub(second)..];
    println!(
        "    figure of merit: added p99 {added99:.1} ms (visible p99 {:.1} × the plain consumer's); \
         added p50 in the first second {:.1} ms, in the last {:.1} ms",
        fresh99 / kafka99.max(0.001),
        median_ms(head),
        median_ms(tail)
    );
    println!(
        "    poller: {} queries ({:.0}/s), {:.2} ms per query on average, {:.2} rows read per key",
        phase.polls,
        phase.polls as f64 / phase.wall.as_secs_f64(),
        phase.poll_busy_us as f64 / phase.polls.max(1) as f64 / 1000.0,
        phase.poll_rows as f64 / (phase.end - phase.first) as f64
    );
}

fn main() {
    let a = args();
    cargo_build_release("tidemark", "tidemark");
    let stack = Stack::start();
    let setups: Vec<TableSetup> = salesdb_setups().into_iter().take(1).collect();
    let topic = setups[0].def.topic();
    assert_eq!(setups[0].target, TARGET);
    stack.prepare(&setups, PARTITIONS);
    stack.sql(&format!("CREATE INDEX ON {TARGET} (customer_id)"));
    let config = stack.config("freshness", &setups, "");
    let mut running = Running::start(&config, stack.dir.path().join("tidemark.log"));
    // `/readyz` turns 200 only after a first merge, so an idle replica is waited for by its
    // log: the slice owning the partitions has started.
    let ready_by = Instant::now() + Duration::from_secs(60);
    while !running.log_text().contains("slice started") {
        running.assert_alive();
        assert!(
            Instant::now() < ready_by,
            "tidemark started no slice within 60 s:\n{}",
            running.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let capacity: u64 = a
        .rates
        .iter()
        .map(|r| (r * (a.warmup + a.seconds)).ceil() as u64 + 1)
        .sum();
    assert!(
        capacity / PARTITIONS as u64 + 1 < SPAN as u64,
        "too many records for the key layout"
    );
    let base = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let consumed = Seen::new(capacity);
    let consumed100 = Seen::new(capacity);
    let visible = Seen::new(capacity);
    let start = high_watermarks(stack.kafka.bootstrap(), &setups);
    assert_eq!(start.len(), PARTITIONS as usize, "partitions of {topic}");
    let consumer100 = plain_consumer(
        "consumer with tidemark's fetch settings",
        stack.kafka.bootstrap(),
        tidemark_kafka::FETCH_WAIT_MAX_MS,
        &start,
        base,
        consumed100.clone(),
        stop.clone(),
    );
    let consumer = plain_consumer(
        "plain consumer",
        stack.kafka.bootstrap(),
        a.fetch_wait_ms,
        &start,
        base,
        consumed.clone(),
        stop.clone(),
    );

    // What polling costs PostgreSQL: its CPU over 2 s idle, then 2 s idle with the poller.
    let idle = Duration::from_secs(2);
    let cpu0 = stack.pg.server_cpu_time();
    std::thread::sleep(idle);
    let cpu1 = stack.pg.server_cpu_time();
    let stats = Arc::new(PollStats::default());
    let poll = poller(
        stack.url(),
        a.poll,
        base,
        visible.clone(),
        stats.clone(),
        stop.clone(),
    );
    std::thread::sleep(Duration::from_millis(200));
    let cpu2 = stack.pg.server_cpu_time();
    let polls0 = stats.polls.load(Ordering::Relaxed);
    std::thread::sleep(idle);
    let cpu3 = stack.pg.server_cpu_time();
    let idle_polls = stats.polls.load(Ordering::Relaxed) - polls0;
    let per_s = |d: Duration| d.as_secs_f64() * 1000.0 / idle.as_secs_f64();
    let (pg_idle, pg_polling) = (per_s(cpu1 - cpu0), per_s(cpu3 - cpu2));

    let mut phases = Vec::new();
    let mut next = 0u64;
    for &rate in &a.rates {
        eprintln!("producing {rate}/s for {} + {} s…", a.warmup, a.seconds);
        let began = Instant::now();
        let polls = stats.polls.load(Ordering::Relaxed);
        let busy = stats.busy_us.load(Ordering::Relaxed);
        let rows = stats.rows.load(Ordering::Relaxed);
        let (produced, measured_from) =
            produce_paced(stack.kafka.bootstrap(), &topic, next, rate, &a, base);
        let end = next + produced.len() as u64;
        wait_seen(
            &[
                ("the plain consumer", &consumed),
                ("the consumer with tidemark's fetch settings", &consumed100),
                (TARGET, &visible),
            ],
            end,
            &mut running,
        );
        phases.push(Phase {
            rate,
            first: next,
            measured_from,
            end,
            produced,
            polls: stats.polls.load(Ordering::Relaxed) - polls,
            poll_busy_us: stats.busy_us.load(Ordering::Relaxed) - busy,
            poll_rows: stats.rows.load(Ordering::Relaxed) - rows,
            wall: began.elapsed(),
        });
        next = end;
    }
    stop.store(true, Ordering::Relaxed);
    for (name, handle) in [
        ("plain consumer", consumer),
        ("consumer with tidemark's fetch settings", consumer100),
        ("poller", poll),
    ] {
        handle
            .join()
            .unwrap_or_else(|_| panic!("{name} thread panicked"))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let status = running.terminate(Duration::from_secs(60));
    assert!(status.success(), "tidemark exited with {status}");

    println!(
        "tidemark freshness benchmark ({PARTITIONS} partitions, inserts of new keys into {TARGET}, \
         default [batch] (linger 200ms), warm-up {} s then {} s per rate)",
        a.warmup, a.seconds
    );
    println!(
        "  baseline: a plain rdkafka consumer of all partitions (fetch.wait.max.ms={}; a second one with tidemark's {}); \
         visible = start of the first query returning the key, polled every {:?} (the resolution)",
        a.fetch_wait_ms, tidemark_kafka::FETCH_WAIT_MAX_MS, a.poll
    );
    println!(
        "  polling cost: PostgreSQL CPU {pg_polling:.1} ms/s with the poller ({:.0} queries/s, \
         index range scans), {pg_idle:.1} ms/s without, both with tidemark idle; longest query of the run {:.1} ms",
        idle_polls as f64 / idle.as_secs_f64(),
        stats.max_us.load(Ordering::Relaxed) as f64 / 1000.0
    );
    for phase in &phases {
        report(phase, &consumed, &consumed100, &visible);
    }
}
