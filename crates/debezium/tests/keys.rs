//! Key resolution: composite keys, field order, renamed columns, changed key shapes, NULLs.

mod common;

use common::*;
use tidemark_debezium::{DecodeError, KeySource, TableDecoder};
use tidemark_model::{ColumnType, Value};

/// `order_lines(order_id, line_no, sku, qty)` with composite key (order_id, line_no).
fn order_lines() -> std::sync::Arc<tidemark_model::TableLayout> {
    layout(
        "sales.order_lines",
        &[
            ("order_id", ColumnType::Int64),
            ("line_no", ColumnType::Int32),
            ("sku", ColumnType::Text),
            ("qty", ColumnType::Int32),
        ],
        &[],
    )
}

fn line_event(op: &str, before: &str, after: &str) -> String {
    payload(op, before, after, &mysql_source(1, 0, "false"))
}

#[test]
fn composite_key_in_either_field_order() {
    let after = r#"{"order_id":10,"line_no":2,"sku":"A-1","qty":3}"#;
    let row = vec![int(10), int(2), text("A-1"), int(3)];
    let keys = [
        r#"{"order_id":10,"line_no":2}"#.to_string(),
        r#"{"line_no":2,"order_id":10}"#.to_string(),
        envelope(
            &key_schema(
                "s.sales.order_lines",
                &[("line_no", "int32"), ("order_id", "int64")],
            ),
            r#"{"line_no":2,"order_id":10}"#,
        ),
    ];
    for first in &keys {
        let mut d = decoder(order_lines(), KeySource::MessageKey);
        run(
            &mut d,
            Some(first),
            Some(&line_event("c", "null", after)),
            0,
        )
        .unwrap();
        assert_eq!(d.key_columns(), Some(&[0usize, 1][..]));
        for key in &keys {
            assert_eq!(
                run(&mut d, Some(key), Some(&line_event("c", "null", after)), 1).unwrap(),
                vec![upsert(vec![int(10), int(2)], row.clone(), 1)]
            );
            assert_eq!(
                run(&mut d, Some(key), Some(&line_event("d", after, "null")), 2).unwrap(),
                vec![delete(vec![int(10), int(2)], 2)]
            );
        }
    }
}

#[test]
fn composite_key_change_in_update() {
    let before = r#"{"order_id":10,"line_no":2,"sku":"A-1","qty":3}"#;
    let after = r#"{"order_id":10,"line_no":5,"sku":"A-1","qty":3}"#;
    let mut d = decoder(order_lines(), KeySource::MessageKey);
    assert_eq!(
        run(
            &mut d,
            Some(r#"{"order_id":10,"line_no":5}"#),
            Some(&line_event("u", before, after)),
            3
        )
        .unwrap(),
        vec![
            delete(vec![int(10), int(2)], 3),
            upsert(
                vec![int(10), int(5)],
                vec![int(10), int(5), text("A-1"), int(3)],
                3
            ),
        ]
    );
}

#[test]
fn renamed_columns_map_source_fields() {
    // Target column `customer_id` is fed by Debezium field `CUST_ID`, `name` by `CUST_NAME`.
    let customer_target = || {
        layout(
            "public.customer_target",
            &[
                ("customer_id", ColumnType::Text),
                ("name", ColumnType::Text),
                ("tier", ColumnType::Int16),
            ],
            &[("CUST_ID", "customer_id"), ("CUST_NAME", "name")],
        )
    };
    let layout = customer_target();
    let after =
        r#"{"CUST_ID":"C-1","CUST_NAME":"Ann","tier":2,"customer_id":"ignored","extra":true}"#;
    let value = payload("c", "null", after, &mysql_source(1, 0, "false"));
    let mut d = decoder(layout.clone(), KeySource::MessageKey);
    assert_eq!(
        run(&mut d, Some(r#"{"CUST_ID":"C-1"}"#), Some(&value), 0).unwrap(),
        vec![upsert(
            vec![text("C-1")],
            vec![text("C-1"), text("Ann"), int(2)],
            0
        )]
    );
    let mut d = decoder(layout.clone(), KeySource::Fields(vec!["CUST_ID".into()]));
    assert_eq!(
        run(&mut d, None, Some(&value), 0).unwrap()[0].key.0,
        vec![text("C-1")]
    );
    // The target column name is not a source field once renamed.
    let err = TableDecoder::new(
        cell(&layout),
        KeySource::Fields(vec!["customer_id".into()]),
        Default::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, DecodeError::UnknownConfiguredKeyField { ref field, .. } if field == "customer_id"),
        "{err}"
    );
    // A table whose key is not decided yet: an unknown key field does not decide it.
    let mut d = decoder(customer_target(), KeySource::MessageKey);
    let err = run(&mut d, Some(r#"{"customer_id":"C-1"}"#), Some(&value), 0).unwrap_err();
    assert!(
        matches!(err, DecodeError::UnknownKeyField { ref field, .. } if field == "customer_id"),
        "{err}"
    );
    assert!(err.to_string().contains("customer_target"), "{err}");
    assert_eq!(d.key_columns(), None);
}

#[test]
fn key_fields_changed_is_an_error() {
    let after = r#"{"order_id":10,"line_no":2,"sku":"A-1","qty":3}"#;
    let value = line_event("c", "null", after);
    let mut d = decoder(order_lines(), KeySource::MessageKey);
    run(
        &mut d,
        Some(r#"{"order_id":10,"line_no":2}"#),
        Some(&value),
        0,
    )
    .unwrap();
    for key in [
        r#"{"order_id":10}"#,
        r#"{"order_id":10,"line_no":2,"sku":"A-1"}"#,
        r#"{"order_id":10,"sku":"A-1"}"#,
        r#"{"order_id":10,"nope":2}"#,
    ] {
        let err = run(&mut d, Some(key), Some(&value), 1).unwrap_err();
        match &err {
            DecodeError::KeyFieldsChanged { expected, found } => {
                assert_eq!(expected, &["order_id", "line_no"]);
                assert!(found.iter().any(|f| f == "order_id"));
            }
            other => panic!("{key}: {other:?}"),
        }
        assert!(err.to_string().contains("[order_id, line_no]"), "{err}");
    }
    // A duplicated field in the key JSON is rejected.
    let err = run(
        &mut d,
        Some(r#"{"order_id":10,"order_id":10}"#),
        Some(&value),
        1,
    )
    .unwrap_err();
    assert!(err.to_string().contains("appears twice"), "{err}");
}

#[test]
fn missing_message_key() {
    let value = line_event("c", "null", r#"{"order_id":10,"line_no":2}"#);
    let mut d = decoder(order_lines(), KeySource::MessageKey);
    for key in [
        None,
        Some(""),
        Some("null"),
        Some(r#"{"schema":null,"payload":null}"#),
    ] {
        let err = run(&mut d, key, Some(&value), 0).unwrap_err();
        assert!(
            matches!(err, DecodeError::MissingKey { .. }),
            "{key:?}: {err:?}"
        );
        assert!(err.to_string().contains("no message key"), "{err}");
    }
    let err = run(&mut d, Some("{}"), Some(&value), 0).unwrap_err();
    assert!(err.to_string().contains("no fields"), "{err}");
}

#[test]
fn null_key_values_are_errors() {
    let mut d = decoder(order_lines(), KeySource::MessageKey);
    let value = line_event("c", "null", r#"{"order_id":10,"line_no":2}"#);
    let err = run(
        &mut d,
        Some(r#"{"order_id":10,"line_no":null}"#),
        Some(&value),
        0,
    )
    .unwrap_err();
    assert_eq!(
        err,
        DecodeError::NullKeyValue {
            field: "line_no".into(),
            from: "message key"
        }
    );
    let value = line_event("c", "null", r#"{"order_id":10,"line_no":null}"#);
    let err = run(
        &mut d,
        Some(r#"{"order_id":10,"line_no":2}"#),
        Some(&value),
        0,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "key field \"line_no\" is NULL in the after image"
    );
    let value = line_event(
        "u",
        r#"{"order_id":null,"line_no":2}"#,
        r#"{"order_id":10,"line_no":2}"#,
    );
    let err = run(
        &mut d,
        Some(r#"{"order_id":10,"line_no":2}"#),
        Some(&value),
        0,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::NullKeyValue {
                from: "before image",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn fields_mode_configuration_errors() {
    let err = TableDecoder::new(
        cell(&order_lines()),
        KeySource::Fields(vec![]),
        Default::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no key fields"), "{err}");
    let err = TableDecoder::new(
        cell(&order_lines()),
        KeySource::Fields(vec!["sku".into(), "sku".into()]),
        Default::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("\"sku\" is configured twice"),
        "{err}"
    );
    let err = TableDecoder::new(
        cell(&order_lines()),
        KeySource::Fields(vec!["nope".into()]),
        Default::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("\"nope\"") && err.to_string().contains("sales.order_lines"),
        "{err}"
    );
}

#[test]
fn message_key_values_are_typed_like_row_values() {
    let layout = layout(
        "t",
        &[
            ("k", ColumnType::Text),
            ("f", ColumnType::Float64),
            ("b", ColumnType::Bool),
        ],
        &[],
    );
    let mut d = decoder(layout, KeySource::MessageKey);
    let value = payload("d", "null", "null", &mysql_source(1, 0, "false"));
    assert_eq!(
        run(
            &mut d,
            Some(r#"{"b":true,"k":"a\u00e9\"","f":1.5}"#),
            Some(&value),
            0
        )
        .unwrap(),
        vec![delete(
            vec![text("aé\""), Value::Float(1.5), Value::Bool(true)],
            0
        )]
    );
}

#[test]
fn key_field_named_like_envelope_parts() {
    // A key struct whose fields happen to be `schema` and `payload` but are not objects.
    let layout = layout(
        "t",
        &[("schema", ColumnType::Text), ("payload", ColumnType::Int32)],
        &[],
    );
    let mut d = decoder(layout, KeySource::MessageKey);
    let value = payload("d", "null", "null", &mysql_source(1, 0, "false"));
    assert_eq!(
        run(
            &mut d,
            Some(r#"{"schema":"s","payload":3}"#),
            Some(&value),
            0
        )
        .unwrap(),
        vec![delete(vec![text("s"), int(3)], 0)]
    );
}

/// Two owners decode the same table, each with its own decoder over the table's one layout:
/// the first message key either of them sees decides the key for both, an owner that has seen
/// nothing already knows it, and a record whose key fields differ is an error, not a second key.
#[test]
fn owners_of_one_table_share_one_key_decision() {
    let layout = order_lines();
    let mut a = decoder(layout.clone(), KeySource::MessageKey);
    let mut b = decoder(layout.clone(), KeySource::MessageKey);
    let idle = decoder(layout.clone(), KeySource::MessageKey);
    assert_eq!(idle.key_columns(), None);
    let after = r#"{"order_id":10,"line_no":2,"sku":"A-1","qty":3}"#;
    run(
        &mut a,
        Some(r#"{"order_id":10,"line_no":2}"#),
        Some(&line_event("c", "null", after)),
        0,
    )
    .unwrap();
    assert_eq!(idle.key_columns(), Some(&[0usize, 1][..]));
    assert_eq!(layout.key(), Some(&[0usize, 1][..]));
    // Owner b's first key has other fields: an error naming both field sets, nothing decoded.
    let err = run(
        &mut b,
        Some(r#"{"order_id":10}"#),
        Some(&line_event("c", "null", after)),
        5,
    )
    .unwrap_err();
    assert!(
        matches!(&err, DecodeError::KeyFieldsChanged { expected, found }
            if expected == &["order_id", "line_no"] && found == &["order_id"]),
        "{err}"
    );
    assert_eq!(
        layout.key(),
        Some(&[0usize, 1][..]),
        "the decision did not move"
    );
    // b still decodes records keyed like the decision.
    run(
        &mut b,
        Some(r#"{"line_no":2,"order_id":10}"#),
        Some(&line_event("c", "null", after)),
        6,
    )
    .unwrap();
}

/// A configured key decides at start, before any record: a message key with other fields is
/// not consulted for the key (configured keys read the row images).
#[test]
fn a_configured_key_is_decided_when_the_decoder_is_built() {
    let layout = order_lines();
    let _d = decoder(
        layout.clone(),
        KeySource::Fields(vec!["line_no".into(), "order_id".into()]),
    );
    assert_eq!(layout.key(), Some(&[0usize, 1][..]));
    let err = TableDecoder::new(
        cell(&layout),
        KeySource::Fields(vec!["order_id".into()]),
        Default::default(),
    )
    .unwrap_err();
    assert!(matches!(err, DecodeError::KeyFieldsChanged { .. }), "{err}");
}

/// A delete without a before image (a PostgreSQL table whose replica identity gives none) with
/// configured key fields takes them from the message key; without them it is an error saying
/// what is missing, and only the key is ever taken (never other before-image values).
#[test]
fn configured_key_deletes_without_a_before_image_read_the_message_key() {
    let fields = KeySource::Fields(vec!["order_id".into(), "line_no".into()]);
    let mut d = decoder(order_lines(), fields);
    let value = line_event("d", "null", "null");
    assert_eq!(
        run(
            &mut d,
            Some(r#"{"line_no":2,"order_id":10}"#),
            Some(&value),
            4
        )
        .unwrap(),
        vec![delete(vec![int(10), int(2)], 4)]
    );
    for key in [
        None,
        Some(r#"{"order_id":10}"#),
        Some(r#"{"order_id":10,"line_no":null}"#),
    ] {
        let err = run(&mut d, key, Some(&value), 5).unwrap_err();
        assert!(
            matches!(err, DecodeError::MissingKey { .. })
                && err.to_string().contains("no \"before\""),
            "{key:?}: {err}"
        );
    }
}
