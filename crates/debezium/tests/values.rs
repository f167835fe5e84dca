//! JSON → Value conversion of row images.

mod common;

use common::*;
use tidemark_debezium::{DecodeError, KeySource};
use tidemark_model::{ColumnType, RowOp, Value};

fn all_types() -> std::sync::Arc<tidemark_model::TableLayout> {
    layout(
        "public.all_types",
        &[
            ("id", ColumnType::Int64),
            ("t", ColumnType::Text),
            ("i", ColumnType::Int64),
            ("f", ColumnType::Float64),
            ("b", ColumnType::Bool),
            ("bin", ColumnType::Bytes),
            ("j", ColumnType::Other),
            ("missing", ColumnType::Text),
        ],
        &[],
    )
}

/// Decodes one create event whose after image is `after`; returns the row.
fn row(after: &str) -> Result<Vec<Value>, DecodeError> {
    let mut d = decoder(all_types(), KeySource::Fields(vec!["id".into()]));
    let value = payload("c", "null", after, &pg_source(1, 1));
    let mut changes = run(&mut d, None, Some(&value), 0)?;
    assert_eq!(changes.len(), 1);
    match changes.remove(0).op {
        RowOp::Upsert(values) => Ok(values),
        RowOp::Delete => panic!("expected an upsert"),
    }
}

#[test]
fn scalar_types() {
    let values = row(
        r#"{"id":1,"t":"hello","i":-9223372036854775808,"f":2.5e-3,"b":false,"bin":"3q2+7w==","j":null,"unmapped":[1,2]}"#,
    )
    .unwrap();
    assert_eq!(
        values,
        vec![
            int(1),
            text("hello"),
            int(i64::MIN),
            Value::Float(0.0025),
            Value::Bool(false),
            Value::Bytes(vec![0xde, 0xad, 0xbe, 0xef]), // base64 bytes for a bytea column
            Value::Null,
            Value::Null, // absent field
        ]
    );
}

#[test]
fn null_is_not_empty_string() {
    let values = row(r#"{"id":1,"t":"","i":null}"#).unwrap();
    assert_eq!(values[1], text(""));
    assert_eq!(values[2], Value::Null);
    assert_ne!(values[1], values[2]);
}

#[test]
fn unicode_and_escapes() {
    let values = row(
        r#"{"id":1,"t":"tab\tquote\"back\\slash\/ \u00e9\u4e2d \ud83d\ude00 ünï 🦀","b":true}"#,
    )
    .unwrap();
    assert_eq!(values[1], text("tab\tquote\"back\\slash/ é中 😀 ünï 🦀"));
    // Escaped field names are unescaped before the column lookup.
    let values = row(r#"{"\u0069d":2,"\u0074":"x"}"#).unwrap();
    assert_eq!((values[0].clone(), values[1].clone()), (int(2), text("x")));
}

#[test]
fn numbers() {
    let values = row(r#"{"id":1,"i":9223372036854775807,"f":1.0}"#).unwrap();
    assert_eq!(values[2], int(i64::MAX));
    assert_eq!(values[3], Value::Float(1.0));
    // Beyond u64: the parser gives a float.
    let values = row(r#"{"id":1,"f":123456789012345678901234567890}"#).unwrap();
    assert_eq!(values[3], Value::Float(1.2345678901234568e29));
}

#[test]
fn integer_out_of_range() {
    let err = row(r#"{"id":1,"i":9223372036854775808}"#).unwrap_err();
    assert_eq!(
        err,
        DecodeError::IntegerOutOfRange {
            field: "i".into(),
            value: 9223372036854775808
        }
    );
    assert!(err.to_string().contains("\"i\""), "{err}");
    // In a message key too.
    let mut d = decoder(all_types(), KeySource::MessageKey);
    let value = payload("d", "null", "null", &pg_source(1, 1));
    let err = run(
        &mut d,
        Some(r#"{"id":18446744073709551615}"#),
        Some(&value),
        0,
    )
    .unwrap_err();
    assert!(
        matches!(err, DecodeError::IntegerOutOfRange { ref field, .. } if field == "id"),
        "{err:?}"
    );
}

#[test]
fn unmapped_out_of_range_integers_are_ignored() {
    assert!(row(r#"{"id":1,"other":18446744073709551615}"#).is_ok());
}

#[test]
fn objects_and_arrays_become_compact_json_text() {
    let values =
        row(r#"{"id":1,"j":{ "b" : [1, 2.5, "x\"y", null, true], "a": {} },"t":[ ]}"#).unwrap();
    assert_eq!(values[6], text(r#"{"b":[1,2.5,"x\"y",null,true],"a":{}}"#));
    assert_eq!(values[1], text("[]"));
    // Integers beyond i64 inside JSON text are kept as written.
    let values = row(r#"{"id":1,"j":[18446744073709551615]}"#).unwrap();
    assert_eq!(values[6], text("[18446744073709551615]"));
}

#[test]
fn duplicate_image_field_last_wins() {
    let values = row(r#"{"id":1,"t":"a","t":"b"}"#).unwrap();
    assert_eq!(values[1], text("b"));
}
