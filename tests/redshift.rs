//! `warehouse.dialect = "redshift"` beyond the oracle runs (those are in `apply.rs`,
//! `faults.rs` and `cluster.rs`): values that do not fit Redshift's columns follow
//! `errors.mode`, and a serialization failure (Redshift's error 1023) retries the whole batch.
//! Redshift's merge path runs against PostgreSQL ([`Stack::redshift`]).

use tidemark_cdcgen::{GenConfig, Generator};
use tidemark_e2e::*;
use tidemark_testkit::ProduceRecord;

fn record(topic: &str, id: i64, after: &str) -> ProduceRecord {
    ProduceRecord {
        headers: Vec::new(),
        topic: topic.into(),
        partition: 0,
        key: Some(format!(r#"{{"id":{id}}}"#).into_bytes()),
        value: Some(
            format!(r#"{{"before":null,"after":{after},"source":{{"connector":"mysql"}},"op":"c","ts_ms":1}}"#)
                .into_bytes(),
        ),
    }
}

fn config(stack: &Stack, name: &str, topic: &str, target: &str, mode: &str) -> std::path::PathBuf {
    let path = stack.dir.path().join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[kafka]\nbrokers = {:?}\n[warehouse]\nurl = {:?}\ndialect = \"redshift\"\n\
             [errors]\nmode = {mode:?}\n[[tables]]\ntopic = {topic:?}\ntarget = {target:?}\n",
            stack.kafka.bootstrap(),
            stack.url()
        ),
    )
    .expect("config");
    path
}

#[test]
fn values_that_do_not_fit_redshift_go_to_dead_letters_or_stop_naming_record_and_column() {
    let stack = Stack::start().redshift();
    stack.sql(
        "CREATE TABLE public.notes (id bigint NOT NULL, note varchar(4), amount numeric(5,2)); \
         CREATE TABLE public.strict_notes (id bigint NOT NULL, note varchar(4))",
    );
    let topic = "shop.shop.notes";
    stack.kafka.create_topic(topic, 1).expect("topic");
    stack.send(vec![
        // 4 bytes: fits.
        record(topic, 1, r#"{"id":1,"note":"abcd","amount":"AfQ="}"#),
        // 3 characters, 6 bytes: Redshift counts bytes; PostgreSQL would take it.
        record(topic, 2, r#"{"id":2,"note":"ééé","amount":null}"#),
        // 1000.00 (unscaled 100000, base64 AYag) has 4 digits before the point: DECIMAL(5,2)
        // holds 3.
        record(topic, 3, r#"{"id":3,"note":"x","amount":"AYag"}"#),
        // 2 characters, 4 bytes: fits.
        record(topic, 4, r#"{"id":4,"note":"éé","amount":null}"#),
    ]);
    let summary = refresh(&config(&stack, "dl", topic, "public.notes", "dead_letter"));
    assert_eq!(summary_total(&summary, "dead_letters"), 2, "{summary}");
    assert_eq!(
        query_text(
            &stack.url(),
            "SELECT id::text, note, amount::text FROM public.notes ORDER BY id"
        ),
        vec![
            vec![Some("1".into()), Some("abcd".into()), Some("5.00".into())],
            vec![Some("4".into()), Some("éé".into()), None],
        ]
    );
    let letters = query_text(
        &stack.url(),
        "SELECT \"offset\"::text, error FROM tidemark.dead_letters ORDER BY \"offset\"",
    );
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert_eq!(letters[0][0].as_deref(), Some("1"));
    let note_error = letters[0][1].clone().unwrap_or_default();
    assert!(
        note_error.contains("\"note\"") && note_error.contains("6 bytes"),
        "{note_error}"
    );
    assert_eq!(letters[1][0].as_deref(), Some("2"));
    let amount_error = letters[1][1].clone().unwrap_or_default();
    assert!(
        amount_error.contains("\"amount\"") && amount_error.contains("DECIMAL(5,2)"),
        "{amount_error}"
    );
    assert_eq!(
        watermarks(&stack.url()).get(&(topic.to_string(), 0)),
        Some(&4)
    );

    // With errors.mode = "fail" the same record stops the run, naming where it is and which
    // column.
    let strict = "shop.shop.strict_notes";
    stack.kafka.create_topic(strict, 1).expect("topic");
    stack.send(vec![
        record(strict, 1, r#"{"id":1,"note":"ok"}"#),
        record(strict, 2, r#"{"id":2,"note":"ééé"}"#),
    ]);
    let path = config(&stack, "fail", strict, "public.strict_notes", "fail");
    let out = tidemark(&["refresh", "--config", &path.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(strict)
            && stderr.contains("offset 1")
            && stderr.contains("\"note\"")
            && stderr.contains("does not fit"),
        "{stderr}"
    );
    // Nothing at or past the record is applied: a restart stops at it again.
    assert!(query_text(
        &stack.url(),
        "SELECT id::text FROM public.strict_notes WHERE id = 2"
    )
    .is_empty());
    let at = watermarks(&stack.url())
        .get(&(strict.to_string(), 0))
        .copied();
    assert!(at.unwrap_or(0) <= 1, "{at:?}");
}

#[test]
fn a_serialization_failure_retries_the_whole_batch() {
    let stack = Stack::start().redshift();
    let setups = without_primary_keys(salesdb_setups());
    stack.prepare(&setups, 2);
    // The first two INSERTs into sales.orders fail as Redshift fails a transaction that
    // would break serializability (error 1023, reported as XX000); the sequence counts
    // attempts outside the rolled-back transactions.
    stack.sql(
        "CREATE SEQUENCE public.attempts; \
         CREATE FUNCTION public.fail_twice() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF nextval('public.attempts') <= 2 THEN \
             RAISE EXCEPTION '1023' USING ERRCODE = 'XX000', DETAIL = \
               'Serializable isolation violation on table - 142610, transactions forming the cycle are: 1, 2'; \
           END IF; RETURN NULL; END $$; \
         CREATE TRIGGER fail_twice BEFORE INSERT ON sales.orders \
           FOR EACH STATEMENT EXECUTE FUNCTION public.fail_twice()",
    );
    let mut history = Generator::new(
        setups.iter().map(|s| s.def.clone()).collect(),
        GenConfig {
            partitions: 2,
            ..GenConfig::hostile(3, 3_000)
        },
    );
    let produced = produce(stack.kafka.bootstrap(), history.by_ref());
    let summary = refresh(&stack.config("retry", &setups, ""));
    assert_eq!(summary_total(&summary, "events"), produced, "{summary}");
    let attempts = query_text(&stack.url(), "SELECT last_value::text FROM public.attempts");
    let attempts: i64 = attempts[0][0]
        .as_deref()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    assert!(
        attempts > 2,
        "the failing merges were retried: {attempts} attempts"
    );
    assert_matches_oracle(&stack.url(), &setups, history.oracle());
    assert_eq!(
        watermarks(&stack.url()),
        high_watermarks(stack.kafka.bootstrap(), &setups)
    );
}

/// `auto_create` on the Redshift dialect: the target is created by the Redshift DDL (byte-sized
/// VARCHARs, an informational primary key) from the records' Connect schema, in the first
/// merge's transaction, and the history applies as the oracle says.
#[test]
fn auto_create_makes_the_target_with_the_redshift_ddl_and_the_history_applies() {
    let stack = Stack::start().redshift();
    let setups = vec![TableSetup {
        def: tidemark_cdcgen::TableDef::salesdb_customer(),
        target: "public.customer_auto".into(),
        with_pk: false,
        renames: Default::default(),
        key_fields: None,
        refresh_time_column: false,
    }];
    stack
        .kafka
        .create_topic(&setups[0].def.topic(), 2)
        .expect("topic");
    let mut history = Generator::new(
        vec![setups[0].def.clone()],
        GenConfig {
            partitions: 2,
            value_envelope: tidemark_cdcgen::Envelope::Schema,
            ..GenConfig::hostile(17, 3_000)
        },
    );
    let produced = produce(stack.kafka.bootstrap(), history.by_ref());
    let summary = refresh(&stack.config("auto", &setups, "auto_create = true\n"));
    assert_eq!(summary_total(&summary, "events"), produced, "{summary}");
    assert_matches_oracle(&stack.url(), &setups, history.oracle());
    // Created by the Redshift DDL: its VARCHARs are the byte sizes the decoder checks.
    let types = query_text(
        &stack.url(),
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_name = 'customer_auto' ORDER BY ordinal_position",
    );
    assert!(
        types
            .iter()
            .all(|r| r[1].as_deref() != Some("text") && r[1].as_deref() != Some("jsonb")),
        "{types:?}"
    );
}
