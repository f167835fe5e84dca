//! Partitions added to a topic are picked up by a running cluster replica without restart.
//!
//! Neither broker available here implements CreatePartitions (tansu answers
//! UnsupportedFeature; librdkafka's mock cluster times out), so the topic is created with its
//! final partition count on the real broker and the replica's `Broker` reveals the last ones
//! later: metadata only — every record, offset and watermark comes from the real broker.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidemark_cdcgen::{GenConfig, Generator};
use tidemark_debezium::KeySource;
use tidemark_e2e::*;
use tidemark_kafka::KafkaBroker;
use tidemark_model::{TableName, TopicPartition};
use tidemark_pipeline::{run_replica, BatchLimits, ReplicaSpec, Role, RunSummary, TableSpec};
use tidemark_ports::{Broker, BrokerError, MemberInfo, OffsetReporter, RecordReader, StartOffset};
use tidemark_testkit::Etcd;
use tidemark_warehouse::{PgSettings, PgWarehouse};

/// The real broker, showing only the first `visible` partitions of every topic.
struct Growing {
    inner: KafkaBroker,
    visible: Arc<AtomicI32>,
}

impl Broker for Growing {
    fn topics(&self, timeout: Duration) -> Result<Vec<String>, BrokerError> {
        self.inner.topics(timeout)
    }
    fn partitions(&self, topic: &str, timeout: Duration) -> Result<Vec<i32>, BrokerError> {
        let visible = self.visible.load(Ordering::SeqCst);
        Ok(self
            .inner
            .partitions(topic, timeout)?
            .into_iter()
            .filter(|p| *p < visible)
            .collect())
    }
    fn watermarks(
        &self,
        tp: &TopicPartition,
        timeout: Duration,
    ) -> Result<(i64, i64), BrokerError> {
        self.inner.watermarks(tp, timeout)
    }
    fn open_reader(
        &self,
        assignment: &[(TopicPartition, StartOffset)],
    ) -> Result<Box<dyn RecordReader>, BrokerError> {
        self.inner.open_reader(assignment)
    }
    fn offset_reporter(&self) -> Result<Arc<dyn OffsetReporter>, BrokerError> {
        self.inner.offset_reporter()
    }
}

#[test]
fn partitions_added_to_a_topic_are_picked_up_without_restart() {
    let stack = Stack::start();
    let etcd = Etcd::start().unwrap_or_else(|e| panic!("cannot start etcd: {e}"));
    let setups = vec![salesdb_setups().remove(1)];
    stack.prepare(&setups, 4);
    let topic = setups[0].def.topic();
    let mut history = Generator::new(
        vec![setups[0].def.clone()],
        GenConfig {
            partitions: 4,
            ..GenConfig::hostile(121, 6_000)
        },
    );
    produce(stack.kafka.bootstrap(), history.by_ref());
    let high = high_watermarks(stack.kafka.bootstrap(), &setups);
    let visible = Arc::new(AtomicI32::new(2));

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let runner = {
        let bootstrap = stack.kafka.bootstrap().to_string();
        let url = stack.url();
        let endpoint = etcd.endpoint();
        let visible = visible.clone();
        let table = setups[0].clone();
        std::thread::spawn(move || {
            let broker: Arc<dyn Broker> = Arc::new(Growing {
                inner: KafkaBroker::new(&bootstrap, &BTreeMap::new(), "growth").expect("broker"),
                visible,
            });
            let warehouse = Arc::new(
                PgWarehouse::new(PgSettings {
                    url,
                    password: None,
                    tls: None,
                    schema: "tidemark".into(),
                    pipeline: "growth".into(),
                    statement_timeout: Duration::from_secs(60),
                    redshift: None,
                    merge: Default::default(),
                })
                .expect("warehouse"),
            );
            let coordinator = Arc::new(tidemark_etcd::EtcdCoordinator::new(
                vec![endpoint],
                "growth",
                Default::default(),
            ));
            let spec = ReplicaSpec {
                tables: Arc::new(vec![TableSpec {
                    topic: table.def.topic(),
                    target: TableName::parse(&table.target).expect("target"),
                    renames: table.renames.clone(),
                    unmanaged: vec![],
                    fields: Default::default(),
                    key: KeySource::MessageKey,
                    apply_truncates: false,
                    decode: Default::default(),
                    dead_letters: false,
                    soft_delete: false,
                    evolution: Default::default(),
                    raw_table: None,
                }]),
                slices: 2,
                limits: BatchLimits {
                    max_rows: 500,
                    max_bytes: 8 << 20,
                    linger: Duration::from_millis(50),
                    max_in_flight: 2,
                    max_in_flight_bytes: 64 << 20,
                },
                commit_offsets: true,
                role: Role::Cluster {
                    coordinator,
                    member: MemberInfo {
                        id: "solo".into(),
                        address: "localhost".into(),
                        slices: 2,
                        joined_at_ms: 0,
                    },
                    lease_ttl: Duration::from_secs(4),
                },
            };
            let summary = Arc::new(Mutex::new(RunSummary::default()));
            actix::System::new().block_on(run_replica(
                spec,
                broker,
                warehouse,
                async {
                    let _ = stop_rx.await;
                },
                summary,
            ))
        })
    };

    let url = stack.url();
    let wm = |url: &str| {
        block_on(async {
            let client = tidemark_testkit::connect(url).await.expect("connect");
            client
                .query("SELECT partition, next_offset FROM tidemark.watermarks WHERE next_offset IS NOT NULL", &[])
                .await
                .unwrap_or_default()
                .iter()
                .map(|r| (r.get::<_, i32>(0), r.get::<_, i64>(1)))
                .collect::<BTreeMap<i32, i64>>()
        })
    };
    let target = |p: i32| high[&(topic.clone(), p)];
    let wait = |what: &str, within: Duration, done: &dyn Fn(&BTreeMap<i32, i64>) -> bool| {
        let deadline = std::time::Instant::now() + within;
        loop {
            let now = wm(&url);
            if done(&now) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{what}: {now:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait(
        "the two visible partitions",
        Duration::from_secs(60),
        &|w| w.get(&0) == Some(&target(0)) && w.get(&1) == Some(&target(1)),
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(!wm(&url).contains_key(&2), "partition 2 is not visible yet");

    visible.store(4, Ordering::SeqCst);
    wait(
        "the grown partitions, without restart",
        Duration::from_secs(30),
        &|w| (0..4).all(|p| w.get(&p) == Some(&target(p))),
    );
    let _ = stop_tx.send(());
    runner.join().expect("runner thread").expect("run_replica");
    assert_matches_oracle(&url, &setups, history.oracle());
}
