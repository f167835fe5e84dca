//! `tidemark demo`: everything in one process, for a newcomer.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use tidemark_cdcgen::{GenConfig, Generator, TableDef};
use tidemark_config::Config;
use tidemark_localpg::LocalPostgres;
use tidemark_pipeline::Mode;

use crate::commands::run::{execute, Progress};
use crate::error::CliError;
use crate::wiring;

const SCHEMA: &str = "tidemark_demo";

/// The reference post's target table, in a schema of the demo's own.
const TARGET_DDL: &str = "
    CREATE TABLE tidemark_demo.customer_target (
        customer_id    varchar(256),
        customer_name  varchar(256),
        market_segment varchar(256),
        refresh_time   timestamp without time zone DEFAULT now()
    )";

fn demo_error(what: &str, e: impl std::fmt::Display) -> CliError {
    CliError::Demo(format!("{what}: {e}"))
}

pub fn demo(
    warehouse_url: Option<String>,
    events: u64,
    seed: u64,
    partitions: i32,
) -> Result<ExitCode, CliError> {
    // The warehouse: a throwaway PostgreSQL unless one is given. Kept alive until the end.
    let mut _local_pg = None;
    let url = match warehouse_url {
        Some(url) => url,
        None => {
            eprintln!("• starting a throwaway PostgreSQL from the installed binaries…");
            let pg = LocalPostgres::start().map_err(|e| demo_error("starting PostgreSQL", e))?;
            let url = pg.url();
            _local_pg = Some(pg);
            url
        }
    };
    eprintln!("• warehouse: {url}");

    // The broker: librdkafka's mock cluster, inside this process.
    let cluster =
        MockCluster::new(1).map_err(|e| demo_error("starting the mock Kafka cluster", e))?;
    let table = TableDef::salesdb_customer();
    let topic = table.topic();
    cluster
        .create_topic(&topic, partitions, 1)
        .map_err(|e| demo_error("creating the demo topic", e))?;
    let brokers = cluster.bootstrap_servers();
    eprintln!(
        "• kafka: librdkafka mock cluster at {brokers}, topic {topic} with {partitions} partitions"
    );

    wiring::block_on(prepare_warehouse(&url))??;
    eprintln!(
        "• target {SCHEMA}.customer_target has no key or index, like the reference post's table: \
         every merge scans it (give your own tables a primary key)"
    );

    // A realistic history: snapshot, inserts, repeated updates, deletes with tombstones,
    // primary-key changes, several changes per millisecond, ts_ms going backwards.
    let gen_config = GenConfig {
        seed,
        events,
        partitions,
        ..GenConfig::default()
    };
    let mut generator = Generator::new(vec![table.clone()], gen_config);
    eprintln!("• producing {events} Debezium MySQL change events for salesdb.CUSTOMER…");
    produce(&brokers, &mut generator)?;
    let stats = generator.oracle().stats();
    eprintln!(
        "  {} snapshot reads, {} inserts, {} updates, {} deletes, {} tombstones, {} key changes, {} changes sharing a millisecond",
        stats.snapshot_reads,
        stats.inserts,
        stats.updates,
        stats.deletes,
        stats.tombstones,
        stats.pk_changes_split + stats.pk_changes_single_event,
        stats.same_ms
    );

    let config = demo_config(&brokers, &url, &topic)?;
    eprintln!("• tidemark refresh: consume to the high-water marks, rank per key, merge…");
    let summary = execute(&config, Mode::Refresh, Progress::Stderr)?;
    let totals = summary.totals();
    eprintln!(
        "  applied {} events in {} transactions: {} rows upserted, {} deleted",
        totals.events,
        summary.tables.values().map(|t| t.merges).sum::<u64>(),
        totals.upserts,
        totals.deletes
    );

    let expected = generator.oracle().table(&topic);
    let actual = wiring::block_on(read_target(&url))??;
    Ok(report(&expected, &actual))
}

async fn prepare_warehouse(url: &str) -> Result<(), CliError> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| demo_error("connecting to the warehouse", e))?;
    tokio::spawn(connection);
    // Only the demo's own schema is dropped, never anything else.
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}; {TARGET_DDL}"
        ))
        .await
        .map_err(|e| demo_error("creating the demo target table", e))
}

/// librdkafka's mock cluster silently drops a partition's oldest records past 5 MiB; the demo
/// refuses to produce more than fits instead of showing a loss that is not tidemark's.
const MOCK_PARTITION_LIMIT: usize = 4 << 20;

fn produce(brokers: &str, generator: &mut Generator) -> Result<(), CliError> {
    let mut bytes_per_partition: BTreeMap<i32, usize> = BTreeMap::new();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .create()
        .map_err(|e| demo_error("creating a producer", e))?;
    for record in generator.by_ref() {
        let size = bytes_per_partition.entry(record.partition).or_default();
        *size += record.key.as_ref().map_or(0, Vec::len)
            + record.value.as_ref().map_or(0, Vec::len)
            + 64;
        if *size > MOCK_PARTITION_LIMIT {
            return Err(CliError::Demo(format!(
                "partition {} would exceed {} MiB, more than librdkafka's mock cluster keeps; \
                 use fewer --events or more --partitions",
                record.partition,
                MOCK_PARTITION_LIMIT >> 20
            )));
        }
        let mut r: BaseRecord<'_, [u8], [u8]> =
            BaseRecord::to(&record.topic).partition(record.partition);
        if let Some(k) = record.key.as_deref() {
            r = r.key(k);
        }
        if let Some(v) = record.value.as_deref() {
            r = r.payload(v);
        }
        let mut pending = r;
        loop {
            match producer.send(pending) {
                Ok(()) => break,
                Err((e, back)) => {
                    if e.rdkafka_error_code() != Some(rdkafka::types::RDKafkaErrorCode::QueueFull) {
                        return Err(demo_error("producing", e));
                    }
                    producer.poll(Duration::from_millis(10));
                    pending = back;
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(60))
        .map_err(|e| demo_error("flushing the producer", e))
}

fn demo_config(brokers: &str, url: &str, topic: &str) -> Result<Config, CliError> {
    let mut config = Config::from_toml(&format!(
        r#"
        [kafka]
        brokers = "placeholder"
        [warehouse]
        url = "placeholder"
        schema = "{SCHEMA}"
        [coordination]
        slices = 2
        [batch]
        max_rows = 2000
        linger = "100ms"
        [[tables]]
        topic = "{topic}"
        target = "{SCHEMA}.customer_target"
        unmanaged_columns = ["refresh_time"]
        [tables.columns]
        CUST_ID = "customer_id"
        NAME = "customer_name"
        MKTSEGMENT = "market_segment"
        "#
    ))?;
    config.kafka.brokers = brokers.to_string();
    config.warehouse.url = url.to_string();
    config.validate()?;
    Ok(config)
}

type Rows = BTreeMap<Vec<String>, Vec<Option<String>>>;

async fn read_target(url: &str) -> Result<(Rows, usize), CliError> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| demo_error("connecting to the warehouse", e))?;
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT customer_id::text, customer_name::text, market_segment::text
             FROM tidemark_demo.customer_target",
            &[],
        )
        .await
        .map_err(|e| demo_error("reading the target table", e))?;
    let count = rows.len();
    let mut out = Rows::new();
    for r in rows {
        let id: Option<String> = r.get(0);
        out.insert(
            vec![id.clone().unwrap_or_default()],
            vec![id, r.get(1), r.get(2)],
        );
    }
    Ok((out, count))
}

fn report(expected: &Rows, actual: &(Rows, usize)) -> ExitCode {
    let (actual, row_count) = actual;
    let numeric = |k: &Vec<String>| {
        k.first()
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(i64::MAX)
    };
    let mut keys: Vec<&Vec<String>> = expected.keys().chain(actual.keys()).collect();
    keys.sort_by_key(|k| numeric(k));
    keys.dedup();
    let show = |row: Option<&Vec<Option<String>>>| match row {
        None => "(absent)".to_string(),
        Some(cols) => cols
            .iter()
            .skip(1)
            .map(|c| match c {
                None => "NULL".to_string(),
                Some(s) => format!("{:?}", truncate(s, 18)),
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    println!();
    println!(
        "{:>8}  {:<46} {:<46}",
        "CUST_ID", "customer_target (warehouse)", "expected from the history"
    );
    let mismatches: Vec<&Vec<String>> = keys
        .iter()
        .copied()
        .filter(|k| actual.get(*k) != expected.get(*k))
        .collect();
    for k in keys.iter().take(12) {
        let mark = if actual.get(*k) == expected.get(*k) {
            " "
        } else {
            "≠"
        };
        println!(
            "{:>8}{mark} {:<46} {:<46}",
            k.first().map(String::as_str).unwrap_or(""),
            show(actual.get(*k)),
            show(expected.get(*k))
        );
    }
    if keys.len() > 12 {
        println!("{:>8}  … {} more keys", "", keys.len() - 12);
    }
    println!();
    println!(
        "warehouse rows: {row_count}   expected rows: {}   differing keys: {}",
        expected.len(),
        mismatches.len()
    );
    if mismatches.is_empty() && *row_count == expected.len() {
        println!("MATCH: the target table equals the latest state of every key in the history.");
        ExitCode::SUCCESS
    } else {
        for k in mismatches.iter().take(10) {
            println!(
                "  key {k:?}: warehouse {:?} expected {:?}",
                actual.get(*k),
                expected.get(*k)
            );
        }
        println!("MISMATCH");
        ExitCode::FAILURE
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}
