//! The realistic Debezium corpus (`tests/corpus/<source>/<table>.json`: MySQL and PostgreSQL
//! messages for every type, and the SQL value each must land as) applied end to end through
//! the `tidemark` binary into pre-created tables, once as the connectors send it (with the
//! Kafka Connect schema envelope) and once without the envelope (the target's column types and
//! the corpus's connector settings deciding), then once more with the envelope into tables
//! tidemark creates from the records' schema (`auto_create`; `corpus/auto_create.json` lists
//! the few cells whose text differs there, with why). Every column of every expected row is
//! compared in SQL, and no other row may exist.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use tidemark_e2e::*;
use tidemark_testkit::{quote_ident, ProduceRecord};

struct Case {
    file: PathBuf,
    doc: Json,
}

fn corpus() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut cases = Vec::new();
    for source in ["mysql", "postgres"] {
        let dir = root.join(source);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read corpus file");
            let doc: Json =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            cases.push(Case { file, doc });
        }
    }
    assert!(cases.len() >= 10, "the corpus has {} tables", cases.len());
    cases
}

/// A record part as Kafka bytes: JSON null is no bytes at all (a tombstone / no key).
fn bytes(part: &Json, envelope: bool) -> Option<Vec<u8>> {
    let part = if envelope {
        part
    } else {
        // The same record as a converter with schemas.enable=false writes it.
        part.get("payload").unwrap_or(part)
    };
    (!part.is_null()).then(|| serde_json::to_vec(part).expect("serialize"))
}

fn name_of(case: &Case) -> String {
    let source = case
        .file
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("x");
    let table = case
        .file
        .file_stem()
        .and_then(|n| n.to_str())
        .unwrap_or("x");
    format!("{source}_{table}")
}

/// The value a cell has in a table tidemark created, where it differs from `expected`.
fn auto_create_cell(overrides: &Json, case: &Case, key: &Json, column: &str) -> Option<String> {
    let file = name_of(case).replacen('_', "/", 1);
    overrides["files"][&file]["cells"]
        .as_array()?
        .iter()
        .find(|c| &c["key"] == key && c["column"] == column)
        .and_then(|c| c["value"].as_str().map(String::from))
}

#[test]
fn every_corpus_value_lands_exactly_in_both_envelopes_and_in_created_tables() {
    let stack = Stack::start();
    let cases = corpus();
    let overrides: Json = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/auto_create.json"),
        )
        .expect("read auto_create.json"),
    )
    .expect("auto_create.json");
    let mut config = format!(
        "[kafka]\nbrokers = {:?}\n[warehouse]\nurl = {:?}\n",
        stack.kafka.bootstrap(),
        stack.url()
    );
    let mut checks = Vec::new();
    // (mode, with the envelope, into a table tidemark creates from the schema)
    for (mode, envelope, auto) in [
        ("schema", true, false),
        ("plain", false, false),
        ("auto", true, true),
    ] {
        for case in &cases {
            // `"schemaless": null`: the file's records cannot be read without their schema.
            if !envelope && case.doc["schemaless"].is_null() {
                continue;
            }
            let target = format!("corpus_{mode}_{}", name_of(case));
            // Topic names are per source; both sources have a `hostile_names` table.
            let topic = format!(
                "{}.{mode}.{}",
                case.doc["topic"].as_str().expect("topic"),
                name_of(case)
            );
            let ddl = case.doc["target_ddl"]
                .as_str()
                .expect("target_ddl")
                .replace("{target}", &format!("public.{}", quote_ident(&target)));
            if !auto {
                block_on(async {
                    let client = tidemark_testkit::connect(&stack.url())
                        .await
                        .expect("connect");
                    client
                        .batch_execute(&ddl)
                        .await
                        .unwrap_or_else(|e| panic!("{}: {ddl}: {e}", case.file.display()));
                });
            }
            stack.kafka.create_topic(&topic, 1).expect("create topic");
            let records: Vec<ProduceRecord> = case.doc["records"]
                .as_array()
                .expect("records")
                .iter()
                .map(|r| ProduceRecord {
                    headers: Vec::new(),
                    topic: topic.clone(),
                    partition: 0,
                    key: bytes(&r["key"], envelope),
                    value: bytes(&r["value"], envelope),
                })
                .collect();
            block_on(tidemark_testkit::produce(stack.kafka.bootstrap(), records)).expect("produce");
            config.push_str(&format!(
                "[[tables]]\ntopic = {topic:?}\ntarget = {:?}\n",
                format!("public.{target}")
            ));
            if auto {
                config.push_str("auto_create = true\nauto_evolve = true\n");
            }
            if !envelope {
                if let Some(settings) = case.doc["schemaless"].as_object() {
                    for (k, v) in settings {
                        if let Some(v) = v.as_str() {
                            config.push_str(&format!("{k} = {v:?}\n"));
                        }
                    }
                }
            }
            checks.push((case, target, mode));
        }
    }
    let path = stack.dir.path().join("corpus.toml");
    std::fs::write(&path, &config).expect("write config");
    refresh(&path);

    let mut failures = Vec::new();
    block_on(async {
        let client = tidemark_testkit::connect(&stack.url())
            .await
            .expect("connect");
        client
            .batch_execute(
                "SET TimeZone = 'UTC'; SET IntervalStyle = 'postgres'; SET DateStyle = 'ISO'; \
                 SET extra_float_digits = 1; SET bytea_output = 'hex'",
            )
            .await
            .expect("session settings");
        for (case, target, mode) in &checks {
            let table = format!("public.{}", quote_ident(target));
            let key_fields: Vec<String> = case.doc["key_fields"]
                .as_array()
                .expect("key_fields")
                .iter()
                .filter_map(|k| k.as_str().map(String::from))
                .collect();
            let expected = case.doc["expected"].as_array().expect("expected");
            let count: i64 = client
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .expect("count")
                .get(0);
            if *mode == "auto" {
                // Created with the key fields as primary key.
                let primary: Option<Vec<String>> = client
                    .query_one(
                        "SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_index i \
                         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                         WHERE i.indrelid = to_regclass($1) AND i.indisprimary",
                        &[&table],
                    )
                    .await
                    .expect("primary key")
                    .get(0);
                let mut want = key_fields.clone();
                want.sort();
                if primary.as_ref() != Some(&want) {
                    failures.push(format!(
                        "{} (auto): primary key {primary:?}, expected {want:?}",
                        case.file.display()
                    ));
                }
            }
            if count != expected.len() as i64 {
                failures.push(format!(
                    "{} ({}): {count} rows, expected {}",
                    case.file.display(),
                    mode,
                    expected.len()
                ));
            }
            for row in expected {
                let mut conditions = Vec::new();
                let mut params: Vec<String> = Vec::new();
                for k in &key_fields {
                    params.push(row["key"][k].as_str().expect("key text").to_string());
                    conditions.push(format!("{}::text = ${}", quote_ident(k), params.len()));
                }
                for (column, want) in row["row"].as_object().expect("row") {
                    let sql = format!(
                        "SELECT {}::text FROM {table} WHERE {}",
                        quote_ident(column),
                        conditions.join(" AND ")
                    );
                    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                        params.iter().map(|p| p as _).collect();
                    let got: Option<Option<String>> = match client.query_opt(&sql, &refs).await {
                        Ok(r) => r.map(|r| r.get(0)),
                        Err(e) => {
                            failures.push(format!("{}: {sql}: {e}", case.file.display()));
                            continue;
                        }
                    };
                    let mut want = want.as_str().map(String::from);
                    if *mode == "auto" {
                        if let Some(created) =
                            auto_create_cell(&overrides, case, &row["key"], column)
                        {
                            want = Some(created);
                        }
                    }
                    if got != Some(want.clone()) {
                        failures.push(format!(
                            "{} ({}) key {:?} column {column:?}: got {got:?}, expected {want:?}",
                            case.file.display(),
                            mode,
                            row["key"]
                        ));
                    }
                }
            }
        }
    });
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
