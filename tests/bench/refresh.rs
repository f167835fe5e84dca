//! Benchmark: N Debezium events in tansu, `tidemark refresh` as a process, and the floors it is
//! compared with, all measured in the same run:
//!
//! - tidemark's CPU per event (user+sys of its process) vs the CPU of only parsing the same
//!   messages with serde_json (the decode floor);
//! - PostgreSQL's server CPU per applied event vs a binary COPY of the same number of rows into
//!   plain tables (the write floor);
//! - events/s and tidemark's peak RSS.
//!
//! `cargo bench -p tidemark-e2e --bench refresh -- [--events N] [--partitions P] [--slices S]`

use std::process::Command;
use std::time::{Duration, Instant};

use futures::pin_mut;
use tidemark_cdcgen::{ColumnKind, Envelope, GenConfig, Generator, Record};
use tidemark_e2e::*;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

struct Args {
    /// Index the customer target's key (the reference post's table has none).
    key_index: bool,
    /// Diagnostic: turn autovacuum off, to see how much of PostgreSQL's CPU it accounts for.
    no_autovacuum: bool,
    /// Diagnostic: PostgreSQL's shared_buffers (the throwaway server uses 128MB).
    shared_buffers: Option<String>,
    events: u64,
    partitions: i32,
    slices: usize,
    seed: u64,
}

fn args() -> Args {
    let mut a = Args {
        key_index: false,
        no_autovacuum: false,
        shared_buffers: None,
        events: 1_000_000,
        partitions: 6,
        slices: 2,
        seed: 1,
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
            ("--shared-buffers", _) => {
                a.shared_buffers = argv.get(i + 1).cloned();
                i += 2;
                continue;
            }
            ("--no-autovacuum", _) => {
                a.no_autovacuum = true;
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

fn build_tidemark() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "tidemark", "--bin", "tidemark"])
        .status()
        .expect("cargo build");
    assert!(status.success(), "building tidemark failed");
}

fn per_event(d: Duration, n: u64) -> f64 {
    d.as_secs_f64() * 1e6 / n.max(1) as f64
}

fn main() {
    let a = args();
    build_tidemark();
    let mut stack = Stack::start();
    if let Some(size) = &a.shared_buffers {
        block_on(async {
            let client = tidemark_testkit::connect(&stack.url())
                .await
                .expect("connect");
            client
                .batch_execute(&format!("ALTER SYSTEM SET shared_buffers = '{size}'"))
                .await
                .expect("shared_buffers");
        });
        stack.pg.restart().expect("restart postgres");
    }
    let setups: Vec<TableSetup> = salesdb_setups();
    stack.prepare(&setups, a.partitions);
    if a.no_autovacuum {
        block_on(async {
            let client = tidemark_testkit::connect(&stack.url())
                .await
                .expect("connect");
            for statement in [
                "ALTER SYSTEM SET autovacuum = off",
                "SELECT pg_reload_conf()",
            ] {
                client
                    .batch_execute(statement)
                    .await
                    .expect("autovacuum off");
            }
        });
    }
    if a.key_index {
        block_on(async {
            let client = tidemark_testkit::connect(&stack.url())
                .await
                .expect("connect");
            client
                .batch_execute("CREATE INDEX ON public.customer_target (customer_id)")
                .await
                .expect("index");
        });
    }

    eprintln!("producing {} events into tansu…", a.events);
    let t = Instant::now();
    let mut generator = Generator::new(
        setups.iter().map(|s| s.def.clone()).collect(),
        gen_config(&a),
    );
    let produced = produce(stack.kafka.bootstrap(), generator.by_ref());
    eprintln!("produced {produced} in {:.1} s", t.elapsed().as_secs_f64());

    let config = stack.config(
        "bench",
        &setups,
        &format!("[coordination]\nslices = {}\n", a.slices),
    );
    let pg_before = stack.pg.server_cpu_time();
    eprintln!("tidemark refresh…");
    let (wall, cpu, rss, stdout) = run_refresh(&config);
    std::thread::sleep(Duration::from_millis(500)); // let backends exit and be reaped
    let pg_refresh = stack.pg.server_cpu_time() - pg_before;
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("summary json");
    let applied = summary_total(&summary, "events");
    assert_eq!(applied, produced, "refresh applied {applied} of {produced}");
    eprintln!("checking the targets against the oracle…");
    assert_matches_oracle(&stack.url(), &setups, generator.oracle());

    eprintln!("decode floor…");
    let floor_cpu = decode_floor(&a, &setups);
    eprintln!("write floor…");
    let pg_before = stack.pg.server_cpu_time();
    let rows = block_on(write_floor(&stack.url(), &a, &setups));
    std::thread::sleep(Duration::from_millis(500));
    let pg_copy = stack.pg.server_cpu_time() - pg_before;

    let tm = per_event(cpu, applied);
    let dec = per_event(floor_cpu, applied);
    let pg = per_event(pg_refresh, applied);
    let copy = per_event(pg_copy, rows);
    println!(
        "tidemark refresh benchmark ({} events, {} partitions, 3 tables, {} slices, schema envelope, customer_target {})",
        applied,
        a.partitions,
        a.slices,
        if a.key_index { "with a key index" } else { "without a key index, as in the reference post" }
    );
    if a.no_autovacuum {
        println!("  (diagnostic: autovacuum off)");
    }
    if let Some(size) = &a.shared_buffers {
        println!("  (diagnostic: shared_buffers = {size})");
    }
    println!("  throughput           {:>10.0} events/s   (wall {:.1} s; broker and PostgreSQL share the 2 cores)", applied as f64 / wall.as_secs_f64(), wall.as_secs_f64());
    println!(
        "  tidemark CPU         {tm:>10.2} µs/event   (user+sys {:.1} s)",
        cpu.as_secs_f64()
    );
    println!("  decode floor         {dec:>10.2} µs/event   (serde_json parse of the same keys and values)");
    println!("  ratio                {:>10.2} ×", tm / dec);
    println!("  PostgreSQL CPU       {pg:>10.2} µs/event   (server CPU during the refresh)");
    println!("  write floor          {copy:>10.2} µs/row     (binary COPY of {rows} rows into plain tables)");
    println!("  ratio                {:>10.2} ×", pg / copy);
    println!(
        "  tidemark peak RSS    {:>10.1} MiB",
        rss as f64 / (1 << 20) as f64
    );
}
