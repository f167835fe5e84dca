//! librdkafka's mock Kafka cluster in its own process, driven over stdin/stdout.
//!
//! Usage: `tidemark-mock-kafka [--brokers N]` (default 1 broker, ids 1..=N).
//!
//! Prints exactly one line `BOOTSTRAP <bootstrap servers>`, then answers each command line
//! read from stdin with `OK` or `ERR <reason>`:
//!
//! - `create-topic NAME PARTITIONS [REPLICATION]` (replication factor defaults to 1)
//! - `broker-down ID` / `broker-up ID`
//! - `quit`
//!
//! It exits when stdin closes (so it dies with the test process that owns it).
//!
//! The mock cluster keeps, per partition, only the newest message sets while the total stays
//! under 5 MiB and 100,000 message sets (hard-coded in librdkafka's `rdkafka_mock.c`; there is
//! no `test.mock.*` property to change it): older data is dropped and the low watermark moves.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tidemark-mock-kafka: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_brokers() -> Result<i32, String> {
    let mut args = std::env::args().skip(1);
    let mut brokers = 1;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--brokers" => {
                let n = args.next().ok_or("--brokers needs a value")?;
                brokers = n
                    .parse()
                    .map_err(|e| format!("bad --brokers value `{n}`: {e}"))?;
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if brokers < 1 {
        return Err(format!("--brokers must be at least 1, got {brokers}"));
    }
    Ok(brokers)
}

fn run() -> Result<(), String> {
    let brokers = parse_brokers()?;
    let cluster =
        MockCluster::new(brokers).map_err(|e| format!("creating the mock cluster: {e}"))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut say = |line: &str| -> Result<(), String> {
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("writing to stdout: {e}"))
    };
    say(&format!("BOOTSTRAP {}", cluster.bootstrap_servers()))?;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        if words == ["quit"] {
            say("OK")?;
            break;
        }
        match command(&cluster, brokers, &words) {
            Ok(()) => say("OK")?,
            Err(reason) => say(&format!("ERR {reason}"))?,
        }
    }
    Ok(())
}

fn number(word: Option<&&str>, what: &str) -> Result<i32, String> {
    let word = word.ok_or_else(|| format!("missing {what}"))?;
    word.parse()
        .map_err(|e| format!("bad {what} `{word}`: {e}"))
}

/// A broker id of this cluster (the mock accepts unknown ids silently).
fn broker_id(word: Option<&&str>, brokers: i32) -> Result<i32, String> {
    let id = number(word, "broker id")?;
    if !(1..=brokers).contains(&id) {
        return Err(format!("no broker {id}: broker ids are 1..={brokers}"));
    }
    Ok(id)
}

fn command(
    cluster: &MockCluster<'_, DefaultProducerContext>,
    brokers: i32,
    words: &[&str],
) -> Result<(), String> {
    match words[0] {
        "create-topic" => {
            let name = words.get(1).ok_or("missing topic name")?;
            let partitions = number(words.get(2), "partition count")?;
            if partitions < 1 {
                return Err(format!(
                    "partition count must be at least 1, got {partitions}"
                ));
            }
            let replication = match words.get(3) {
                Some(_) => number(words.get(3), "replication factor")?,
                None => 1,
            };
            cluster
                .create_topic(name, partitions, replication)
                .map_err(|e| format!("create-topic {name}: {e}"))
        }
        "broker-down" => {
            let id = broker_id(words.get(1), brokers)?;
            cluster
                .broker_down(id)
                .map_err(|e| format!("broker-down {id}: {e}"))
        }
        "broker-up" => {
            let id = broker_id(words.get(1), brokers)?;
            cluster
                .broker_up(id)
                .map_err(|e| format!("broker-up {id}: {e}"))
        }
        other => Err(format!("unknown command `{other}`")),
    }
}
