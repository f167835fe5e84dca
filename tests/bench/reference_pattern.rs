//! The reference post's pattern (Redshift streaming ingestion + a ranking stored procedure),
//! emulated on the benchmark's PostgreSQL over the same records tidemark applied, so that its
//! warehouse CPU can be set against tidemark's in one run.
//!
//! Everything lives in schema `reference`, apart from tidemark's targets:
//!
//! - landing: one table per topic, like the post's streaming materialized view
//!   (`<table>_debezium`: `refresh_time`, `kafka_partition`, `kafka_offset`, `kafka_timestamp`,
//!   `kafka_key`, `payload jsonb`), filled by one binary COPY per topic of every record read
//!   back from the topic (real offsets and timestamps). The view's `kafka_value`,
//!   `kafka_timestamp_type` and `kafka_headers` columns are left out: storing the value a
//!   second time would only add to the reference's cost.
//! - the procedure, per table, as plain statements in one transaction (the post's
//!   `incremental_sync_customer` with its values bound instead of spliced): read the control
//!   table's last refresh time, `TRUNCATE` the staging table, `INSERT` into it every landed
//!   change newer than that, typed out of the JSON and ranked per key, `DELETE` the target rows
//!   of every staged key, `INSERT` the rank-1 non-deletes, record the refresh time.
//! - targets: `ref_<target>` created `LIKE` tidemark's target `INCLUDING ALL`.
//!
//! Where it departs from the post, and why:
//!
//! - rank by `kafka_offset` (latest first), not `payload.ts_ms`: the generator's timestamps tie
//!   and go back (as MySQL's do), so ranking by them keeps several or the wrong winners. Keys
//!   are partitioned by key alone, as the post does; the generator keeps a key's records in one
//!   partition, so offsets order them.
//! - a single-event primary-key change (`u` whose before key differs from its after key) also
//!   stages a delete of the before key; the post's `coalesce(after, before)` key would leave the
//!   old row behind.
//! - tombstones (no value) are not staged; the post stages them with a NULL key and op, where
//!   they match nothing and insert nothing.
//! - one pass over everything landed (one "MV refresh", one procedure call), not one per batch:
//!   the cheapest schedule for the reference (each key ranked, deleted and inserted once, and the
//!   targets are empty when the delete runs), so the ratio is not inflated.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::pin_mut;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tidemark_cdcgen::{ColumnKind, Envelope};
use tidemark_e2e::*;
use tidemark_testkit::{quote_ident, quote_table};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type};

use crate::PgTimestamp;

/// What the emulation cost PostgreSQL.
pub struct ReferenceCost {
    /// Records landed (every record of every topic, tombstones included).
    pub landed: u64,
    /// Server CPU of landing them (the streaming MV's ingestion).
    pub landing: Duration,
    /// Server CPU of the ranking procedure over all tables.
    pub procedure: Duration,
}

const SCHEMA: &str = "reference";

fn landing_table(s: &TableSetup) -> String {
    format!(
        "{}.{}",
        quote_ident(SCHEMA),
        quote_ident(&format!("{}_debezium", s.def.table.to_lowercase()))
    )
}

fn staging_table(s: &TableSetup) -> String {
    format!(
        "{}.{}",
        quote_ident(SCHEMA),
        quote_ident(&format!("{}_stg", s.def.table.to_lowercase()))
    )
}

/// `reference.ref_<target's table name>`.
pub fn ref_table_name(s: &TableSetup) -> String {
    let name = s.target.rsplit('.').next().unwrap_or(&s.target);
    format!("{SCHEMA}.ref_{name}")
}

/// Creates the landing, staging, control and `ref_` tables (not measured: the post's set-up).
async fn create(client: &tokio_postgres::Client, setups: &[TableSetup]) {
    let schema = quote_ident(SCHEMA);
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema};
             CREATE TABLE {schema}.debezium_last_extract (
                 process_name varchar(256), latest_refresh_time timestamp);
             -- Connect Decimal: big-endian two's-complement unscaled bytes, in base64.
             CREATE FUNCTION {schema}.connect_decimal(b64 text, scale int) RETURNS numeric
             LANGUAGE plpgsql IMMUTABLE STRICT AS $$
             DECLARE b bytea := decode(b64, 'base64'); v numeric := 0;
             BEGIN
                 FOR i IN 0 .. length(b) - 1 LOOP v := v * 256 + get_byte(b, i); END LOOP;
                 IF length(b) > 0 AND get_byte(b, 0) >= 128 THEN
                     v := v - 2::numeric ^ (8 * length(b));
                 END IF;
                 RETURN v / 10::numeric ^ scale;
             END $$;"
        ))
        .await
        .expect("reference schema");
    for s in setups {
        let mut staged: Vec<String> = s
            .def
            .columns
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    quote_ident(&s.target_column(&c.name)),
                    c.kind.pg_type()
                )
            })
            .collect();
        staged.extend(
            [
                "ts_ms bigint",
                "op varchar(2)",
                "record_rank bigint",
                "refresh_time timestamp",
            ]
            .map(String::from),
        );
        client
            .batch_execute(&format!(
                "CREATE TABLE {} (refresh_time timestamp, kafka_partition integer, \
                 kafka_offset bigint, kafka_timestamp timestamptz, kafka_key bytea, payload jsonb);
                 CREATE TABLE {} ({});
                 CREATE TABLE {} (LIKE {} INCLUDING ALL);",
                landing_table(s),
                staging_table(s),
                staged.join(", "),
                quote_table(&ref_table_name(s)),
                quote_table(&s.target),
            ))
            .await
            .expect("reference tables");
        client
            .execute(
                &format!("INSERT INTO {schema}.debezium_last_extract VALUES ($1, $2)"),
                &[&process_name(s), &PgTimestamp(0)],
            )
            .await
            .expect("control row");
    }
}

fn process_name(s: &TableSetup) -> String {
    s.def.table.to_lowercase()
}

/// A JSON document given as its text, sent in jsonb's binary format (version 1 + the text):
/// the server parses it, as `json_parse(kafka_value)` does in the view.
#[derive(Debug)]
struct RawJsonb<'a>(&'a [u8]);

impl ToSql for RawJsonb<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&[1]);
        out.extend_from_slice(self.0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    tokio_postgres::types::to_sql_checked!();
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_micros() as i64
}

/// Reads every partition of the setup's topic from the beginning to its high-water mark and
/// COPYs each record into the landing table; returns the records landed.
async fn land(client: &tokio_postgres::Client, bootstrap: &str, s: &TableSetup) -> u64 {
    let topic = s.def.topic();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "tidemark-bench-reference")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("log_level", "3")
        .create()
        .expect("consumer");
    let sink = client
        .copy_in(&format!(
            "COPY {} (refresh_time, kafka_partition, kafka_offset, kafka_timestamp, kafka_key, \
             payload) FROM STDIN (FORMAT binary)",
            landing_table(s)
        ))
        .await
        .expect("copy landing");
    let writer = BinaryCopyInWriter::new(
        sink,
        &[
            Type::TIMESTAMP,
            Type::INT4,
            Type::INT8,
            Type::TIMESTAMPTZ,
            Type::BYTEA,
            Type::JSONB,
        ],
    );
    pin_mut!(writer);
    // One refresh of the view: one refresh time for all it ingests.
    let refresh_time = PgTimestamp(now_us());
    let mut landed = 0;
    for (partition, low, high) in
        tidemark_testkit::high_watermarks(bootstrap, &topic).expect("watermarks")
    {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, partition, Offset::Offset(low))
            .expect("assign");
        consumer.assign(&tpl).expect("assign");
        let mut next = low;
        while next < high {
            let msg = match consumer.poll(Duration::from_secs(30)) {
                Some(m) => m.expect("reading the topic"),
                None => panic!("{topic}[{partition}]: no record at offset {next} within 30 s"),
            };
            next = msg.offset() + 1;
            let ts = msg.timestamp().to_millis().map(|ms| PgTimestamp(ms * 1000));
            let value = msg.payload().map(RawJsonb);
            writer
                .as_mut()
                .write(&[
                    &refresh_time,
                    &partition,
                    &msg.offset(),
                    &ts,
                    &msg.key(),
                    &value,
                ])
                .await
                .expect("copy row");
            landed += 1;
        }
    }
    writer.finish().await.expect("finish landing");
    landed
}

/// Placeholders of bound parameters, numbered as they are added.
#[derive(Default)]
struct Params(Vec<Box<dyn ToSql + Sync + Send>>);

impl Params {
    fn bind(&mut self, v: impl ToSql + Sync + Send + 'static) -> String {
        self.0.push(Box::new(v));
        format!("${}", self.0.len())
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0
            .iter()
            .map(|b| b.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// SQL reading field `field` of the Debezium image `image` (a jsonb expression) as the column's
/// type, as the post's `payload.after."COL"::varchar` does.
fn typed(kind: ColumnKind, field: &str, p: &mut Params, image: &str) -> String {
    let text = format!("({image}->>{}::text)", p.bind(field.to_string()));
    match kind {
        ColumnKind::Bytes => format!("decode({text}, 'base64')"),
        ColumnKind::Decimal { scale, .. } => format!(
            "{SCHEMA}.connect_decimal({text}, {}::int)::{}",
            p.bind(i32::from(scale)),
            kind.pg_type()
        ),
        // µs since 1970 split in whole seconds and µs: interval arithmetic goes through
        // double precision, which would round full-width timestamps.
        ColumnKind::MicroTimestamp => format!(
            "(timestamp '1970-01-01' + ({text}::bigint / 1000000) * interval '1 second' \
             + ({text}::bigint % 1000000) * interval '1 microsecond')"
        ),
        ColumnKind::Date => format!("(date '1970-01-01' + {text}::int)"),
        _ => format!("{text}::{}", kind.pg_type()),
    }
}

/// Runs the ranking procedure for one table (its statements in one transaction).
async fn procedure(client: &mut tokio_postgres::Client, s: &TableSetup, envelope: Envelope) {
    // The Debezium payload inside the stored value: `{schema, payload}` or the payload alone.
    let dbz = match envelope {
        Envelope::Schema => "(payload->'payload')",
        Envelope::Bare => "payload",
    };
    let after = format!("{dbz}->'after'");
    let before = format!("{dbz}->'before'");
    let mut p = Params::default();
    let process = p.bind(process_name(s));
    let key: Vec<usize> = s.def.key.clone();
    let col = |i: usize| quote_ident(&s.target_column(&s.def.columns[i].name));
    let all_cols: Vec<String> = (0..s.def.columns.len()).map(col).collect();
    let key_cols: Vec<String> = key.iter().map(|&i| col(i)).collect();
    // The change's own row: key from after (before for deletes), the rest from after.
    let mut own = Vec::new();
    // A single-event key change's delete of the before key: before key, NULLs.
    let mut old = Vec::new();
    let mut key_changed = Vec::new();
    for (i, c) in s.def.columns.iter().enumerate() {
        let a = typed(c.kind, &c.name, &mut p, &after);
        if s.def.is_key(i) {
            let b = typed(c.kind, &c.name, &mut p, &before);
            own.push(format!("coalesce({a}, {b})"));
            old.push(b.clone());
            key_changed.push(format!("{b} IS DISTINCT FROM {a}"));
        } else {
            own.push(a);
            old.push(format!("NULL::{}", c.kind.pg_type()));
        }
    }
    let landing = landing_table(s);
    let stg = staging_table(s);
    let target = quote_table(&ref_table_name(s));
    let newer = format!(
        "refresh_time > (SELECT max(latest_refresh_time) FROM {SCHEMA}.debezium_last_extract \
         WHERE process_name = {process})"
    );
    let meta = format!("({dbz}->>'ts_ms')::bigint");
    let stage = format!(
        "INSERT INTO {stg} ({cols}, ts_ms, op, record_rank, refresh_time) \
         SELECT {cols}, ts_ms, op, \
                rank() OVER (PARTITION BY {keys} ORDER BY kafka_offset DESC), refresh_time \
         FROM (SELECT {own}, {meta} AS ts_ms, {dbz}->>'op' AS op, kafka_offset, refresh_time \
               FROM {landing} WHERE payload IS NOT NULL AND {newer} \
               UNION ALL \
               SELECT {old}, {meta}, 'd', kafka_offset, refresh_time \
               FROM {landing} WHERE payload IS NOT NULL AND {newer} \
                 AND {dbz}->>'op' = 'u' AND ({changed})) AS changes ({cols}, ts_ms, op, \
                 kafka_offset, refresh_time)",
        cols = all_cols.join(", "),
        keys = key_cols.join(", "),
        own = own.join(", "),
        old = old.join(", "),
        changed = key_changed.join(" OR "),
    );
    let matches: Vec<String> = key_cols
        .iter()
        .map(|k| format!("{target}.{k} = {stg}.{k}"))
        .collect();
    let delete = format!(
        "DELETE FROM {target} USING {stg} WHERE {}",
        matches.join(" AND ")
    );
    // The post also writes the view's refresh time into the target's `refresh_time`.
    let extra = if s.refresh_time_column {
        ", refresh_time"
    } else {
        ""
    };
    let insert = format!(
        "INSERT INTO {target} ({cols}{extra}) SELECT {cols}{extra} FROM {stg} \
         WHERE record_rank = 1 AND op <> 'd'",
        cols = all_cols.join(", "),
    );
    let mut c = Params::default();
    let control = format!(
        "INSERT INTO {SCHEMA}.debezium_last_extract SELECT {}, max(refresh_time) FROM {stg}",
        c.bind(process_name(s))
    );
    let tx = client.transaction().await.expect("begin");
    tx.batch_execute(&format!("TRUNCATE {stg}"))
        .await
        .expect("truncate staging");
    tx.execute(&stage, &p.refs())
        .await
        .unwrap_or_else(|e| panic!("{stage}: {e}"));
    tx.batch_execute(&delete)
        .await
        .unwrap_or_else(|e| panic!("{delete}: {e}"));
    tx.batch_execute(&insert)
        .await
        .unwrap_or_else(|e| panic!("{insert}: {e}"));
    tx.execute(&control, &c.refs()).await.expect("control");
    tx.commit().await.expect("commit");
}

/// Lands every record, runs the procedure once per table, and measures PostgreSQL's CPU of
/// each; `server_cpu` reads the server's CPU so far.
pub fn run(
    url: &str,
    bootstrap: &str,
    setups: &[TableSetup],
    envelope: Envelope,
    server_cpu: impl Fn() -> Duration,
) -> ReferenceCost {
    block_on(async {
        let mut client = tidemark_testkit::connect(url).await.expect("connect");
        create(&client, setups).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = server_cpu();
        let mut landed = 0;
        for s in setups {
            landed += land(&client, bootstrap, s).await;
        }
        // Let background work the writes caused (WAL writer, checkpointer) show up.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let landing = server_cpu() - before;
        let before = server_cpu();
        for s in setups {
            procedure(&mut client, s, envelope).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        ReferenceCost {
            landed,
            landing,
            procedure: server_cpu() - before,
        }
    })
}

/// Fails loudly unless every `ref_` table holds exactly the rows of tidemark's target.
pub fn assert_same_as_targets(url: &str, setups: &[TableSetup]) {
    block_on(async {
        for s in setups {
            let columns = s.target_columns();
            let key = s.target_key();
            let cols: Vec<&str> = columns.iter().map(String::as_str).collect();
            let keys: Vec<&str> = key.iter().map(String::as_str).collect();
            let ours = tidemark_testkit::table_as_text(url, &s.target, &cols, &keys)
                .await
                .expect("read target");
            let reference = ref_table_name(s);
            let theirs = tidemark_testkit::table_as_text(url, &reference, &cols, &keys)
                .await
                .unwrap_or_else(|e| panic!("reading {reference}: {e}"));
            if ours != theirs {
                panic!(
                    "the reference pattern's {reference} ({} rows) differs from tidemark's {} ({} \
                     rows): the comparison is meaningless (expected = tidemark's)\n{}",
                    theirs.len(),
                    s.target,
                    ours.len(),
                    table_differences(&ours, &theirs)
                );
            }
            assert!(!ours.is_empty(), "{}: empty target", s.target);
        }
    })
}
