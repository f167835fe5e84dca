//! `errors.mode = "dead_letter"`: records that cannot be applied go to the dead-letter table
//! with their bytes and the reason, in the transaction that advances past them; the records
//! around them still apply and every offset is accounted for. And `delete_mode = "soft"`.

use tidemark_e2e::*;
use tidemark_testkit::ProduceRecord;

fn record(topic: &str, key: Option<&[u8]>, value: Option<&[u8]>) -> ProduceRecord {
    ProduceRecord {
        headers: Vec::new(),
        topic: topic.into(),
        partition: 0,
        key: key.map(<[u8]>::to_vec),
        value: value.map(<[u8]>::to_vec),
    }
}

fn event(op: &str, after: &str) -> Vec<u8> {
    let (before, after) = if op == "d" {
        (after, "null")
    } else {
        ("null", after)
    };
    format!(r#"{{"before":{before},"after":{after},"source":{{"connector":"mysql"}},"op":"{op}","ts_ms":1}}"#)
        .into_bytes()
}

fn key(id: &str) -> Vec<u8> {
    format!(r#"{{"id":{id}}}"#).into_bytes()
}

#[test]
fn bad_records_become_dead_letters_and_the_rest_applies() {
    let stack = Stack::start();
    let topic = "shop.shop.orders";
    stack.sql(
        "CREATE TABLE public.orders (id bigint PRIMARY KEY, amount numeric(10,2), \
                 placed_at timestamp(6), note text)",
    );
    stack.kafka.create_topic(topic, 1).expect("topic");
    let huge = vec![b'x'; 2 << 20];
    let records = vec![
        // 0: applied, then replaced at 7.
        record(
            topic,
            Some(&key("1")),
            Some(&event(
                "c",
                r#"{"id":1,"amount":"ASs=","placed_at":1666266000000000,"note":"a"}"#,
            )),
        ),
        // 1: not JSON.
        record(topic, Some(&key("2")), Some(b"{\"op\":\"c\", not json")),
        // 2: a decimal that is not base64.
        record(
            topic,
            Some(&key("2")),
            Some(&event(
                "c",
                r#"{"id":2,"amount":"***","placed_at":0,"note":"b"}"#,
            )),
        ),
        // 3: no message key (the table's key comes from it).
        record(
            topic,
            None,
            Some(&event(
                "c",
                r#"{"id":3,"amount":"AA==","placed_at":0,"note":"c"}"#,
            )),
        ),
        // 4: invalid UTF-8.
        record(
            topic,
            Some(&key("4")),
            Some(b"{\"op\":\"c\",\"after\":{\"note\":\"\xff\xfe\"}}"),
        ),
        // 5: two megabytes of not-JSON (fetched because the config raises librdkafka's fetch
        // and prefetch limits above it; tansu does not hand out a record larger than them).
        record(topic, Some(&key("5")), Some(&huge)),
        // 6: applied.
        record(
            topic,
            Some(&key("6")),
            Some(&event(
                "r",
                r#"{"id":6,"amount":"/tU=","placed_at":-1,"note":null}"#,
            )),
        ),
        // 7: replaces 0.
        record(
            topic,
            Some(&key("1")),
            Some(&event(
                "u",
                r#"{"id":1,"amount":"AfQ=","placed_at":1666266000000000,"note":"a2"}"#,
            )),
        ),
        // 8: a key of the wrong type for a bigint column.
        record(
            topic,
            Some(&key("\"abc\"")),
            Some(&event(
                "c",
                r#"{"id":"abc","amount":"AA==","placed_at":0,"note":"d"}"#,
            )),
        ),
    ];
    let produced: Vec<(i64, Option<Vec<u8>>)> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (i as i64, r.value.clone()))
        .collect();
    stack.send(records);
    let path = stack.dir.path().join("dl.toml");
    std::fs::write(
        &path,
        format!(
            "[kafka]\nbrokers = {:?}\n[kafka.properties]\n\"max.partition.fetch.bytes\" = \"16777216\"\n\
             \"fetch.max.bytes\" = \"33554432\"\n\"queued.max.messages.kbytes\" = \"32768\"\n\
             [warehouse]\nurl = {:?}\n[errors]\nmode = \"dead_letter\"\n\
             [batch]\nmax_rows = 3\n[[tables]]\ntopic = {topic:?}\ntarget = \"public.orders\"\n",
            stack.kafka.bootstrap(),
            stack.url()
        ),
    )
    .expect("config");
    let summary = refresh(&path);
    assert_eq!(summary_total(&summary, "dead_letters"), 6, "{summary}");

    assert_eq!(
        query_text(
            &stack.url(),
            "SELECT id::text, amount::text, placed_at::text, note FROM public.orders ORDER BY id"
        ),
        vec![
            vec![
                Some("1".into()),
                Some("5.00".into()),
                Some("2022-10-20 11:40:00".into()),
                Some("a2".into())
            ],
            vec![
                Some("6".into()),
                Some("-2.99".into()),
                Some("1969-12-31 23:59:59.999999".into()),
                None
            ],
        ]
    );
    let letters = block_on(async {
        let client = tidemark_testkit::connect(&stack.url())
            .await
            .expect("connect");
        client
            .query(
                "SELECT \"offset\", value, error, topic, partition, target FROM tidemark.dead_letters ORDER BY 1",
                &[],
            )
            .await
            .expect("dead letters")
    });
    let offsets: Vec<i64> = letters.iter().map(|r| r.get(0)).collect();
    assert_eq!(offsets, vec![1, 2, 3, 4, 5, 8]);
    for row in &letters {
        let offset: i64 = row.get(0);
        let value: Option<Vec<u8>> = row.get(1);
        let error: String = row.get(2);
        assert_eq!(
            value, produced[offset as usize].1,
            "offset {offset}: the bytes as produced"
        );
        assert_eq!(row.get::<_, String>(3), topic);
        assert_eq!(row.get::<_, i32>(4), 0);
        assert_eq!(row.get::<_, String>(5), "public.orders");
        let expected = match offset {
            1 | 4 | 5 => "JSON",
            2 => "base64",
            3 => "key",
            _ => "a boolean or a number",
        };
        assert!(error.contains(expected), "offset {offset}: {error}");
    }
    // Every record is accounted for: the watermark is past the last one.
    let marks = watermarks(&stack.url());
    assert_eq!(marks.get(&(topic.to_string(), 0)), Some(&9), "{marks:?}");
}

/// With each PostgreSQL merge strategy: the upsert (`auto`, the primary key arbitrates), the
/// delete + insert, and MERGE.
#[test]
fn soft_deletes_keep_the_row_and_mark_it() {
    for merge in ["auto", "delete-insert", "merge"] {
        soft_deletes_with(merge);
    }
}

fn soft_deletes_with(merge: &str) {
    let stack = Stack::start();
    let topic = "shop.shop.items";
    stack.sql(
        "CREATE TABLE public.items (id bigint PRIMARY KEY, name text, \
                 \"__deleted\" boolean NOT NULL DEFAULT false, \"__deleted_at\" timestamptz)",
    );
    stack.kafka.create_topic(topic, 1).expect("topic");
    let path = stack.dir.path().join("soft.toml");
    std::fs::write(
        &path,
        format!(
            "[kafka]\nbrokers = {:?}\n[warehouse]\nurl = {:?}\nmerge = {merge:?}\n\
             [batch]\nmax_rows = 100\n\
             [[tables]]\ntopic = {topic:?}\ntarget = \"public.items\"\ndelete_mode = \"soft\"\n",
            stack.kafka.bootstrap(),
            stack.url()
        ),
    )
    .expect("config");
    stack.send(vec![
        record(
            topic,
            Some(&key("1")),
            Some(&event("c", r#"{"id":1,"name":"one"}"#)),
        ),
        record(
            topic,
            Some(&key("2")),
            Some(&event("c", r#"{"id":2,"name":"two"}"#)),
        ),
        record(
            topic,
            Some(&key("3")),
            Some(&event("c", r#"{"id":3,"name":"three"}"#)),
        ),
    ]);
    refresh(&path);
    stack.send(vec![
        record(
            topic,
            Some(&key("2")),
            Some(&event("d", r#"{"id":2,"name":"two"}"#)),
        ),
        record(topic, Some(&key("2")), None),
        record(
            topic,
            Some(&key("3")),
            Some(&event("d", r#"{"id":3,"name":"three"}"#)),
        ),
        record(
            topic,
            Some(&key("3")),
            Some(&event("c", r#"{"id":3,"name":"three again"}"#)),
        ),
        // A delete of a key never seen marks nothing.
        record(
            topic,
            Some(&key("4")),
            Some(&event("d", r#"{"id":4,"name":"four"}"#)),
        ),
    ]);
    let summary = refresh(&path);
    // One batch: 3's delete is replaced by its re-insert, 4 was never there.
    assert_eq!(summary_total(&summary, "deletes"), 1, "{merge}: {summary}");
    assert_eq!(
        query_text(
            &stack.url(),
            "SELECT id::text, name, \"__deleted\"::text, (\"__deleted_at\" IS NOT NULL)::text \
             FROM public.items ORDER BY id"
        ),
        vec![
            vec![
                Some("1".into()),
                Some("one".into()),
                Some("false".into()),
                Some("false".into())
            ],
            vec![
                Some("2".into()),
                Some("two".into()),
                Some("true".into()),
                Some("true".into())
            ],
            vec![
                Some("3".into()),
                Some("three again".into()),
                Some("false".into()),
                Some("false".into())
            ],
        ]
    );
}
