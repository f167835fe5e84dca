//! Debezium's own records — heartbeats, schema changes, transaction metadata — are recognised
//! and never mistaken for rows; a record that is none of them and has no `op` is still an error.

mod common;

use common::*;
use tidemark_debezium::{Control, DecodeError, Decoded, KeySource};

fn decoded(value: &str) -> Result<Decoded, DecodeError> {
    let mut d = decoder(customers(), KeySource::Fields(vec!["id".into()]));
    let mut out = Vec::new();
    let r = d.decode(None, Some(value.as_bytes()), coord(0), &mut out);
    assert!(out.is_empty());
    r
}

#[test]
fn heartbeats_schema_changes_and_transactions_are_not_rows() {
    assert_eq!(
        decoded(r#"{"ts_ms":1666266000000}"#),
        Ok(Decoded::Control(Control::Heartbeat))
    );
    assert_eq!(
        decoded(&envelope(
            r#"{"type":"struct","fields":[{"type":"int64","optional":false,"field":"ts_ms"}],"optional":false,"name":"io.debezium.connector.common.Heartbeat"}"#,
            r#"{"ts_ms":1666266000000}"#
        )),
        Ok(Decoded::Control(Control::Heartbeat))
    );
    let ddl = r#"{"source":{"version":"2.5.0.Final","connector":"mysql","name":"dbserver1","ts_ms":0,"db":"inventory","table":"customers"},"ts_ms":1,"databaseName":"inventory","schemaName":null,"ddl":"ALTER TABLE customers ADD COLUMN x INT","tableChanges":[{"type":"ALTER","id":"\"inventory\".\"customers\"","table":{"columns":[]}}]}"#;
    assert_eq!(decoded(ddl), Ok(Decoded::Control(Control::SchemaChange)));
    let tx = r#"{"status":"BEGIN","id":"571:53195829","ts_ms":1486500577125,"event_count":null,"data_collections":null}"#;
    assert_eq!(decoded(tx), Ok(Decoded::Control(Control::Transaction)));
}

#[test]
fn a_record_without_op_that_is_not_a_control_record_is_an_error() {
    assert_eq!(
        decoded(r#"{"ts_ms":1,"source":{}}"#),
        Err(DecodeError::MissingOp)
    );
    assert_eq!(
        decoded(r#"{"after":{"id":1},"status":"BEGIN"}"#),
        Err(DecodeError::MissingOp)
    );
}
