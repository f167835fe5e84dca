//! Every record has the shape the Debezium MySQL connector's JSON converter produces.

mod common;

use common::{all_tables, generate, payload, typed_tables};
use serde_json::Value as Json;
use tidemark_cdcgen::{ColumnKind, Envelope, GenConfig, TableDef, DEBEZIUM_VERSION};

fn names(fields: &Json) -> Vec<&str> {
    fields
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect()
}

fn check_value_schema(t: &TableDef, schema: &Json) {
    let prefix = format!("{}.{}.{}", t.server, t.db, t.table);
    assert_eq!(schema["type"], "struct");
    assert_eq!(schema["optional"], false);
    assert_eq!(schema["name"], format!("{prefix}.Envelope"));
    let fields = schema["fields"].as_array().unwrap();
    assert_eq!(
        names(&schema["fields"]),
        ["before", "after", "source", "op", "ts_ms", "transaction"]
    );
    for row in &fields[..2] {
        assert_eq!(row["type"], "struct");
        assert_eq!(row["optional"], true);
        assert_eq!(row["name"], format!("{prefix}.Value"));
        let cols = row["fields"].as_array().unwrap();
        assert_eq!(cols.len(), t.columns.len());
        for (i, (c, f)) in t.columns.iter().zip(cols).enumerate() {
            assert_eq!(f["field"], c.name.as_str());
            assert_eq!(f["type"], c.kind.connect_type());
            assert_eq!(f["optional"], c.nullable && !t.key.contains(&i));
            check_logical(c.kind, f);
        }
    }
    let source = &fields[2];
    assert_eq!(source["name"], "io.debezium.connector.mysql.Source");
    assert_eq!(source["optional"], false);
    assert_eq!(
        names(&source["fields"]),
        [
            "version",
            "connector",
            "name",
            "ts_ms",
            "snapshot",
            "db",
            "sequence",
            "table",
            "server_id",
            "gtid",
            "file",
            "pos",
            "row",
            "thread",
            "query"
        ]
    );
    assert_eq!(fields[3]["type"], "string");
    assert_eq!(fields[4]["type"], "int64");
    assert_eq!(fields[5]["name"], "event.block");
}

/// A logical type's field schema: `name`, `"version":1`, decimal `parameters` (as strings);
/// plain kinds have none of these. (Key order is checked on raw bytes in the unit tests.)
fn check_logical(kind: ColumnKind, f: &Json) {
    let mut keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    match kind.connect_name() {
        None => assert_eq!(keys, ["field", "optional", "type"]),
        Some(name) => {
            assert_eq!(f["name"], name);
            assert_eq!(f["version"], 1);
            if let ColumnKind::Decimal { precision, scale } = kind {
                assert_eq!(
                    keys,
                    ["field", "name", "optional", "parameters", "type", "version"]
                );
                let params = f["parameters"].as_object().unwrap();
                assert_eq!(params.len(), 2);
                assert_eq!(params["scale"], scale.to_string());
                assert_eq!(params["connect.decimal.precision"], precision.to_string());
            } else {
                assert_eq!(keys, ["field", "name", "optional", "type", "version"]);
            }
        }
    }
}

fn check_key(t: &TableDef, key: &Json, envelope: Envelope) {
    if envelope == Envelope::Schema {
        let schema = &key["schema"];
        assert_eq!(schema["type"], "struct");
        assert_eq!(schema["optional"], false);
        assert_eq!(
            schema["name"],
            format!("{}.{}.{}.Key", t.server, t.db, t.table)
        );
        let expected: Vec<&str> = t.key.iter().map(|&k| t.columns[k].name.as_str()).collect();
        assert_eq!(names(&schema["fields"]), expected);
        for (f, &k) in schema["fields"].as_array().unwrap().iter().zip(&t.key) {
            assert_eq!(f["type"], t.columns[k].kind.connect_type());
            assert_eq!(f["optional"], false);
            check_logical(t.columns[k].kind, f);
        }
        assert_eq!(key.as_object().unwrap().len(), 2);
    }
    let p = payload(key, envelope).as_object().unwrap();
    assert_eq!(p.len(), t.key.len());
}

#[test]
fn records_have_the_debezium_mysql_shape() {
    check_shape(all_tables);
}

#[test]
fn typed_records_have_the_debezium_mysql_shape() {
    check_shape(|| {
        // The typed customer stands in for the plain one (same topic).
        let mut tables = all_tables();
        tables[0] = TableDef::salesdb_customer_typed();
        tables.extend(typed_tables().into_iter().skip(1));
        tables
    });
}

fn check_shape(all_tables: fn() -> Vec<TableDef>) {
    for (value_envelope, key_envelope) in [
        (Envelope::Schema, Envelope::Schema),
        (Envelope::Bare, Envelope::Bare),
        (Envelope::Bare, Envelope::Schema),
    ] {
        let config = GenConfig {
            value_envelope,
            key_envelope,
            ..GenConfig::hostile(21, 5_000)
        };
        let tables = all_tables();
        let (records, _) = generate(tables.clone(), config);
        let mut last_pos = 0;
        let mut snapshot_flags = Vec::new();
        let mut payload_ts = Vec::new();
        let mut lags = std::collections::BTreeSet::new();
        for r in &records {
            let t = tables.iter().find(|t| t.topic() == r.topic).unwrap();
            let key: Json = serde_json::from_slice(r.key.as_ref().unwrap()).unwrap();
            check_key(t, &key, key_envelope);
            let Some(value) = &r.value else { continue };
            let value: Json = serde_json::from_slice(value).unwrap();
            if value_envelope == Envelope::Schema {
                assert_eq!(value.as_object().unwrap().len(), 2);
                check_value_schema(t, &value["schema"]);
            } else {
                assert!(value.get("schema").is_none());
            }
            let p = payload(&value, value_envelope);
            let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
            let mut sorted = ["after", "before", "op", "source", "transaction", "ts_ms"];
            sorted.sort_unstable();
            let mut got = keys.clone();
            got.sort_unstable();
            assert_eq!(got, sorted);
            assert!(p["transaction"].is_null());
            let s = &p["source"];
            assert_eq!(s["version"], DEBEZIUM_VERSION);
            assert_eq!(s["connector"], "mysql");
            assert_eq!(s["name"], t.server.as_str());
            assert_eq!(s["db"], t.db.as_str());
            assert_eq!(s["table"], t.table.as_str());
            assert_eq!(s["server_id"], 223_344);
            assert_eq!(s["file"], "mysql-bin.000003");
            assert!(s["gtid"].is_null() && s["query"].is_null() && s["sequence"].is_null());
            assert!(s["row"].is_i64());
            let source_ts = s["ts_ms"].as_i64().unwrap();
            let ts = p["ts_ms"].as_i64().unwrap();
            assert!(ts >= source_ts);
            if s["snapshot"] == "false" {
                // Streamed: a constant connector lag, so ts_ms hazards show in both fields.
                lags.insert(ts - source_ts);
                payload_ts.push(ts);
            }
            let pos = s["pos"].as_u64().unwrap();
            assert!(pos >= last_pos, "binlog position never goes back");
            last_pos = pos;
            let op = p["op"].as_str().unwrap();
            let snapshot = s["snapshot"].as_str().unwrap();
            match op {
                "r" => {
                    snapshot_flags.push(snapshot.to_owned());
                    assert!(p["before"].is_null() && p["after"].is_object());
                }
                "c" => assert!(p["before"].is_null() && p["after"].is_object()),
                "u" => assert!(p["before"].is_object() && p["after"].is_object()),
                "d" => assert!(p["before"].is_object() && p["after"].is_null()),
                _ => panic!("bad op {op}"),
            }
            if op != "r" {
                assert_eq!(snapshot, "false");
                assert_eq!(s["thread"], 7);
            }
            for row in [&p["before"], &p["after"]] {
                if let Some(obj) = row.as_object() {
                    let cols: Vec<&str> = obj.keys().map(String::as_str).collect();
                    assert_eq!(cols.len(), t.columns.len(), "{cols:?}");
                }
            }
        }
        assert_eq!(lags.len(), 1, "{lags:?}");
        let ties = payload_ts.windows(2).filter(|w| w[0] == w[1]).count();
        let back = payload_ts.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(ties > 100 && back > 20, "ties {ties}, backwards {back}");
        let n = snapshot_flags.len();
        assert_eq!(n, 15 * tables.len());
        assert!(snapshot_flags[..n - 1].iter().all(|f| f == "true"));
        assert_eq!(snapshot_flags[n - 1], "last");
    }
}

#[test]
fn column_order_follows_the_table_in_raw_bytes() {
    let config = GenConfig {
        value_envelope: Envelope::Bare,
        ..GenConfig::hostile(2, 200)
    };
    let (records, _) = generate(vec![TableDef::salesdb_orders()], config);
    let raw = String::from_utf8(records[0].value.clone().unwrap()).unwrap();
    assert!(
        raw.starts_with("{\"before\":null,\"after\":{\"ORDER_ID\":"),
        "{raw}"
    );
    let order = [
        "ORDER_ID", "CUST_ID", "AMOUNT", "PAID", "NOTE", "PAYLOAD", "QTY",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|c| raw.find(&format!("\"{c}\":")).unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn nasty_strings_are_produced_and_survive_json() {
    let (records, g) = generate(all_tables(), GenConfig::hostile(4, 4_000));
    assert!(records.iter().all(|r| r
        .value
        .as_ref()
        .is_none_or(|v| serde_json::from_slice::<Json>(v).is_ok())));
    let texts: Vec<String> = g
        .oracle()
        .topics()
        .iter()
        .flat_map(|t| g.oracle().table(t).into_values())
        .flat_map(|row| row.into_iter().flatten())
        .collect();
    for needle in ["'", "\"", "\\", "\n", "\t", "é", "漢字", "😀"] {
        assert!(texts.iter().any(|s| s.contains(needle)), "no {needle:?}");
    }
    assert!(texts.iter().any(String::is_empty), "no empty string");
    assert!(texts.iter().any(|s| s.starts_with(' ') || s.ends_with(' ')));
    assert!(texts.iter().all(|s| !s.contains('\0')));
    let customers = g.oracle().table("salesdb.salesdb.CUSTOMER");
    assert!(customers.values().any(|row| row[2].is_none()), "no NULL");
}
