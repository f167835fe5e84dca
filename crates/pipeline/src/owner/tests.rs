//! The backpressure bound against a real PostgreSQL: one fetched chunk worth ten batches, a
//! target locked by the test so merges cannot finish, `max_in_flight = 2`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use tidemark_debezium::{KeySource, TableDecoder};
use tidemark_model::{Epoch, LayoutCell, TableLayout, TableName, TopicPartition};
use tidemark_ports::{RawRecord, ReadEvent, Warehouse};
use tidemark_testkit::LocalPostgres;
use tidemark_warehouse::{PgSettings, PgWarehouse};
use tokio::sync::mpsc;

use super::{OwnerConfig, PartitionOwner, Route};
use crate::in_flight::InFlight;
use crate::merger::TableMerger;
use crate::messages::FetchedChunk;
use crate::spec::BatchLimits;
use crate::summary::RunSummary;

const TOPIC: &str = "db.public.t";
const ROWS_PER_BATCH: usize = 100;
const BATCHES: i64 = 10;

fn record(offset: i64) -> ReadEvent {
    let value = format!(
        r#"{{"before":null,"after":{{"id":{offset},"name":"n{offset}"}},"source":{{"ts_ms":0}},"op":"c","ts_ms":0}}"#
    );
    ReadEvent::Record(RawRecord {
        topic: Arc::from(TOPIC),
        partition: 0,
        offset,
        key: Some(format!(r#"{{"id":{offset}}}"#).into_bytes()),
        value: Some(value.into_bytes()),
        timestamp_ms: None,
        headers: Vec::new(),
    })
}

async fn count(url: &str) -> i64 {
    let client = tidemark_testkit::connect(url).await.expect("connect");
    client
        .query_one("SELECT count(*) FROM public.t", &[])
        .await
        .expect("count")
        .get(0)
}

#[test]
fn one_chunk_worth_many_batches_keeps_at_most_max_in_flight_batches_in_flight() {
    let pg = LocalPostgres::start().unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let url = pg.url();
    let system = actix::System::new();
    system.block_on(async move {
        let locker = tidemark_testkit::connect(&url).await.expect("connect");
        locker
            .batch_execute("CREATE TABLE public.t (id bigint PRIMARY KEY, name text)")
            .await
            .expect("create");
        let warehouse = PgWarehouse::new(PgSettings {
            password: None,
            tls: None,
            url: url.clone(),
            schema: "tidemark".into(),
            pipeline: "bound".into(),
            statement_timeout: Duration::from_secs(60),
            redshift: None,
        })
        .expect("settings");
        warehouse.prepare().await.expect("prepare");
        let table = TableName::parse("public.t").expect("name");
        let columns = warehouse
            .describe(&table)
            .await
            .expect("describe")
            .expect("the table exists");
        let layout = Arc::new(LayoutCell::fixed(
            TableLayout::from_target(table.clone(), columns, &BTreeMap::new(), &[])
                .expect("layout"),
        ));
        let tp = TopicPartition::new(TOPIC, 0);
        warehouse
            .claim(std::slice::from_ref(&tp), Epoch(1))
            .await
            .expect("claim");
        let writer = warehouse.writer(layout.clone()).await.expect("writer");
        let (events_tx, _events) = mpsc::unbounded_channel();
        let merger = TableMerger {
            table,
            topic: TOPIC.into(),
            writer: Some(writer),
            poisoned: false,
            stopping: Arc::new(AtomicBool::new(false)),
            summary: Arc::new(Mutex::new(RunSummary::default())),
            supervisor: events_tx.clone(),
            reporter: None,
        };
        let merger = TableMerger::start_in_arbiter(&Arbiter::new().handle(), move |_| merger);

        // Merges block on this lock until the test lets them go.
        locker
            .batch_execute("BEGIN; LOCK TABLE public.t IN ACCESS EXCLUSIVE MODE")
            .await
            .expect("lock");

        let in_flight = Arc::new(InFlight::default());
        let (chunk_tx, chunk_rx) = mpsc::channel(2);
        let owner = PartitionOwner::new(OwnerConfig {
            slice: 0,
            epoch: Epoch(1),
            limits: BatchLimits {
                max_rows: ROWS_PER_BATCH,
                max_bytes: usize::MAX,
                linger: Duration::from_secs(600),
                max_in_flight: 2,
                max_in_flight_bytes: u64::MAX,
            },
            routes: HashMap::from([(
                Arc::<str>::from(TOPIC),
                Route {
                    merger,
                    decoder: TableDecoder::new(layout, KeySource::MessageKey, Default::default())
                        .expect("decoder"),
                    apply_truncates: false,
                    dead_letters: false,
                    raw_table: None,
                    events: tidemark_telemetry::metrics()
                        .events_read
                        .with_label_values(&[TOPIC]),
                },
            )]),
            positions: HashMap::from([(tp, 0)]),
            targets: None,
            stop_fetch: Arc::new(AtomicBool::new(false)),
            chunks: chunk_rx,
            supervisor: events_tx,
            in_flight: in_flight.clone(),
        });
        let owner_arbiter = Arbiter::new();
        let _owner = PartitionOwner::start_in_arbiter(&owner_arbiter.handle(), move |_| owner);
        let events: Vec<ReadEvent> = (0..ROWS_PER_BATCH as i64 * BATCHES).map(record).collect();
        chunk_tx
            .send(FetchedChunk::Events {
                events,
                memory: None,
            })
            .await
            .expect("send chunk");

        // Backpressure engaged: exactly two batches cut and waiting on the lock, no more.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            in_flight.now(),
            2,
            "batches in flight while merges are blocked"
        );
        assert_eq!(in_flight.peak(), 2);

        locker.batch_execute("COMMIT").await.expect("unlock");
        let deadline = Instant::now() + Duration::from_secs(60);
        while count(&url).await < ROWS_PER_BATCH as i64 * BATCHES {
            assert!(
                Instant::now() < deadline,
                "the ten batches never all landed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(in_flight.peak() <= 2, "peak {}", in_flight.peak());
        owner_arbiter.stop();
    });
}
