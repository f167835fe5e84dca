//! Malformed and unsupported records: typed errors with messages that say what is wrong, and
//! nothing appended to the output.

mod common;

use common::*;
use tidemark_debezium::{parse_event, DecodeError, Decoded, KeySource, Op};

fn create(after: &str) -> String {
    payload("c", "null", after, &mysql_source(1, 0, "false"))
}

/// Decodes with a MessageKey decoder and asserts nothing was appended.
fn fail(key: Option<&str>, value: &str) -> DecodeError {
    let mut d = decoder(customers(), KeySource::MessageKey);
    let mut out = vec![delete(vec![int(0)], 0)];
    let err = d
        .decode(
            key.map(str::as_bytes),
            Some(value.as_bytes()),
            coord(1),
            &mut out,
        )
        .unwrap_err();
    assert_eq!(out.len(), 1, "nothing appended on error");
    err
}

#[test]
fn missing_op() {
    let key = Some(r#"{"id":1}"#);
    for value in [
        r#"{"before":null,"after":{"id":1}}"#.to_string(),
        r#"{"op":null,"after":{"id":1}}"#.to_string(),
        "{}".to_string(),
        envelope("{}", r#"{"after":{"id":1}}"#),
        r#"{"schema":{}}"#.to_string(),
    ] {
        let err = fail(key, &value);
        assert_eq!(err, DecodeError::MissingOp, "{value}");
        assert!(err.to_string().contains("\"op\""));
        assert_eq!(
            parse_event(value.as_bytes()).unwrap_err(),
            DecodeError::MissingOp,
            "{value}"
        );
    }
}

#[test]
fn unknown_ops_are_errors_naming_the_known_ones() {
    let value = r#"{"op":"x","ts_ms":1}"#;
    let err = fail(Some(r#"{"id":1}"#), value);
    assert_eq!(err, DecodeError::UnsupportedOp("x".into()));
    assert!(err.to_string().contains("truncate"), "{err}");
    assert_eq!(
        parse_event(value.as_bytes()).unwrap_err(),
        DecodeError::UnsupportedOp("x".into())
    );
}

/// Truncates and logical decoding messages are recognized, never mistaken for rows, and need
/// no message key (Debezium sends them without one).
#[test]
fn truncates_and_messages_are_recognized_and_produce_no_rows() {
    let truncate =
        r#"{"before":null,"after":null,"source":{"connector":"postgresql"},"op":"t","ts_ms":1}"#;
    let message = r#"{"op":"m","ts_ms":1,"message":{"prefix":"foo","content":"YmFy"}}"#;
    let schema_envelope = envelope("null", truncate);
    for (value, expected) in [
        (truncate, Decoded::Truncate),
        (message, Decoded::Message),
        (schema_envelope.as_str(), Decoded::Truncate),
    ] {
        let mut d = decoder(customers(), KeySource::MessageKey);
        let mut out = Vec::new();
        let got = d
            .decode(None, Some(value.as_bytes()), coord(3), &mut out)
            .unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(got, expected, "{value}");
        assert!(out.is_empty(), "{value}: {out:?}");
        assert_eq!(d.key_columns(), None, "a truncate decides no key");
    }
}

#[test]
fn invalid_json() {
    for value in [
        r#"{"op":"c","after":{"id":1}"#,
        r#"{"op":"c"} trailing"#,
        "nul",
        "{'op':'c'}",
        "  ",
        "\u{1}",
    ] {
        let err = fail(Some(r#"{"id":1}"#), value);
        match &err {
            DecodeError::InvalidJson { part, reason } => {
                assert_eq!(*part, "value");
                assert!(!reason.is_empty());
            }
            other => panic!("{value}: {other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with("the record value is not a valid Debezium JSON"),
            "{err}"
        );
        assert!(
            matches!(
                parse_event(value.as_bytes()),
                Err(DecodeError::InvalidJson { .. })
            ),
            "{value}"
        );
    }
    let err = fail(Some(r#"{"id":1"#), &create(r#"{"id":1}"#));
    assert!(
        matches!(err, DecodeError::InvalidJson { part: "key", .. }),
        "{err:?}"
    );
    // The parser's position is in the reason.
    let err = fail(Some(r#"{"id":1}"#), r#"{"op":"c","after":{"id":1,}}"#);
    assert!(err.to_string().contains("column"), "{err}");
}

#[test]
fn wrong_json_types() {
    for (value, found) in [
        (r#""c""#, "a string"),
        ("[1]", "an array"),
        ("12", "a number"),
        ("true", "a boolean"),
    ] {
        let err = fail(Some(r#"{"id":1}"#), value);
        assert_eq!(
            err,
            DecodeError::NotAnObject {
                part: "value",
                found
            }
        );
        assert_eq!(parse_event(value.as_bytes()).unwrap_err(), err);
    }
    let err = fail(Some("1001"), &create(r#"{"id":1}"#));
    assert_eq!(
        err.to_string(),
        "the record key must be a JSON object (or null), found a number"
    );
    // A row image that is not an object.
    let err = fail(Some(r#"{"id":1}"#), &create(r#""oops""#));
    assert!(err.to_string().contains("row image"), "{err}");
    // An op that is not a string.
    let err = fail(Some(r#"{"id":1}"#), r#"{"op":5,"after":{"id":1}}"#);
    assert!(err.to_string().contains("op code"), "{err}");
}

#[test]
fn missing_images() {
    for op in ["c", "r", "u"] {
        let value = payload(op, "null", "null", &mysql_source(1, 0, "false"));
        let err = fail(Some(r#"{"id":1}"#), &value);
        let expected_op = Op::from_code(op).unwrap();
        assert_eq!(
            err,
            DecodeError::MissingImage {
                op: expected_op,
                image: "after"
            }
        );
        assert!(err.to_string().contains("\"after\""), "{err}");
    }
    let err = fail(Some(r#"{"id":1}"#), r#"{"op":"u","before":{"id":1}}"#);
    assert_eq!(
        err.to_string(),
        "update (u) event has no \"after\" row image (it is null or absent)"
    );
}

#[test]
fn envelope_beside_images_is_rejected() {
    let value = r#"{"payload":{"op":"c","after":{"id":1}},"after":{"id":2}}"#;
    let err = fail(Some(r#"{"id":1}"#), value);
    assert!(
        matches!(err, DecodeError::InvalidJson { part: "value", .. }),
        "{err:?}"
    );
    assert_eq!(parse_event(value.as_bytes()).unwrap_err(), err);
    // With an op at the top level it is a bare event and `payload` is just an unknown field.
    let mut d = decoder(customers(), KeySource::MessageKey);
    let value = r#"{"payload":{"op":"d"},"op":"c","after":{"id":2}}"#;
    assert_eq!(
        run(&mut d, Some(r#"{"id":2}"#), Some(value), 0).unwrap()[0]
            .key
            .0,
        vec![int(2)]
    );
    assert_eq!(
        parse_event(value.as_bytes()).unwrap().unwrap().op,
        Op::Create
    );
}

#[test]
fn duplicate_event_fields_are_rejected() {
    let err = fail(
        Some(r#"{"id":1}"#),
        r#"{"op":"c","op":"d","after":{"id":1}}"#,
    );
    assert!(err.to_string().contains("duplicate field `op`"), "{err}");
}

#[test]
fn decoder_recovers_after_errors() {
    let mut d = decoder(customers(), KeySource::MessageKey);
    assert!(run(
        &mut d,
        Some(r#"{"id":1}"#),
        Some(r#"{"op":"c","after":{"id":18446744073709551615}}"#),
        0
    )
    .is_err());
    assert!(run(&mut d, Some(r#"{"id":1}"#), Some("{"), 1).is_err());
    assert_eq!(
        run(
            &mut d,
            Some(r#"{"id":1}"#),
            Some(&create(&customer(1, "a", "b", "c"))),
            2
        )
        .unwrap(),
        vec![upsert(vec![int(1)], customer_row(1, "a", "b", "c"), 2)]
    );
}
