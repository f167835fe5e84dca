//! tidemark's metrics and health, shared by the pipeline (which records) and the HTTP endpoints
//! (which show them). In memory only.
//!
//! Metrics follow Prometheus naming (`tidemark_…`, `_total` counters, base units) and are kept
//! by the maintained `prometheus` crate, which also writes the text exposition format. They live
//! in one process-wide [`Metrics`] ([`metrics()`]): a replica is one process, and every actor
//! records into it without the metrics being threaded through each constructor.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
pub use prometheus::{Histogram, IntCounter};

/// Every metric a replica exposes.
pub struct Metrics {
    registry: Registry,
    /// Kafka records read and decoded, by topic.
    pub events_read: IntCounterVec,
    /// Rows inserted or replaced in targets, by table.
    pub rows_upserted: IntCounterVec,
    /// Rows deleted (or marked deleted) in targets, by table.
    pub rows_deleted: IntCounterVec,
    /// Records written to the dead-letter table, by table.
    pub dead_letters: IntCounterVec,
    /// Merge transactions committed, by table.
    pub batches: IntCounterVec,
    /// Records per committed batch, by table.
    pub batch_records: HistogramVec,
    /// Time from a batch's first statement to its commit, retries included, by table.
    pub merge_seconds: HistogramVec,
    /// Per record, from its Kafka timestamp (the producer's create time or the broker's append
    /// time, as the topic says) to the commit that applied it, by table.
    pub freshness_seconds: HistogramVec,
    /// Per change, from its `source.ts_ms` (when it was made in the source database) to the
    /// commit that applied it, by table: the whole pipeline's delay, Debezium and Kafka
    /// included.
    pub source_freshness_seconds: HistogramVec,
    /// Merges retried after a retriable failure, by table.
    pub merge_retries: IntCounterVec,
    /// Writes refused because a newer owner holds the partition (this replica was fenced).
    pub fence_rejections: IntCounter,
    /// Partitions this replica's owners hold.
    pub owned_partitions: IntGauge,
    /// Record bytes held between fetch and commit (bounded by `batch.max_in_flight_bytes`).
    pub in_flight_bytes: IntGauge,
    /// Times this replica lost its coordination lease (keep-alive failed past the TTL).
    pub lease_losses: IntCounter,
    /// Messages between the committed offset and the partition's high-water mark, for the
    /// partitions this replica owns, by topic and partition.
    pub consumer_lag: IntGaugeVec,
    /// The partitions this replica's owners hold, as (topic, partition).
    owned: Mutex<BTreeSet<(String, i32)>>,
    /// Where each partition resumed when this replica last took it (the warehouse's next
    /// offset): its lag until this replica commits there, so a caught-up partition taken over
    /// reports lag 0 without waiting for a new record.
    resumed: Mutex<BTreeMap<(String, i32), i64>>,
}

impl Metrics {
    fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                registered(&registry, IntCounterVec::new(Opts::new(name, help), labels))
            };
        let histogram = |name: &str,
                         help: &str,
                         buckets: Vec<f64>|
         -> Result<HistogramVec, prometheus::Error> {
            registered(
                &registry,
                HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), &["table"]),
            )
        };
        let seconds = vec![
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        ];
        let metrics = Self {
            events_read: counter(
                "tidemark_events_read_total",
                "Kafka records read and decoded",
                &["topic"],
            )?,
            rows_upserted: counter(
                "tidemark_rows_upserted_total",
                "Rows inserted or replaced in the target",
                &["table"],
            )?,
            rows_deleted: counter(
                "tidemark_rows_deleted_total",
                "Rows deleted (or marked deleted) in the target",
                &["table"],
            )?,
            dead_letters: counter(
                "tidemark_dead_letters_total",
                "Records written to the dead-letter table",
                &["table"],
            )?,
            batches: counter(
                "tidemark_batches_total",
                "Merge transactions committed",
                &["table"],
            )?,
            batch_records: histogram(
                "tidemark_batch_records",
                "Records per committed batch",
                vec![1.0, 10.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, 50000.0],
            )?,
            merge_seconds: histogram(
                "tidemark_merge_duration_seconds",
                "Time from a batch's first statement to its commit, retries included",
                seconds.clone(),
            )?,
            freshness_seconds: histogram(
                "tidemark_freshness_seconds",
                "Per record, from its Kafka timestamp to the commit that applied it",
                seconds.clone(),
            )?,
            source_freshness_seconds: histogram(
                "tidemark_source_freshness_seconds",
                "Per change, from its source.ts_ms (made in the source database) to the commit that applied it",
                seconds,
            )?,
            merge_retries: counter(
                "tidemark_merge_retries_total",
                "Merges retried after a retriable failure",
                &["table"],
            )?,
            fence_rejections: registered(
                &registry,
                IntCounter::new(
                    "tidemark_fence_rejections_total",
                    "Writes refused because a newer owner holds the partition",
                ),
            )?,
            owned_partitions: registered(
                &registry,
                IntGauge::new(
                    "tidemark_owned_partitions",
                    "Partitions this replica's owners hold",
                ),
            )?,
            in_flight_bytes: registered(
                &registry,
                IntGauge::new(
                    "tidemark_in_flight_bytes",
                    "Record bytes held between fetch and commit",
                ),
            )?,
            lease_losses: registered(
                &registry,
                IntCounter::new(
                    "tidemark_lease_losses_total",
                    "Times this replica lost its coordination lease",
                ),
            )?,
            consumer_lag: registered(
                &registry,
                IntGaugeVec::new(
                    Opts::new(
                        "tidemark_consumer_lag_messages",
                        "Messages between the committed offset and the high-water mark",
                    ),
                    &["topic", "partition"],
                ),
            )?,
            owned: Mutex::new(BTreeSet::new()),
            resumed: Mutex::new(BTreeMap::new()),
            registry,
        };
        Ok(metrics)
    }

    /// Every metric in the Prometheus text exposition format.
    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec fails only on a malformed family, which `new` cannot register.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Notes the partitions this replica holds now: the owned-partitions gauge, and the lag
    /// series of partitions it no longer holds are removed (another replica reports them).
    pub fn set_owned(&self, owned: BTreeSet<(String, i32)>) {
        self.owned_partitions
            .set(i64::try_from(owned.len()).unwrap_or(i64::MAX));
        let mut current = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
        for (topic, partition) in current.difference(&owned) {
            let _ = self
                .consumer_lag
                .remove_label_values(&[topic, &partition.to_string()]);
        }
        *current = owned;
    }

    /// Notes where a partition resumed when this replica took it.
    pub fn note_resumed(&self, topic: &str, partition: i32, next_offset: i64) {
        self.resumed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((topic.to_string(), partition), next_offset);
    }

    /// Where each partition last resumed on this replica.
    pub fn resumed(&self) -> BTreeMap<(String, i32), i64> {
        self.resumed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The partitions this replica holds, as last noted.
    pub fn owned(&self) -> BTreeSet<(String, i32)> {
        self.owned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Creates a table's labelled series at zero, so every metric is exposed (and dashboards
    /// and alerts find it) before its first event.
    pub fn touch_table(&self, topic: &str, table: &str) {
        self.events_read.with_label_values(&[topic]);
        for counter in [
            &self.rows_upserted,
            &self.rows_deleted,
            &self.dead_letters,
            &self.batches,
            &self.merge_retries,
        ] {
            counter.with_label_values(&[table]);
        }
        for histogram in [
            &self.batch_records,
            &self.merge_seconds,
            &self.freshness_seconds,
            &self.source_freshness_seconds,
        ] {
            histogram.with_label_values(&[table]);
        }
    }

    /// The histogram of one table's freshness, for recording a batch's records.
    pub fn freshness(&self, table: &str) -> Histogram {
        self.freshness_seconds.with_label_values(&[table])
    }

    /// The histogram of one table's freshness from the source database.
    pub fn source_freshness(&self, table: &str) -> Histogram {
        self.source_freshness_seconds.with_label_values(&[table])
    }
}

/// Registers a new metric in `registry` and returns it (metrics are handles: the clone kept
/// and the one registered count together).
fn registered<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: Result<C, prometheus::Error>,
) -> Result<C, prometheus::Error> {
    let metric = metric?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    // The names and labels are fixed and valid, so `new` cannot fail; a failure would be a
    // programming error caught by the first test that touches metrics.
    METRICS.get_or_init(|| Metrics::new().unwrap_or_else(|e| panic!("metric definitions: {e}")))
}

/// What readiness depends on, set by the parts that know.
#[derive(Debug, Default)]
pub struct Health {
    /// The replica runs its sessions (set once its tables are set up).
    running: AtomicBool,
    /// The last Kafka fetch or metadata call succeeded.
    kafka_ok: AtomicBool,
    /// The last warehouse call (claim, merge) succeeded.
    warehouse_ok: AtomicBool,
    /// The replica needs a coordination lease (etcd mode) …
    needs_lease: AtomicBool,
    /// … and holds one.
    lease_held: AtomicBool,
    /// Shutting down: no longer takes work.
    draining: AtomicBool,
}

impl Health {
    pub fn set_running(&self, v: bool) {
        self.running.store(v, Ordering::Relaxed);
    }
    pub fn set_kafka_ok(&self, v: bool) {
        self.kafka_ok.store(v, Ordering::Relaxed);
    }
    pub fn set_warehouse_ok(&self, v: bool) {
        self.warehouse_ok.store(v, Ordering::Relaxed);
    }
    pub fn set_needs_lease(&self, v: bool) {
        self.needs_lease.store(v, Ordering::Relaxed);
    }
    pub fn set_lease_held(&self, v: bool) {
        self.lease_held.store(v, Ordering::Relaxed);
    }
    pub fn set_draining(&self, v: bool) {
        self.draining.store(v, Ordering::Relaxed);
    }

    /// Ready to take work, or the reasons it is not.
    pub fn readiness(&self) -> Result<(), Vec<&'static str>> {
        let load = |b: &AtomicBool| b.load(Ordering::Relaxed);
        let mut not = Vec::new();
        if !load(&self.running) {
            not.push("not running its sessions yet");
        }
        if !load(&self.kafka_ok) {
            not.push("Kafka not reachable");
        }
        if !load(&self.warehouse_ok) {
            not.push("warehouse not reachable");
        }
        if load(&self.needs_lease) && !load(&self.lease_held) {
            not.push("holds no coordination lease");
        }
        if load(&self.draining) {
            not.push("draining");
        }
        if not.is_empty() {
            Ok(())
        } else {
            Err(not)
        }
    }
}

/// The process-wide health state.
pub fn health() -> &'static Health {
    static HEALTH: OnceLock<Health> = OnceLock::new();
    HEALTH.get_or_init(Health::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_exposed_with_its_labels() {
        let m = metrics();
        m.events_read.with_label_values(&["t"]).inc();
        m.rows_upserted.with_label_values(&["public.x"]).inc_by(3);
        m.freshness("public.x").observe(0.2);
        m.consumer_lag.with_label_values(&["t", "0"]).set(5);
        let text = m.encode();
        for line in [
            "tidemark_events_read_total{topic=\"t\"} 1",
            "tidemark_rows_upserted_total{table=\"public.x\"} 3",
            "tidemark_freshness_seconds_count{table=\"public.x\"} 1",
            "tidemark_consumer_lag_messages{partition=\"0\",topic=\"t\"} 5",
            "tidemark_owned_partitions 0",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }

    #[test]
    fn handed_over_partitions_lose_their_lag_series() {
        let m = Metrics::new().unwrap_or_else(|e| panic!("{e}"));
        let owned = |ps: &[i32]| ps.iter().map(|p| ("t".to_string(), *p)).collect();
        m.set_owned(owned(&[0, 1]));
        m.consumer_lag.with_label_values(&["t", "0"]).set(3);
        m.consumer_lag.with_label_values(&["t", "1"]).set(4);
        m.set_owned(owned(&[1]));
        let text = m.encode();
        assert!(!text.contains("partition=\"0\""), "{text}");
        assert!(text.contains("tidemark_consumer_lag_messages{partition=\"1\",topic=\"t\"} 4"));
        assert!(text.contains("tidemark_owned_partitions 1"));
    }

    #[test]
    fn readiness_needs_everything_and_no_drain() {
        let h = Health::default();
        assert_eq!(h.readiness().map_err(|r| r.len()), Err(3));
        h.set_running(true);
        h.set_kafka_ok(true);
        h.set_warehouse_ok(true);
        assert_eq!(h.readiness(), Ok(()));
        h.set_needs_lease(true);
        assert_eq!(h.readiness(), Err(vec!["holds no coordination lease"]));
        h.set_lease_held(true);
        h.set_draining(true);
        assert_eq!(h.readiness(), Err(vec!["draining"]));
    }
}
