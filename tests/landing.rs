//! `raw_table`: every record of a topic also lands as read (partition, offset, Kafka timestamp,
//! key, value as jsonb, headers, op, time applied) in the transaction that applies it; dead
//! letters do not land, and a second refresh lands nothing twice.

use tidemark_e2e::*;
use tidemark_testkit::ProduceRecord;

fn record(key: Option<&str>, value: Option<&str>, headers: &[(&str, &str)]) -> ProduceRecord {
    ProduceRecord {
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect(),
        topic: "shop.shop.orders".into(),
        partition: 0,
        key: key.map(|k| k.as_bytes().to_vec()),
        value: value.map(|v| v.as_bytes().to_vec()),
    }
}

fn event(op: &str, id: i64, note: &str) -> String {
    let row = format!(r#"{{"id":{id},"note":"{note}"}}"#);
    let (before, after) = if op == "d" {
        (row.as_str(), "null")
    } else {
        ("null", row.as_str())
    };
    format!(
        r#"{{"before":{before},"after":{after},"source":{{"connector":"mysql"}},"op":"{op}","ts_ms":1}}"#
    )
}

#[test]
fn every_applied_record_lands_as_read_once() {
    let stack = Stack::start();
    stack.sql("CREATE TABLE public.orders (id bigint PRIMARY KEY, note text)");
    stack
        .kafka
        .create_topic("shop.shop.orders", 1)
        .expect("topic");
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let records = vec![
        record(
            Some(r#"{"id":1}"#),
            Some(&event("c", 1, "a")),
            &[("traceparent", traceparent)],
        ),
        record(Some(r#"{"id":1}"#), Some(&event("u", 1, "b")), &[]),
        record(Some(r#"{"id":2}"#), Some("not json"), &[]),
        record(Some(r#"{"id":1}"#), Some(&event("d", 1, "b")), &[]),
        record(Some(r#"{"id":1}"#), None, &[]),
        record(Some(r#"{"id":3}"#), Some(&event("c", 3, "c")), &[]),
    ];
    stack.send(records);
    let config = stack.dir.path().join("landing.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbrokers = {:?}\n[warehouse]\nurl = {:?}\n[errors]\nmode = \"dead_letter\"\n\
             [[tables]]\ntopic = \"shop.shop.orders\"\ntarget = \"public.orders\"\n\
             raw_table = \"raw.orders_cdc\"\n",
            stack.kafka.bootstrap(),
            stack.url()
        ),
    )
    .expect("config");
    let summary = refresh(&config);
    assert_eq!(summary_total(&summary, "dead_letters"), 1);
    let landed = || {
        query_text(
            &stack.url(),
            "SELECT \"partition\"::text, \"offset\"::text, op, convert_from(key, 'UTF8'), \
             value->'after'->>'note', headers::text, (kafka_timestamp IS NOT NULL)::text, \
             (applied_at IS NOT NULL)::text FROM raw.orders_cdc ORDER BY \"offset\"",
        )
    };
    let s = |v: &str| Some(v.to_string());
    let key1 = s(r#"{"id":1}"#);
    let yes = s("true");
    let expected = vec![
        vec![
            s("0"),
            s("0"),
            s("c"),
            key1.clone(),
            s("a"),
            s(&format!(
                r#"[{{"key": "traceparent", "value": "{traceparent}"}}]"#
            )),
            yes.clone(),
            yes.clone(),
        ],
        vec![
            s("0"),
            s("1"),
            s("u"),
            key1.clone(),
            s("b"),
            None,
            yes.clone(),
            yes.clone(),
        ],
        // Offset 2 is a dead letter: not landed.
        vec![
            s("0"),
            s("3"),
            s("d"),
            key1.clone(),
            None,
            None,
            yes.clone(),
            yes.clone(),
        ],
        // The tombstone: no value, no op.
        vec![
            s("0"),
            s("4"),
            None,
            key1.clone(),
            None,
            None,
            yes.clone(),
            yes.clone(),
        ],
        vec![
            s("0"),
            s("5"),
            s("c"),
            s(r#"{"id":3}"#),
            s("c"),
            None,
            yes.clone(),
            yes.clone(),
        ],
    ];
    assert_eq!(landed(), expected);
    assert_eq!(
        query_text(&stack.url(), "SELECT id::text, note FROM public.orders"),
        [[s("3"), s("c")]]
    );
    // Nothing new: nothing lands again.
    refresh(&config);
    assert_eq!(landed(), expected);
}
