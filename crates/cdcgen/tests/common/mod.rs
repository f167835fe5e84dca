//! Test helpers: an independent, naive consumer of the generated records.
#![allow(dead_code)]

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value as Json;
use tidemark_cdcgen::{ColumnDef, ColumnKind, Envelope, GenConfig, Generator, Record, TableDef};

/// Final rows per topic, in the oracle's shape.
pub type Tables = BTreeMap<String, BTreeMap<Vec<String>, Vec<Option<String>>>>;

/// The salesdb tables plus exotic ones: a key of (text, bytes, double, boolean) and a
/// key-only smallint table (all its updates must be primary-key changes).
pub fn all_tables() -> Vec<TableDef> {
    let mut t = TableDef::salesdb_all();
    t.push(TableDef {
        server: "srv".into(),
        db: "odd db".into(),
        table: "odd\"keys".into(),
        columns: vec![
            ColumnDef::new("NAME", ColumnKind::Text, false),
            ColumnDef::new("BLOB", ColumnKind::Bytes, false),
            ColumnDef::new("RATE", ColumnKind::Float64, false),
            ColumnDef::new("FLAG", ColumnKind::Bool, false),
            ColumnDef::new("v\"al", ColumnKind::Text, true),
        ],
        key: vec![0, 1, 2, 3],
    });
    t.push(TableDef {
        server: "srv".into(),
        db: "db".into(),
        table: "tiny".into(),
        columns: vec![ColumnDef::new("ID", ColumnKind::Int16, false)],
        key: vec![0],
    });
    t
}

/// Tables with Debezium logical types: the typed salesdb customer and a table keyed by
/// (date, decimal, wall-clock timestamp, instant) with decimals of unusual shapes.
pub fn typed_tables() -> Vec<TableDef> {
    vec![
        TableDef::salesdb_customer_typed(),
        TableDef {
            server: "srv".into(),
            db: "typed".into(),
            table: "ledger".into(),
            columns: vec![
                ColumnDef::new("DAY", ColumnKind::Date, false),
                ColumnDef::new(
                    "AMOUNT",
                    ColumnKind::Decimal {
                        precision: 5,
                        scale: 2,
                    },
                    false,
                ),
                ColumnDef::new("AT", ColumnKind::MicroTimestamp, false),
                ColumnDef::new("SEEN", ColumnKind::ZonedTimestamp, false),
                ColumnDef::new(
                    "WIDE",
                    ColumnKind::Decimal {
                        precision: 38,
                        scale: 10,
                    },
                    true,
                ),
                ColumnDef::new(
                    "RATIO",
                    ColumnKind::Decimal {
                        precision: 4,
                        scale: 4,
                    },
                    true,
                ),
                ColumnDef::new(
                    "COUNT",
                    ColumnKind::Decimal {
                        precision: 3,
                        scale: 0,
                    },
                    true,
                ),
                ColumnDef::new("WHEN", ColumnKind::MicroTimestamp, true),
                ColumnDef::new("STAMP", ColumnKind::ZonedTimestamp, true),
                ColumnDef::new("BORN", ColumnKind::Date, true),
            ],
            key: vec![0, 1, 2, 3],
        },
    ]
}

pub fn generate(tables: Vec<TableDef>, config: GenConfig) -> (Vec<Record>, Generator) {
    let mut g = Generator::new(tables, config);
    let records: Vec<Record> = g.by_ref().collect();
    (records, g)
}

/// Unwraps the schema envelope if present.
pub fn payload(json: &Json, envelope: Envelope) -> &Json {
    match envelope {
        Envelope::Schema => &json["payload"],
        Envelope::Bare => json,
    }
}

/// What PostgreSQL's `::text` prints for a JSON-converter value of a column kind.
pub fn json_to_text(kind: ColumnKind, v: &Json) -> Option<String> {
    if v.is_null() {
        return None;
    }
    Some(match kind {
        ColumnKind::Int16 | ColumnKind::Int32 | ColumnKind::Int64 => {
            v.as_i64().expect("integer").to_string()
        }
        ColumnKind::Float64 => {
            let f = v.as_f64().expect("number");
            if f == 0.0 {
                "0".to_owned()
            } else {
                f.to_string()
            }
        }
        ColumnKind::Bool => v.as_bool().expect("bool").to_string(),
        ColumnKind::Text => v.as_str().expect("string").to_owned(),
        ColumnKind::Bytes => {
            let b = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().expect("base64 string"))
                .expect("valid base64");
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("\\x{hex}")
        }
        ColumnKind::Decimal { precision, scale } => {
            let b = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().expect("base64 string"))
                .expect("valid base64");
            assert!(!b.is_empty() && b.len() <= 16, "{b:?}");
            // Sign-extend big-endian two's complement.
            let mut unscaled: i128 = if b[0] & 0x80 != 0 { -1 } else { 0 };
            for byte in &b {
                unscaled = (unscaled << 8) | i128::from(*byte);
            }
            let pow = 10u128.pow(u32::from(scale));
            let abs = unscaled.unsigned_abs();
            assert!(
                abs < 10u128.pow(u32::from(precision)),
                "{unscaled} too wide"
            );
            let sign = if unscaled < 0 { "-" } else { "" };
            if scale == 0 {
                format!("{sign}{abs}")
            } else {
                let width = usize::from(scale);
                format!("{sign}{}.{:0width$}", abs / pow, abs % pow)
            }
        }
        ColumnKind::MicroTimestamp => naive_timestamp(v.as_i64().expect("int64 micros")),
        ColumnKind::ZonedTimestamp => {
            let iso = v.as_str().expect("ISO string");
            // Debezium writes a TIMESTAMP(6) in UTC with exactly six fraction digits.
            let (head, frac) = iso
                .strip_suffix('Z')
                .and_then(|s| s.split_once('.'))
                .expect("YYYY-MM-DDTHH:MM:SS.ffffffZ");
            assert_eq!(frac.len(), 6, "{iso}");
            assert_eq!(head.len(), 19, "{iso}");
            assert_eq!(&head[10..11], "T", "{iso}");
            let frac = frac.trim_end_matches('0');
            let dot = if frac.is_empty() { "" } else { "." };
            format!("{}{dot}{frac}+00", head.replacen('T', " ", 1))
        }
        ColumnKind::Date => naive_date(v.as_i64().expect("int32 days")),
    })
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Date of a day number by walking years and months from 1970 (slow, obviously right).
fn naive_date(mut days: i64) -> String {
    let mut year = 1970;
    while days < 0 {
        year -= 1;
        days += if is_leap(year) { 366 } else { 365 };
    }
    loop {
        let len = if is_leap(year) { 366 } else { 365 };
        if days < len {
            break;
        }
        days -= len;
        year += 1;
    }
    let feb = if is_leap(year) { 29 } else { 28 };
    let mut month = 1;
    for len in [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] {
        if days < len {
            break;
        }
        days -= len;
        month += 1;
    }
    format!("{year:04}-{month:02}-{:02}", days + 1)
}

/// PostgreSQL's `timestamp` text of wall-clock microseconds since 1970.
fn naive_timestamp(us: i64) -> String {
    let day_us = 86_400_000_000i64;
    let mut days = us / day_us;
    let mut rest = us % day_us;
    if rest < 0 {
        days -= 1;
        rest += day_us;
    }
    let micros = rest % 1_000_000;
    let secs = rest / 1_000_000;
    let mut s = format!(
        "{} {:02}:{:02}:{:02}",
        naive_date(days),
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    );
    if micros > 0 {
        s.push_str(format!(".{micros:06}").trim_end_matches('0'));
    }
    s
}

fn key_of(t: &TableDef, obj: &Json) -> Vec<String> {
    t.key
        .iter()
        .map(|&k| {
            let c = &t.columns[k];
            json_to_text(c.kind, &obj[c.name.as_str()]).expect("key column is never null")
        })
        .collect()
}

fn row_of(t: &TableDef, obj: &Json) -> Vec<Option<String>> {
    assert_eq!(obj.as_object().expect("row object").len(), t.columns.len());
    t.columns
        .iter()
        .map(|c| json_to_text(c.kind, &obj[c.name.as_str()]))
        .collect()
}

/// Applies records partition by partition (in reverse partition order, to show partitions
/// are independent), latest wins, checking the invariants a consumer relies on.
pub fn apply_naively(tables: &[TableDef], records: &[Record], config: &GenConfig) -> Tables {
    let mut by_partition: BTreeMap<(String, i32), Vec<&Record>> = BTreeMap::new();
    for r in records {
        by_partition
            .entry((r.topic.clone(), r.partition))
            .or_default()
            .push(r);
    }
    let mut out: Tables = tables
        .iter()
        .map(|t| (t.topic(), BTreeMap::new()))
        .collect();
    for ((topic, _), recs) in by_partition.into_iter().rev() {
        let t = tables
            .iter()
            .find(|t| t.topic() == topic)
            .expect("known topic");
        let rows = out.get_mut(&topic).expect("table");
        for r in recs {
            let key_json: Json = serde_json::from_slice(r.key.as_ref().expect("key")).unwrap();
            let msg_key = key_of(t, payload(&key_json, config.key_envelope));
            let Some(value) = &r.value else {
                assert!(!rows.contains_key(&msg_key), "tombstone for a live key");
                rows.remove(&msg_key);
                continue;
            };
            let value: Json = serde_json::from_slice(value).unwrap();
            let p = payload(&value, config.value_envelope);
            match p["op"].as_str().unwrap() {
                "d" => {
                    assert_eq!(key_of(t, &p["before"]), msg_key);
                    assert!(p["after"].is_null());
                    let old = rows.remove(&msg_key).expect("delete of a missing key");
                    assert_eq!(
                        old,
                        row_of(t, &p["before"]),
                        "before image = previous state"
                    );
                }
                "c" | "r" => {
                    assert!(p["before"].is_null());
                    assert_eq!(key_of(t, &p["after"]), msg_key);
                    let prev = rows.insert(msg_key, row_of(t, &p["after"]));
                    assert!(prev.is_none(), "insert of a live key");
                }
                "u" => {
                    let before_key = key_of(t, &p["before"]);
                    assert_eq!(key_of(t, &p["after"]), msg_key);
                    let old = rows.remove(&before_key).expect("update of a missing key");
                    assert_eq!(
                        old,
                        row_of(t, &p["before"]),
                        "before image = previous state"
                    );
                    if before_key != msg_key {
                        assert!(!rows.contains_key(&msg_key), "pk change onto a live key");
                    }
                    rows.insert(msg_key, row_of(t, &p["after"]));
                }
                op => panic!("unexpected op {op}"),
            }
        }
    }
    out
}

/// The oracle's view of every table.
pub fn oracle_tables(g: &Generator) -> Tables {
    g.tables()
        .map(|t| (t.topic(), g.oracle().table(&t.topic())))
        .collect()
}
