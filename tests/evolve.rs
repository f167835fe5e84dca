//! Tables that create and follow themselves, through the binary: `auto_create` makes the target
//! from the first records' schema (the key schema's fields as primary key), `auto_evolve` adds
//! a column for a new field and widens a column whose source type grew, in the transaction of
//! the batch that needs it, while records of another partition still carry the old schema. A
//! change that is not a widening stops the table naming the field, and nothing after it is
//! applied; with `errors = "dead_letter"` its records go to the dead-letter table instead.

use tidemark_e2e::*;
use tidemark_testkit::ProduceRecord;

const ID: &str = r#"{"type":"int32","optional":false,"field":"id"}"#;
const NAME: &str = r#"{"type":"string","optional":true,"field":"name"}"#;
const QTY32: &str = r#"{"type":"int32","optional":true,"field":"qty"}"#;
const QTY64: &str = r#"{"type":"int64","optional":true,"field":"qty"}"#;
const QTY_BOOL: &str = r#"{"type":"boolean","optional":true,"field":"qty"}"#;
const EMAIL: &str = r#"{"type":"string","optional":true,"parameters":{"__debezium.source.column.type":"VARCHAR","__debezium.source.column.length":"40"},"field":"email"}"#;
const EMAIL_WIDER: &str = r#"{"type":"string","optional":true,"parameters":{"__debezium.source.column.type":"VARCHAR","__debezium.source.column.length":"80"},"field":"email"}"#;
const PRICE: &str = r#"{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2","connect.decimal.precision":"6"},"field":"price"}"#;

fn record(topic: &str, partition: i32, id: i64, fields: &[&str], after: &str) -> ProduceRecord {
    connect_record(topic, partition, id, ID, fields, after)
}

fn columns(url: &str, table: &str) -> Vec<String> {
    query_text(
        url,
        &format!(
            "SELECT a.attname::text || ' ' || format_type(a.atttypid, a.atttypmod) \
             FROM pg_attribute a WHERE a.attrelid = '{table}'::regclass AND a.attnum > 0 \
             AND NOT a.attisdropped ORDER BY a.attnum"
        ),
    )
    .into_iter()
    .filter_map(|r| r.into_iter().next().flatten())
    .collect()
}

#[test]
fn a_table_is_created_from_the_schema_and_follows_it_across_partitions() {
    let stack = Stack::start();
    let topic = "shop.shop.items";
    stack.kafka.create_topic(topic, 2).expect("topic");
    let config = stack.dir.path().join("evolve.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbrokers = {:?}\n[warehouse]\nurl = {:?}\nauto_create = true\n\
             auto_evolve = true\n[[tables]]\ntopic = {topic:?}\ntarget = \"inv.items\"\n",
            stack.kafka.bootstrap(),
            stack.url()
        ),
    )
    .expect("config");

    // v1 on both partitions: the table (and its schema) do not exist yet.
    let v1 = [ID, NAME, QTY32];
    stack.send(vec![
        record(topic, 0, 1, &v1, r#"{"id":1,"name":"a","qty":1}"#),
        record(topic, 1, 2, &v1, r#"{"id":2,"name":"b","qty":2}"#),
    ]);
    refresh(&config);
    assert_eq!(
        columns(&stack.url(), "inv.items"),
        ["id integer", "name text", "qty integer"]
    );
    let primary = query_text(
        &stack.url(),
        "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid \
         AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'inv.items'::regclass AND i.indisprimary",
    );
    assert_eq!(primary, [[Some("id".to_string())]]);

    // v2 on partition 0 (qty grows to int64, new email and price); partition 1 still sends v1.
    let v2 = [ID, NAME, QTY64, EMAIL, PRICE];
    stack.send(vec![
        record(
            topic,
            0,
            1,
            &v2,
            r#"{"id":1,"name":"a2","qty":9000000000,"email":"a@x.org","price":"ASs="}"#,
        ),
        record(topic, 1, 2, &v1, r#"{"id":2,"name":"b2","qty":3}"#),
        record(topic, 1, 4, &v1, r#"{"id":4,"name":"d","qty":4}"#),
    ]);
    refresh(&config);
    assert_eq!(
        columns(&stack.url(), "inv.items"),
        [
            "id integer",
            "name text",
            "qty bigint",
            "email character varying(40)",
            "price numeric(6,2)"
        ]
    );
    // v3 widens email; a longer value fits only once it is widened.
    let v3 = [ID, NAME, QTY64, EMAIL_WIDER, PRICE];
    let long = "x".repeat(60);
    stack.send(vec![record(
        topic,
        1,
        4,
        &v3,
        &format!(r#"{{"id":4,"name":"d2","qty":5,"email":"{long}","price":null}}"#),
    )]);
    refresh(&config);
    assert_eq!(
        columns(&stack.url(), "inv.items")[3],
        "email character varying(80)"
    );
    let rows = query_text(
        &stack.url(),
        "SELECT id::text, name, qty::text, email, price::text FROM inv.items ORDER BY id",
    );
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        rows,
        [
            vec![s("1"), s("a2"), s("9000000000"), s("a@x.org"), s("2.99")],
            vec![s("2"), s("b2"), s("3"), None, None],
            vec![s("4"), s("d2"), s("5"), Some(long.clone()), None],
        ]
    );

    // qty becomes a boolean: not a widening. The table stops, naming the field, and the
    // record after it on the same partition is not applied.
    let bad = [ID, NAME, QTY_BOOL, EMAIL_WIDER, PRICE];
    stack.send(vec![
        record(
            topic,
            0,
            1,
            &bad,
            r#"{"id":1,"name":"a3","qty":true,"email":null,"price":null}"#,
        ),
        record(
            topic,
            0,
            1,
            &v3,
            r#"{"id":1,"name":"a4","qty":7,"email":null,"price":null}"#,
        ),
    ]);
    let before = watermarks(&stack.url());
    let out = tidemark(&["refresh", "--config", &config.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("\"qty\" is now boolean")
            && stderr.contains("bigint")
            && stderr.contains("offset 2"),
        "{stderr}"
    );
    assert_eq!(
        watermarks(&stack.url())[&(topic.to_string(), 0)],
        before[&(topic.to_string(), 0)],
        "nothing past the refused record"
    );
    assert_eq!(
        query_text(&stack.url(), "SELECT name FROM inv.items WHERE id = 1"),
        [[s("a2")]]
    );

    // As a dead letter instead, the table goes on.
    std::fs::write(
        &config,
        std::fs::read_to_string(&config).expect("read") + "errors = \"dead_letter\"\n",
    )
    .expect("config");
    let summary = refresh(&config);
    assert_eq!(summary_total(&summary, "dead_letters"), 1);
    assert_eq!(
        query_text(&stack.url(), "SELECT name FROM inv.items WHERE id = 1"),
        [[s("a4")]]
    );
    let letters = query_text(
        &stack.url(),
        "SELECT \"offset\"::text, error FROM tidemark.dead_letters",
    );
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0][0], s("2"));
    assert!(
        letters[0][1]
            .as_deref()
            .is_some_and(|e| e.contains("\"qty\" is now boolean")),
        "{letters:?}"
    );
}

#[test]
fn a_pre_created_table_gains_columns_and_keeps_its_own() {
    let stack = Stack::start();
    let topic = "shop.shop.items";
    stack.sql(
        "CREATE TABLE public.items (id bigint PRIMARY KEY, name varchar(10), \
                 loaded_at timestamptz DEFAULT now())",
    );
    stack.kafka.create_topic(topic, 1).expect("topic");
    let config = stack.dir.path().join("evolve.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbrokers = {:?}\n[warehouse]\nurl = {:?}\n[[tables]]\ntopic = {topic:?}\n\
             target = \"public.items\"\nauto_evolve = true\nunmanaged_columns = [\"loaded_at\"]\n\
             exclude_fields = [\"secret\"]\n",
            stack.kafka.bootstrap(),
            stack.url()
        ),
    )
    .expect("config");
    let secret = r#"{"type":"string","optional":true,"field":"secret"}"#;
    stack.send(vec![record(
        topic,
        0,
        1,
        &[ID, NAME, QTY32, secret],
        r#"{"id":1,"name":"a","qty":1,"secret":"s"}"#,
    )]);
    refresh(&config);
    assert_eq!(
        columns(&stack.url(), "public.items"),
        [
            "id bigint",
            "name character varying(10)",
            "loaded_at timestamp with time zone",
            "qty integer"
        ],
        "the column for qty is added; the excluded field gets none; the user's types stay"
    );
    let rows = query_text(
        &stack.url(),
        "SELECT id::text, name, qty::text, (loaded_at IS NOT NULL)::text FROM public.items",
    );
    let s = |v: &str| Some(v.to_string());
    assert_eq!(rows, [[s("1"), s("a"), s("1"), s("true")]]);
}
