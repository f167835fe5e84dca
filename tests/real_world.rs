//! Shapes of real change streams beyond plain rows:
//! - Debezium truncate events (`op = "t"`) and logical decoding messages (`op = "m"`) are
//!   recognized, never mistaken for rows: a truncate empties the target with
//!   `truncate = "apply"` and is logged and ignored by default;
//! - hostile identifiers (SQL in a column name, case, spaces, accents) land as exactly those
//!   columns.

use std::collections::BTreeMap;

use tidemark_cdcgen::TableDef;
use tidemark_e2e::*;
use tidemark_testkit::ProduceRecord;

fn insert(topic: &str, id: i64) -> ProduceRecord {
    ProduceRecord {
            headers: Vec::new(),
        topic: topic.into(),
        partition: 0,
        key: Some(format!(r#"{{"CUST_ID":{id}}}"#).into_bytes()),
        value: Some(
            format!(
                r#"{{"before":null,"after":{{"CUST_ID":{id},"NAME":"n{id}","MKTSEGMENT":null}},"source":{{"connector":"mysql"}},"op":"c","ts_ms":1}}"#
            )
            .into_bytes(),
        ),
    }
}

fn keyless(topic: &str, value: &str) -> ProduceRecord {
    ProduceRecord {
        headers: Vec::new(),
        topic: topic.into(),
        partition: 0,
        key: None,
        value: Some(value.as_bytes().to_vec()),
    }
}

const TRUNCATE: &str =
    r#"{"before":null,"after":null,"source":{"connector":"mysql"},"op":"t","ts_ms":2}"#;
const MESSAGE: &str = r#"{"op":"m","ts_ms":3,"message":{"prefix":"audit","content":"aGk="}}"#;

fn ids(url: &str, table: &str) -> Vec<i64> {
    block_on(async {
        let client = tidemark_testkit::connect(url).await.unwrap();
        client
            .query(
                &format!("SELECT \"CUST_ID\"::bigint FROM {table} ORDER BY 1"),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    })
}

#[test]
fn a_source_truncate_empties_the_target_only_when_asked() {
    let stack = Stack::start();
    for (name, mode, expected) in [
        ("trunc_apply", Some("apply"), vec![3]),
        ("trunc_default", None, vec![1, 2, 3]),
    ] {
        let mut def = TableDef::salesdb_customer();
        def.server = name.to_string();
        let topic = def.topic();
        let setups = vec![TableSetup {
            def,
            target: format!("public.{name}"),
            with_pk: true,
            renames: BTreeMap::new(),
            key_fields: None,
            refresh_time_column: false,
        }];
        stack.prepare(&setups, 1);
        let config = stack.config(name, &setups, "");
        if let Some(mode) = mode {
            let text = std::fs::read_to_string(&config).unwrap().replace(
                &format!("target = \"public.{name}\"\n"),
                &format!("target = \"public.{name}\"\ntruncate = \"{mode}\"\n"),
            );
            std::fs::write(&config, text).unwrap();
        }
        let produce = |records: Vec<ProduceRecord>| {
            block_on(tidemark_testkit::produce(stack.kafka.bootstrap(), records)).expect("produce")
        };
        produce(vec![insert(&topic, 1), insert(&topic, 2)]);
        refresh(&config);
        assert_eq!(ids(&stack.url(), &format!("public.{name}")), vec![1, 2]);

        // A truncate and a message, neither with a key, then a new row.
        produce(vec![
            keyless(&topic, TRUNCATE),
            keyless(&topic, MESSAGE),
            insert(&topic, 3),
        ]);
        let out = tidemark(&["refresh", "--config", &config.display().to_string()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        let logged = match mode {
            Some(_) => "the target is emptied",
            None => "ignored (truncate = \"ignore\")",
        };
        assert!(
            stderr.contains(logged) && stderr.contains("offset=2"),
            "{name}: {stderr}"
        );
        assert_eq!(
            ids(&stack.url(), &format!("public.{name}")),
            expected,
            "{name}"
        );
        let next: Vec<i64> = watermarks(&stack.url())
            .iter()
            .filter(|((t, _), _)| *t == topic)
            .map(|(_, o)| *o)
            .collect();
        assert_eq!(next, vec![5], "{name}: every record is passed");
    }
}

/// Identifiers keep their case and are quoted through one function: source columns named like
/// SQL, with mixed case or with spaces and accents land as exactly those columns.
#[test]
fn hostile_identifiers_land_as_exactly_those_columns() {
    let stack = Stack::start();
    let topic = "db.inv.Hostile";
    block_on(async {
        let client = tidemark_testkit::connect(&stack.url()).await.unwrap();
        client
            .batch_execute(
                r#"CREATE SCHEMA "Odd Schema";
                   CREATE TABLE "Odd Schema"."Tab""le" (
                       "Order" bigint PRIMARY KEY,
                       """; DROP TABLE x; --" text,
                       "naïve col" text,
                       "order" text
                   )"#,
            )
            .await
            .expect("create target");
    });
    stack.kafka.create_topic(topic, 1).expect("topic");
    let value = r#"{"before":null,"after":{"Order":7,"\"; DROP TABLE x; --":"a'b","naïve col":"é","order":"lower"},"source":{"connector":"postgresql"},"op":"c","ts_ms":1}"#;
    block_on(tidemark_testkit::produce(
        stack.kafka.bootstrap(),
        [ProduceRecord {
            headers: Vec::new(),
            topic: topic.into(),
            partition: 0,
            key: Some(br#"{"Order":7}"#.to_vec()),
            value: Some(value.as_bytes().to_vec()),
        }],
    ))
    .expect("produce");
    let config = stack.dir.path().join("hostile.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbrokers = {:?}\n[warehouse]\nurl = {:?}\n[[tables]]\ntopic = {topic:?}\ntarget = 'Odd Schema.Tab\"le'\n",
            stack.kafka.bootstrap(),
            stack.url()
        ),
    )
    .unwrap();
    refresh(&config);
    let row = block_on(async {
        let client = tidemark_testkit::connect(&stack.url()).await.unwrap();
        client
            .query_one(
                r#"SELECT "Order", """; DROP TABLE x; --", "naïve col", "order" FROM "Odd Schema"."Tab""le""#,
                &[],
            )
            .await
            .expect("read target")
    });
    let got: (i64, String, String, String) = (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(got, (7, "a'b".into(), "é".into(), "lower".into()));
}
