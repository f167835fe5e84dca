//! PostgreSQL connector events: replica identity DEFAULT (no or key-only `before`) and FULL,
//! primary key changes, and the `source` position (lsn, txId).

mod common;

use common::*;
use tidemark_debezium::{parse_event, KeySource, Op};
use tidemark_model::Value;

fn pg_key(id: i64) -> String {
    envelope(
        &key_schema("PostgreSQL_server.public.customers", &[("id", "int32")]),
        &format!(r#"{{"id":{id}}}"#),
    )
}

fn pg_value(payload: &str) -> String {
    envelope(
        &value_schema(
            "PostgreSQL_server.public.customers",
            "postgresql",
            CUSTOMER_FIELDS,
        ),
        payload,
    )
}

#[test]
fn create_keeps_lsn_and_tx_id() {
    let after = customer(1, "Anne", "Kretchmar", "annek@noanswer.org");
    let value = pg_value(&payload("c", "null", &after, &pg_source(24023128, 555)));
    let mut d = decoder(customers(), KeySource::MessageKey);
    assert_eq!(
        run(&mut d, Some(&pg_key(1)), Some(&value), 0).unwrap(),
        vec![upsert(
            vec![int(1)],
            customer_row(1, "Anne", "Kretchmar", "annek@noanswer.org"),
            0
        )]
    );
    let event = parse_event(value.as_bytes()).unwrap().unwrap();
    assert_eq!(event.op, Op::Create);
    assert_eq!(event.source.connector.as_deref(), Some("postgresql"));
    assert_eq!(event.source.lsn, Some(24023128));
    assert_eq!(event.source.tx_id, Some(555));
    assert_eq!(event.source.file, None);
    assert_eq!(event.source.db.as_deref(), Some("postgres"));
}

#[test]
fn update_without_before_image_is_one_upsert() {
    // REPLICA IDENTITY DEFAULT: `before` is null on updates.
    let after = customer(1, "Anne Marie", "Kretchmar", "annek@noanswer.org");
    let value = pg_value(&payload("u", "null", &after, &pg_source(24023200, 556)));
    let mut d = decoder(customers(), KeySource::MessageKey);
    assert_eq!(
        run(&mut d, Some(&pg_key(1)), Some(&value), 3).unwrap(),
        vec![upsert(
            vec![int(1)],
            customer_row(1, "Anne Marie", "Kretchmar", "annek@noanswer.org"),
            3
        )]
    );
}

#[test]
fn delete_with_key_only_before_image() {
    // REPLICA IDENTITY DEFAULT: a delete's `before` has the key; other columns are null.
    let before = r#"{"id":1,"first_name":null,"last_name":null,"email":null}"#;
    let value = pg_value(&payload("d", before, "null", &pg_source(24023300, 557)));
    for key in [KeySource::MessageKey, KeySource::Fields(vec!["id".into()])] {
        let mut d = decoder(customers(), key);
        assert_eq!(
            run(&mut d, Some(&pg_key(1)), Some(&value), 4).unwrap(),
            vec![delete(vec![int(1)], 4)]
        );
    }
}

#[test]
fn pk_change_as_single_update_is_delete_then_upsert() {
    // REPLICA IDENTITY FULL with the key change in one update event (message key = new key).
    let before = customer(1, "Anne", "Kretchmar", "annek@noanswer.org");
    let after = customer(2, "Anne", "Kretchmar", "annek@noanswer.org");
    let value = pg_value(&payload("u", &before, &after, &pg_source(24023400, 558)));
    for key in [KeySource::MessageKey, KeySource::Fields(vec!["id".into()])] {
        let mut d = decoder(customers(), key);
        assert_eq!(
            run(&mut d, Some(&pg_key(2)), Some(&value), 5).unwrap(),
            vec![
                delete(vec![int(1)], 5),
                upsert(
                    vec![int(2)],
                    customer_row(2, "Anne", "Kretchmar", "annek@noanswer.org"),
                    5
                ),
            ]
        );
    }
}

#[test]
fn update_with_full_before_and_same_key_is_one_upsert() {
    let before = customer(1, "Anne", "Kretchmar", "annek@noanswer.org");
    let after = customer(1, "Anne", "Kretchmar", "anne@example.org");
    let value = pg_value(&payload("u", &before, &after, &pg_source(24023500, 559)));
    let mut d = decoder(customers(), KeySource::MessageKey);
    assert_eq!(
        run(&mut d, Some(&pg_key(1)), Some(&value), 6).unwrap(),
        vec![upsert(
            vec![int(1)],
            customer_row(1, "Anne", "Kretchmar", "anne@example.org"),
            6
        )]
    );
}

#[test]
fn update_whose_before_lacks_key_fields_is_one_upsert() {
    let before = r#"{"email":"old@example.org"}"#;
    let after = customer(1, "Anne", "Kretchmar", "anne@example.org");
    let value = payload("u", before, &after, &pg_source(1, 1));
    let mut d = decoder(customers(), KeySource::MessageKey);
    assert_eq!(
        run(&mut d, Some(r#"{"id":1}"#), Some(&value), 0)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn fields_mode_ignores_the_message_key() {
    let after = customer(7, "A", "B", "c@d");
    let value = pg_value(&payload("c", "null", &after, &pg_source(1, 1)));
    let mut d = decoder(
        customers(),
        KeySource::Fields(vec!["email".into(), "id".into()]),
    );
    assert_eq!(d.key_columns(), Some(&[0usize, 3][..]));
    // Keys in layout column order (id, email), whatever the configured order; no key needed.
    for key in [None, Some("not json"), Some(r#"{"other":1}"#)] {
        assert_eq!(
            run(&mut d, key, Some(&value), 1).unwrap(),
            vec![upsert(
                vec![int(7), text("c@d")],
                customer_row(7, "A", "B", "c@d"),
                1
            )]
        );
    }
}

#[test]
fn fields_mode_delete_reads_before_image_else_message_key() {
    let mut d = decoder(customers(), KeySource::Fields(vec!["id".into()]));
    let value = payload("d", "null", "null", &pg_source(1, 1));
    // No before image (REPLICA IDENTITY DEFAULT on a table without a key): the message key.
    assert_eq!(
        run(&mut d, Some(&pg_key(1)), Some(&value), 0).unwrap(),
        vec![delete(vec![int(1)], 0)]
    );
    let err = run(&mut d, None, Some(&value), 0).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("before") && msg.contains("\"id\""), "{msg}");

    let partial = payload("d", r#"{"email":"x"}"#, "null", &pg_source(1, 1));
    let msg = run(&mut d, None, Some(&partial), 0)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("lacks some of the key fields"), "{msg}");
}

#[test]
fn key_field_missing_from_after_falls_back_to_message_key() {
    let mut d = decoder(customers(), KeySource::MessageKey);
    let after = r#"{"first_name":"Anne","last_name":"K","email":"a@b"}"#;
    let value = payload("u", "null", after, &pg_source(1, 1));
    assert_eq!(
        run(&mut d, Some(&pg_key(9)), Some(&value), 0).unwrap(),
        vec![upsert(
            vec![int(9)],
            vec![Value::Null, text("Anne"), text("K"), text("a@b")],
            0
        )]
    );
    // In Fields mode there is nothing to fall back to.
    let mut d = decoder(customers(), KeySource::Fields(vec!["id".into()]));
    let msg = run(&mut d, Some(&pg_key(9)), Some(&value), 0)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("\"id\" is missing from the \"after\" row image"),
        "{msg}"
    );
}
