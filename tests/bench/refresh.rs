//! Benchmark: N Debezium events in tansu, `tidemark refresh` as a process, and the floors it is
//! compared with, all measured in the same run:
//!
//! - tidemark's CPU per event (user+sys of its process) vs the CPU of only parsing the same
//!   messages with serde_json (the decode floor);
//! - PostgreSQL's server CPU per applied event vs a binary COPY of the same number of rows into
//!   plain tables (the write floor);
//! - the reference pattern's PostgreSQL CPU per event: the reference post's way of applying the
//!   same history (every record landed raw by a binary COPY into a table like its streaming
//!   materialized view, then its ranking procedure, as SQL, applying the latest change per key
//!   by delete + insert into `ref_` copies of the targets; see `reference_pattern.rs` for how
//!   closely it follows the post), as a ratio to tidemark's PostgreSQL CPU per event and to the
//!   write floor. The `ref_` tables must equal tidemark's targets, or the run fails;
//! - events/s and tidemark's peak RSS.
//!
//! `cargo bench -p tidemark-e2e --bench refresh -- [--events N] [--partitions P] [--slices S]
//! [--typed] [--seed N] [--key-index] [--no-autovacuum] [--shared-buffers SIZE]
//! [--only TABLE,…] [--merges STRATEGY,…] [--statements]`
//!
//! `--statements` (diagnostic) loads `pg_stat_statements` and prints, after each run, the
//! statements that took most of the server's time (execution + planning, µs per event).
//!
//! `--only customer,orders,order_line` keeps only those tables (e.g. `orders,order_line`: the
//! two with a primary key). `--merges delete-insert,auto,merge` runs `tidemark refresh` once
//! per `warehouse.merge` strategy on the same backlog (targets and tidemark's schema emptied
//! between runs, each checked against the oracle) and prints each one's figures and its
//! ratios to the first strategy's; without it, one run with the default.
//!
//! `--typed` replaces the customer table by one that adds Debezium logical types
//! (`BALANCE` Connect Decimal → `numeric(18,4)`, `CREATED_AT` MicroTimestamp →
//! `timestamp(6)`, `UPDATED_AT` ZonedTimestamp → `timestamptz(6)`, `BIRTHDAY` Date → `date`),
//! so both CPU figures cover decoding and writing typed values. The write floor then copies
//! the same column types, in PostgreSQL's binary format (numeric digits in base 10000,
//! timestamps as µs and dates as days since 2000-01-01): the cheapest input PostgreSQL accepts.

use std::process::Command;
use std::time::{Duration, Instant};

use futures::pin_mut;
use tidemark_cdcgen::{ColumnKind, Envelope, GenConfig, Generator, Record};
use tidemark_e2e::*;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type};

mod reference_pattern;

struct Args {
    /// Use the typed customer table (decimal, timestamps, date).
    typed: bool,
    /// Index the customer target's key (the reference post's table has none).
    key_index: bool,
    /// Diagnostic: turn autovacuum off, to see how much of PostgreSQL's CPU it accounts for.
    no_autovacuum: bool,
    /// Diagnostic: PostgreSQL's shared_buffers (the throwaway server uses 128MB).
    shared_buffers: Option<String>,
    /// Diagnostic: load pg_stat_statements and print, per run, where the server's time went by
    /// statement.
    statements: bool,
    events: u64,
    partitions: i32,
    slices: usize,
    seed: u64,
    /// Keep only these tables (source table names, case-insensitive).
    only: Option<Vec<String>>,
    /// The `warehouse.merge` strategies to run, in order; empty: one run with the default.
    merges: Vec<String>,
}

fn args() -> Args {
    let mut a = Args {
        typed: false,
        key_index: false,
        no_autovacuum: false,
        shared_buffers: None,
        statements: false,
        events: 1_000_000,
        partitions: 6,
        slices: 2,
        seed: 1,
        only: None,
        merges: Vec::new(),
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let value = argv
            .get(i + 1)
            .and_then(|v| v.replace('_', "").parse::<u64>().ok());
        match (argv[i].as_str(), value) {
            ("--events", Some(v)) => a.events = v,
            ("--partitions", Some(v)) => a.partitions = v as i32,
            ("--slices", Some(v)) => a.slices = v as usize,
            ("--seed", Some(v)) => a.seed = v,
            ("--bench", _) => {
                i += 1;
                continue;
            }
            ("--only", _) | ("--merges", _) => {
                let list: Vec<String> = argv
                    .get(i + 1)
                    .unwrap_or_else(|| panic!("{} needs a comma-separated list", argv[i]))
                    .split(',')
                    .map(|t| t.trim().to_string())
                    .collect();
                if argv[i] == "--only" {
                    a.only = Some(list);
                } else {
                    a.merges = list;
                }
                i += 2;
                continue;
            }
            ("--shared-buffers", _) => {
                a.shared_buffers = argv.get(i + 1).cloned();
                i += 2;
                continue;
            }
            ("--statements", _) => {
                a.statements = true;
                i += 1;
                continue;
            }
            ("--no-autovacuum", _) => {
                a.no_autovacuum = true;
                i += 1;
                continue;
            }
            ("--typed", _) => {
                a.typed = true;
                i += 1;
                continue;
            }
            ("--key-index", _) => {
                a.key_index = true;
                i += 1;
                continue;
            }
            (other, _) => panic!("unknown or incomplete argument {other:?}"),
        }
        i += 2;
    }
    a
}

fn gen_config(a: &Args) -> GenConfig {
    GenConfig {
        seed: a.seed,
        events: a.events,
        partitions: a.partitions,
        value_envelope: Envelope::Schema,
        key_envelope: Envelope::Schema,
        p_update: 0.3,
        p_delete: 0.1,
        nasty_strings: false,
        snapshot_rows: 0,
        ..GenConfig::default()
    }
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU of only parsing every key and value with serde_json, as tidemark would have to at
/// least do. The records are regenerated (same seed); only the parsing is timed.
fn decode_floor(a: &Args, setups: &[TableSetup]) -> Duration {
    let mut generator = Generator::new(
        setups.iter().map(|s| s.def.clone()).collect(),
        gen_config(a),
    );
    let mut cpu = Duration::ZERO;
    loop {
        let chunk: Vec<Record> = generator.by_ref().take(20_000).collect();
        if chunk.is_empty() {
            return cpu;
        }
        let start = thread_cpu();
        for r in &chunk {
            for bytes in [&r.key, &r.value].into_iter().flatten() {
                let v: serde_json::Value = serde_json::from_slice(bytes).expect("json");
                std::hint::black_box(v);
            }
        }
        cpu += thread_cpu() - start;
    }
}

/// Binary COPY of one row per non-tombstone event (its after image, or before for deletes)
/// into plain tables without keys or indexes; returns the rows copied.
async fn write_floor(url: &str, a: &Args, setups: &[TableSetup]) -> u64 {
    let client = tidemark_testkit::connect(url).await.expect("connect");
    client
        .batch_execute("CREATE SCHEMA floor")
        .await
        .expect("schema");
    for s in setups {
        let ddl = s.def.create_table_sql(
            &format!("floor.{}", s.def.table),
            &Default::default(),
            false,
        );
        client.batch_execute(&ddl).await.expect("floor table");
    }
    let mut generator = Generator::new(
        setups.iter().map(|s| s.def.clone()).collect(),
        gen_config(a),
    );
    let mut copied = 0;
    loop {
        let chunk: Vec<Record> = generator.by_ref().take(50_000).collect();
        if chunk.is_empty() {
            return copied;
        }
        for s in setups {
            let topic = s.def.topic();
            let types: Vec<Type> = s.def.columns.iter().map(|c| pg_type(c.kind)).collect();
            let names: Vec<String> = s
                .def
                .columns
                .iter()
                .map(|c| tidemark_testkit::quote_ident(&c.name))
                .collect();
            let sink = client
                .copy_in(&format!(
                    "COPY floor.{} ({}) FROM STDIN (FORMAT binary)",
                    tidemark_testkit::quote_ident(&s.def.table),
                    names.join(", ")
                ))
                .await
                .expect("copy");
            let writer = BinaryCopyInWriter::new(sink, &types);
            pin_mut!(writer);
            for r in chunk.iter().filter(|r| r.topic == topic) {
                let Some(value) = &r.value else { continue };
                let v: serde_json::Value = serde_json::from_slice(value).expect("json");
                let payload = &v["payload"];
                let image = if payload["after"].is_null() {
                    &payload["before"]
                } else {
                    &payload["after"]
                };
                let row: Vec<Box<dyn ToSql + Sync>> = s
                    .def
                    .columns
                    .iter()
                    .map(|c| sql_value(c.kind, &image[c.name.as_str()]))
                    .collect();
                let refs: Vec<&(dyn ToSql + Sync)> = row.iter().map(|b| b.as_ref()).collect();
                writer.as_mut().write(&refs).await.expect("write");
                copied += 1;
            }
            writer.finish().await.expect("finish");
        }
    }
}

fn pg_type(kind: ColumnKind) -> Type {
    match kind {
        ColumnKind::Int16 => Type::INT2,
        ColumnKind::Int32 => Type::INT4,
        ColumnKind::Int64 => Type::INT8,
        ColumnKind::Float64 => Type::FLOAT8,
        ColumnKind::Bool => Type::BOOL,
        ColumnKind::Text => Type::VARCHAR,
        ColumnKind::Bytes => Type::BYTEA,
        ColumnKind::Decimal { .. } => Type::NUMERIC,
        ColumnKind::MicroTimestamp => Type::TIMESTAMP,
        ColumnKind::ZonedTimestamp => Type::TIMESTAMPTZ,
        ColumnKind::Date => Type::DATE,
    }
}

fn sql_value(kind: ColumnKind, v: &serde_json::Value) -> Box<dyn ToSql + Sync> {
    // A JSON null gives None of the column's own type.
    match kind {
        ColumnKind::Int16 => Box::new(v.as_i64().map(|x| x as i16)),
        ColumnKind::Int32 => Box::new(v.as_i64().map(|x| x as i32)),
        ColumnKind::Int64 => Box::new(v.as_i64()),
        ColumnKind::Float64 => Box::new(v.as_f64()),
        ColumnKind::Bool => Box::new(v.as_bool()),
        ColumnKind::Text => Box::new(v.as_str().map(str::to_string)),
        ColumnKind::Bytes => {
            use base64::Engine;
            Box::new(
                v.as_str()
                    .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok()),
            )
        }
        ColumnKind::Decimal { scale, .. } => {
            use base64::Engine;
            Box::new(v.as_str().map(|s| {
                let b = base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .expect("decimal base64");
                PgNumeric {
                    unscaled: unscaled_from_bytes(&b),
                    scale: scale.into(),
                }
            }))
        }
        ColumnKind::MicroTimestamp => Box::new(v.as_i64().map(PgTimestamp)),
        ColumnKind::ZonedTimestamp => {
            Box::new(v.as_str().map(|s| PgTimestamp(parse_iso_instant(s))))
        }
        ColumnKind::Date => Box::new(v.as_i64().map(|d| PgDate(d as i32))),
    }
}

type Buf = bytes::BytesMut;
type SqlResult = Result<IsNull, Box<dyn std::error::Error + Sync + Send>>;

/// µs between 1970-01-01 and PostgreSQL's epoch 2000-01-01.
const PG_EPOCH_US: i64 = 946_684_800_000_000;
/// Days between 1970-01-01 and 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;

/// A decimal `unscaled * 10^-scale` in PostgreSQL's binary `numeric` format.
#[derive(Debug)]
struct PgNumeric {
    unscaled: i128,
    scale: u16,
}

impl ToSql for PgNumeric {
    fn to_sql(&self, _: &Type, out: &mut Buf) -> SqlResult {
        // Decimal digits split at the point, each side padded to whole base-10000 digits.
        let scale = usize::from(self.scale);
        let digits = format!(
            "{:0>width$}",
            self.unscaled.unsigned_abs(),
            width = scale + 1
        );
        let (int, frac) = digits.split_at(digits.len() - scale);
        let int = format!("{:0>width$}", int, width = int.len().div_ceil(4) * 4);
        let frac = format!("{:0<width$}", frac, width = frac.len().div_ceil(4) * 4);
        let mut weight = (int.len() / 4) as i32 - 1;
        let all = format!("{int}{frac}");
        let mut groups: Vec<i16> = all
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap().parse().unwrap())
            .collect();
        let leading = groups.iter().take_while(|&&g| g == 0).count();
        groups.drain(..leading);
        weight -= leading as i32;
        while groups.last() == Some(&0) {
            groups.pop();
        }
        if groups.is_empty() {
            weight = 0;
        }
        let sign: u16 = if self.unscaled < 0 { 0x4000 } else { 0 };
        out.extend_from_slice(&(groups.len() as i16).to_be_bytes());
        out.extend_from_slice(&(weight as i16).to_be_bytes());
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&self.scale.to_be_bytes());
        for g in groups {
            out.extend_from_slice(&g.to_be_bytes());
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Microseconds since 1970-01-01 (wall clock for `timestamp`, UTC for `timestamptz`) in
/// PostgreSQL's binary format (µs since 2000-01-01).
#[derive(Debug)]
struct PgTimestamp(i64);

impl ToSql for PgTimestamp {
    fn to_sql(&self, _: &Type, out: &mut Buf) -> SqlResult {
        out.extend_from_slice(&(self.0 - PG_EPOCH_US).to_be_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMP || *ty == Type::TIMESTAMPTZ
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Days since 1970-01-01 in PostgreSQL's binary `date` format (days since 2000-01-01).
#[derive(Debug)]
struct PgDate(i32);

impl ToSql for PgDate {
    fn to_sql(&self, _: &Type, out: &mut Buf) -> SqlResult {
        out.extend_from_slice(&(self.0 - PG_EPOCH_DAYS).to_be_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::DATE
    }

    tokio_postgres::types::to_sql_checked!();
}

/// The value of big-endian two's-complement bytes (at most 16).
fn unscaled_from_bytes(b: &[u8]) -> i128 {
    assert!(
        !b.is_empty() && b.len() <= 16,
        "decimal of {} bytes",
        b.len()
    );
    let mut v: i128 = if b[0] & 0x80 != 0 { -1 } else { 0 };
    for &byte in b {
        v = (v << 8) | i128::from(byte);
    }
    v
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// µs since the epoch of an ISO-8601 instant `YYYY-MM-DDTHH:MM:SS[.f..](Z|±HH:MM)`.
fn parse_iso_instant(s: &str) -> i64 {
    let bad = || panic!("not an ISO-8601 instant: {s:?}");
    let num = |r: std::ops::Range<usize>| -> i64 {
        s.get(r).and_then(|t| t.parse().ok()).unwrap_or_else(bad)
    };
    let days = days_from_civil(num(0..4), num(5..7), num(8..10));
    let mut us =
        ((days * 24 + num(11..13)) * 60 + num(14..16)) * 60_000_000 + num(17..19) * 1_000_000;
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let mut micros: i64 = 0;
        for (i, c) in frac[..digits].bytes().enumerate().take(6) {
            micros += i64::from(c - b'0') * 10i64.pow(5 - i as u32);
        }
        us += micros;
        rest = &frac[digits..];
    }
    match rest {
        "Z" => us,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let offset =
                (num(s.len() - 5..s.len() - 3) * 60 + num(s.len() - 2..s.len())) * 60_000_000;
            if rest.starts_with('+') {
                us - offset
            } else {
                us + offset
            }
        }
        _ => bad(),
    }
}

/// Runs `tidemark refresh` and returns (wall, user+sys CPU, peak RSS in bytes, stdout).
// The child is reaped by wait4 (which also gives its rusage), not by Child::wait.
#[allow(clippy::zombie_processes)]
fn run_refresh(config: &std::path::Path) -> (Duration, Duration, u64, String) {
    let out_path = config.with_extension("out");
    let out = std::fs::File::create(&out_path).expect("out");
    let started = Instant::now();
    let child = Command::new(tidemark_bin())
        .args([
            "refresh",
            "--json",
            "--config",
            &config.display().to_string(),
        ])
        .stdout(out)
        .spawn()
        .expect("spawn tidemark");
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child; its PID is valid until reaped here.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "refresh failed: {status}"
    );
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec * 1000) as u32);
    let cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
    let rss = usage.ru_maxrss as u64 * 1024;
    (
        wall,
        cpu,
        rss,
        std::fs::read_to_string(&out_path).unwrap_or_default(),
    )
}

fn per_event(d: Duration, n: u64) -> f64 {
    d.as_secs_f64() * 1e6 / n.max(1) as f64
}

/// One `tidemark refresh` of the whole backlog with one merge strategy.
struct Run {
    /// The `warehouse.merge` value, or "default".
    merge: String,
    wall: Duration,
    cpu: Duration,
    rss: u64,
    pg: Duration,
    /// With `--statements`: the statements that took most of the server's time.
    statements: Vec<Statement>,
    /// With `--statements`: per target, rows inserted, updated (of which HOT), deleted, and
    /// autovacuum / autoanalyze runs.
    tables: Vec<Vec<Option<String>>>,
}

/// One normalized statement's share of a run, from pg_stat_statements.
struct Statement {
    calls: u64,
    rows: u64,
    /// Execution + planning time, summed over its calls.
    time: Duration,
    /// Of which planning.
    plan: Duration,
    query: String,
}

/// Row and maintenance activity on the targets since the last reset.
fn table_activity(url: &str) -> Vec<Vec<Option<String>>> {
    query_text(
        url,
        "SELECT format('%I.%I', schemaname, relname), n_tup_ins::text, n_tup_upd::text, \
         n_tup_hot_upd::text, n_tup_del::text, autovacuum_count::text, autoanalyze_count::text \
         FROM pg_stat_user_tables WHERE schemaname <> 'tidemark' ORDER BY 1",
    )
}

/// The statements that took most of the server's time since the last reset (the checks
/// against the oracle run after this is read).
fn top_statements(url: &str) -> Vec<Statement> {
    let rows = query_text(
        url,
        "SELECT calls::text, rows::text, (total_exec_time + total_plan_time)::text, \
         total_plan_time::text, regexp_replace(query, '\\s+', ' ', 'g') FROM pg_stat_statements \
         WHERE query NOT LIKE '%pg_stat_statements%' \
         ORDER BY total_exec_time + total_plan_time DESC LIMIT 12",
    );
    let num = |v: &Option<String>| {
        v.as_deref()
            .and_then(|t| t.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    rows.iter()
        .map(|r| Statement {
            calls: num(&r[0]) as u64,
            rows: num(&r[1]) as u64,
            time: Duration::from_secs_f64(num(&r[2]) / 1000.0),
            plan: Duration::from_secs_f64(num(&r[3]) / 1000.0),
            query: r[4].clone().unwrap_or_default(),
        })
        .collect()
}

/// The keyed floor: a binary COPY of the targets' final rows into empty copies of them with
/// their keys and indexes (`LIKE … INCLUDING ALL`), the least any writer of those rows pays for
/// the indexes. The rows are read out first; only the COPY in is measured, by `server_cpu`.
/// Returns the rows copied and the server CPU they took.
async fn keyed_floor(
    url: &str,
    setups: &[TableSetup],
    server_cpu: impl Fn() -> Duration,
) -> (u64, Duration) {
    use futures::{SinkExt, TryStreamExt};
    let client = tidemark_testkit::connect(url).await.expect("connect");
    client
        .batch_execute("CREATE SCHEMA floor_keyed")
        .await
        .expect("schema");
    let mut rows = 0;
    let mut cpu = Duration::ZERO;
    for s in setups {
        let copy = format!(
            "floor_keyed.{}",
            tidemark_testkit::quote_ident(&s.def.table)
        );
        client
            .batch_execute(&format!(
                "CREATE TABLE {copy} (LIKE {} INCLUDING ALL)",
                s.target
            ))
            .await
            .expect("keyed floor table");
        let out = client
            .copy_out(&format!("COPY {} TO STDOUT (FORMAT binary)", s.target))
            .await
            .expect("copy out");
        let data: Vec<bytes::Bytes> = out.try_collect().await.expect("read the target");
        let before = server_cpu();
        let sink = client
            .copy_in(&format!("COPY {copy} FROM STDIN (FORMAT binary)"))
            .await
            .expect("copy in");
        pin_mut!(sink);
        for chunk in data {
            sink.send(chunk).await.expect("copy");
        }
        rows += sink.finish().await.expect("finish");
        std::thread::sleep(Duration::from_millis(200)); // the backend's CPU, counted
        cpu += server_cpu() - before;
    }
    (rows, cpu)
}

/// Vacuums and analyzes the targets and checkpoints, so the last run's maintenance (an
/// autovacuum of its dead rows, its dirty pages) falls in no floor's window. Without it one
/// run's write floor measured 3.76 µs/row where the runs before measured 1.76–1.91.
fn settle(stack: &Stack, setups: &[TableSetup]) {
    for s in setups {
        // Apart: VACUUM cannot run in the implicit transaction of several statements.
        stack.sql(&format!("VACUUM (ANALYZE) {}", s.target));
    }
    stack.sql("CHECKPOINT");
}

/// Empties the targets and tidemark's own schema (offsets, epochs, dead letters) so the next
/// refresh applies the same backlog from the start, and checkpoints so the earlier run's dirty
/// pages are not written (and counted) during the next.
fn reset(stack: &Stack, setups: &[TableSetup]) {
    let targets: Vec<&str> = setups.iter().map(|s| s.target.as_str()).collect();
    stack.sql(&format!(
        "DROP SCHEMA tidemark CASCADE; TRUNCATE {}; CHECKPOINT",
        targets.join(", ")
    ));
}

fn main() {
    let a = args();
    cargo_build_release("tidemark", "tidemark");
    let mut stack = Stack::start();
    if let Some(size) = &a.shared_buffers {
        stack.sql(&format!("ALTER SYSTEM SET shared_buffers = '{size}'"));
    }
    if a.statements {
        stack.sql("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'");
    }
    if a.shared_buffers.is_some() || a.statements {
        stack.pg.restart().expect("restart postgres");
    }
    if a.statements {
        stack.sql("CREATE EXTENSION pg_stat_statements");
        // Known only once the library is loaded.
        stack.sql("ALTER SYSTEM SET pg_stat_statements.track_planning = on");
        stack.sql("SELECT pg_reload_conf()");
    }
    let mut setups: Vec<TableSetup> = if a.typed {
        salesdb_typed_setups()
    } else {
        salesdb_setups()
    };
    if let Some(only) = &a.only {
        setups.retain(|s| only.iter().any(|t| t.eq_ignore_ascii_case(&s.def.table)));
        assert_eq!(setups.len(), only.len(), "--only {only:?}: unknown table");
    }
    stack.prepare(&setups, a.partitions);
    if a.no_autovacuum {
        // Apart: ALTER SYSTEM cannot run in the implicit transaction of several statements.
        stack.sql("ALTER SYSTEM SET autovacuum = off");
        stack.sql("SELECT pg_reload_conf()");
    }
    if a.key_index && setups.iter().any(|s| s.target == "public.customer_target") {
        stack.sql("CREATE INDEX ON public.customer_target (customer_id)");
    }

    eprintln!("producing {} events into tansu…", a.events);
    let t = Instant::now();
    let mut generator = Generator::new(
        setups.iter().map(|s| s.def.clone()).collect(),
        gen_config(&a),
    );
    let produced = produce(stack.kafka.bootstrap(), generator.by_ref());
    eprintln!("produced {produced} in {:.1} s", t.elapsed().as_secs_f64());

    let merges: Vec<Option<String>> = if a.merges.is_empty() {
        vec![None]
    } else {
        a.merges.iter().cloned().map(Some).collect()
    };
    let mut runs = Vec::new();
    for (n, merge) in merges.iter().enumerate() {
        if n > 0 {
            reset(&stack, &setups);
        } else {
            // Every run starts from a checkpoint, as `reset` leaves the later ones.
            stack.sql("CHECKPOINT");
        }
        stack.warehouse = merge
            .as_ref()
            .map(|m| format!("merge = {m:?}\n"))
            .unwrap_or_default();
        let label = merge.clone().unwrap_or_else(|| "default".into());
        let config = stack.config(
            &format!("bench-{n}"),
            &setups,
            &format!("[coordination]\nslices = {}\n", a.slices),
        );
        if a.statements {
            stack.sql("SELECT pg_stat_statements_reset(); SELECT pg_stat_reset()");
        }
        let pg_before = stack.pg.server_cpu_time();
        eprintln!("tidemark refresh (merge {label})…");
        let (wall, cpu, rss, stdout) = run_refresh(&config);
        std::thread::sleep(Duration::from_millis(500)); // let backends exit and be reaped
        let pg = stack.pg.server_cpu_time() - pg_before;
        // Before the oracle check's own statements.
        let (statements, tables) = if a.statements {
            (top_statements(&stack.url()), table_activity(&stack.url()))
        } else {
            (Vec::new(), Vec::new())
        };
        let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("summary json");
        let applied = summary_total(&summary, "events");
        assert_eq!(applied, produced, "refresh applied {applied} of {produced}");
        eprintln!("checking the targets against the oracle…");
        assert_matches_oracle(&stack.url(), &setups, generator.oracle());
        runs.push(Run {
            merge: label,
            wall,
            cpu,
            rss,
            pg,
            statements,
            tables,
        });
    }

    settle(&stack, &setups);
    eprintln!("decode floor…");
    let floor_cpu = decode_floor(&a, &setups);
    eprintln!("write floor…");
    let pg_before = stack.pg.server_cpu_time();
    let rows = block_on(write_floor(&stack.url(), &a, &setups));
    std::thread::sleep(Duration::from_millis(500));
    let pg_copy = stack.pg.server_cpu_time() - pg_before;
    eprintln!("keyed floor…");
    let (keyed_rows, pg_keyed) = block_on(keyed_floor(&stack.url(), &setups, || {
        stack.pg.server_cpu_time()
    }));
    eprintln!("reference pattern (landing COPY + ranking procedure)…");
    let reference = reference_pattern::run(
        &stack.url(),
        stack.kafka.bootstrap(),
        &setups,
        gen_config(&a).value_envelope,
        || stack.pg.server_cpu_time(),
    );
    assert_eq!(
        reference.landed, produced,
        "the reference pattern landed {} of {produced} records",
        reference.landed
    );
    eprintln!("checking the reference pattern's tables against tidemark's targets…");
    reference_pattern::assert_same_as_targets(&stack.url(), &setups);

    let tables: Vec<&str> = setups.iter().map(|s| s.def.table.as_str()).collect();
    let customer = if setups.iter().any(|s| s.target == "public.customer_target") {
        if a.key_index {
            ", customer_target with a key index"
        } else {
            ", customer_target without a key index, as in the reference post"
        }
    } else {
        ""
    };
    println!(
        "tidemark refresh benchmark ({produced} events, {} partitions, tables {}{}, {} slices, schema envelope{customer})",
        a.partitions,
        tables.join(", "),
        if a.typed && !customer.is_empty() {
            " (customer typed: numeric(18,4), timestamp(6), timestamptz, date)"
        } else {
            ""
        },
        a.slices,
    );
    if a.no_autovacuum {
        println!("  (diagnostic: autovacuum off)");
    }
    if let Some(size) = &a.shared_buffers {
        println!("  (diagnostic: shared_buffers = {size})");
    }
    let dec = per_event(floor_cpu, produced);
    let copy = per_event(pg_copy, rows);
    println!("  decode floor         {dec:>10.2} µs/event   (serde_json parse of the same keys and values)");
    println!("  write floor          {copy:>10.2} µs/row     (binary COPY of {rows} rows into plain tables)");
    let keyed = per_event(pg_keyed, keyed_rows);
    println!("  keyed floor          {keyed:>10.2} µs/row     = {:.2}× the write floor (binary COPY of the targets' {keyed_rows} final rows into copies with their keys and indexes)", keyed / copy);
    let first = &runs[0];
    let first_pg = per_event(first.pg, produced);
    let first_rate = produced as f64 / first.wall.as_secs_f64();
    for (n, run) in runs.iter().enumerate() {
        let tm = per_event(run.cpu, produced);
        let pg = per_event(run.pg, produced);
        let rate = produced as f64 / run.wall.as_secs_f64();
        println!("  merge = {}", run.merge);
        println!("    throughput         {rate:>10.0} events/s   (wall {:.1} s; broker and PostgreSQL share the 2 cores){}", run.wall.as_secs_f64(), vs(n, first, rate / first_rate));
        println!(
            "    tidemark CPU       {tm:>10.2} µs/event   = {:.2}× the decode floor (user+sys {:.1} s)",
            tm / dec,
            run.cpu.as_secs_f64()
        );
        println!(
            "    PostgreSQL CPU     {pg:>10.2} µs/event   = {:.2}× the COPY floor (server CPU during the refresh){}",
            pg / copy,
            vs(n, first, pg / first_pg)
        );
        println!(
            "    tidemark peak RSS  {:>10.1} MiB",
            run.rss as f64 / (1 << 20) as f64
        );
        if !run.statements.is_empty() {
            let listed: Duration = run.statements.iter().map(|s| s.time).sum();
            println!(
                "    statements (exec + plan time; the top {} cover {:.2} µs/event of the {pg:.2} µs/event of server CPU):",
                run.statements.len(),
                per_event(listed, produced)
            );
        }
        for t in &run.tables {
            let f = |i: usize| t[i].as_deref().unwrap_or("-");
            println!(
                "      {}: {} inserted, {} updated ({} HOT), {} deleted; autovacuum {}, autoanalyze {}",
                f(0), f(1), f(2), f(3), f(4), f(5), f(6)
            );
        }
        for s in &run.statements {
            let query: String = s.query.chars().take(110).collect();
            println!(
                "      {:>7.2} µs/event (plan {:>5.2}) {:>6} calls {:>8} rows  {query}",
                per_event(s.time, produced),
                per_event(s.plan, produced),
                s.calls,
                s.rows
            );
        }
    }
    let landing = per_event(reference.landing, reference.landed);
    let ranking = per_event(reference.procedure, reference.landed);
    let total = landing + ranking;
    println!(
        "  reference pattern (landing COPY + ranking procedure): {total:.2} µs PostgreSQL CPU/event = {:.2}× tidemark's (merge = {}), {:.2}× the COPY floor",
        total / first_pg,
        first.merge,
        total / copy
    );
    println!(
        "    landing COPY       {landing:>10.2} µs/event   (every record raw into the view-like table, payload jsonb)"
    );
    println!(
        "    ranking procedure  {ranking:>10.2} µs/event   (one pass: stage + rank per key, delete + insert into ref_ tables)"
    );
}

/// `1.23× merge = x's` for the `n`th run, after the first.
fn vs(n: usize, first: &Run, ratio: f64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("   {ratio:.2}× merge = {}'s", first.merge)
    }
}
