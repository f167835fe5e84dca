//! Shared fixtures: table layouts and Debezium records in the shapes the MySQL and PostgreSQL
//! connectors write through Kafka Connect's JSON converter.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use tidemark_debezium::{DecodeError, KeySource, TableDecoder};
use tidemark_model::{Change, ColumnType, Key, RecordCoord, RowOp, TableLayout, TableName, Value};

/// A layout with these target columns and renames (source field → target column).
pub fn layout(
    table: &str,
    columns: &[(&str, ColumnType)],
    renames: &[(&str, &str)],
) -> Arc<TableLayout> {
    let cols = columns
        .iter()
        .map(|(n, t)| (n.to_string(), *t, format!("{t:?}").to_lowercase()))
        .collect();
    let renames: BTreeMap<String, String> = renames
        .iter()
        .map(|(s, t)| (s.to_string(), t.to_string()))
        .collect();
    Arc::new(
        TableLayout::from_target(TableName::parse(table).unwrap(), cols, &renames, &[]).unwrap(),
    )
}

/// The `inventory.customers` table of the Debezium tutorial.
pub fn customers() -> Arc<TableLayout> {
    layout(
        "inventory.customers",
        &[
            ("id", ColumnType::Int32),
            ("first_name", ColumnType::Text),
            ("last_name", ColumnType::Text),
            ("email", ColumnType::Text),
        ],
        &[],
    )
}

pub fn decoder(layout: Arc<TableLayout>, key: KeySource) -> TableDecoder {
    TableDecoder::new(cell(&layout), key, Default::default()).unwrap()
}

/// A fixed cell of `layout`, sharing its key decision (clones of a layout share it).
pub fn cell(layout: &TableLayout) -> Arc<tidemark_model::LayoutCell> {
    Arc::new(tidemark_model::LayoutCell::fixed(layout.clone()))
}

pub fn coord(offset: i64) -> RecordCoord {
    RecordCoord {
        partition: 0,
        offset,
    }
}

/// Decodes one record and returns its changes.
pub fn run(
    d: &mut TableDecoder,
    key: Option<&str>,
    value: Option<&str>,
    offset: i64,
) -> Result<Vec<Change>, DecodeError> {
    let mut out = Vec::new();
    d.decode(
        key.map(str::as_bytes),
        value.map(str::as_bytes),
        coord(offset),
        &mut out,
    )?;
    Ok(out)
}

pub fn int(i: i64) -> Value {
    Value::Int(i)
}

pub fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

pub fn upsert(key: Vec<Value>, row: Vec<Value>, offset: i64) -> Change {
    Change {
        key: Key(key),
        op: RowOp::Upsert(row),
        coord: coord(offset),
    }
}

pub fn delete(key: Vec<Value>, offset: i64) -> Change {
    Change {
        key: Key(key),
        op: RowOp::Delete,
        coord: coord(offset),
    }
}

/// Wraps a payload in the Kafka Connect JSON converter envelope.
pub fn envelope(schema: &str, payload: &str) -> String {
    format!(r#"{{"schema":{schema},"payload":{payload}}}"#)
}

/// The key schema Debezium writes for these `(field, connect type)` key columns.
pub fn key_schema(name: &str, fields: &[(&str, &str)]) -> String {
    format!(
        r#"{{"type":"struct","fields":[{}],"optional":false,"name":"{name}.Key"}}"#,
        struct_fields(fields)
    )
}

fn struct_fields(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(f, t)| format!(r#"{{"type":"{t}","optional":false,"field":"{f}"}}"#))
        .collect::<Vec<_>>()
        .join(",")
}

/// The value (Envelope) schema Debezium writes for a table with these columns.
pub fn value_schema(name: &str, connector: &str, fields: &[(&str, &str)]) -> String {
    let row = struct_fields(fields);
    let source = r#"{"type":"struct","fields":[{"type":"string","optional":false,"field":"version"},{"type":"string","optional":false,"field":"connector"},{"type":"string","optional":false,"field":"name"},{"type":"int64","optional":false,"field":"ts_ms"},{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,last,false,incremental"},"default":"false","field":"snapshot"},{"type":"string","optional":false,"field":"db"},{"type":"string","optional":true,"field":"table"},{"type":"string","optional":true,"field":"file"},{"type":"int64","optional":true,"field":"pos"},{"type":"int32","optional":true,"field":"row"},{"type":"int64","optional":true,"field":"txId"},{"type":"int64","optional":true,"field":"lsn"}],"optional":false,"name":"io.debezium.connector.SOURCE.Source","field":"source"}"#
        .replace("SOURCE", connector);
    format!(
        r#"{{"type":"struct","fields":[{{"type":"struct","fields":[{row}],"optional":true,"name":"{name}.Value","field":"before"}},{{"type":"struct","fields":[{row}],"optional":true,"name":"{name}.Value","field":"after"}},{source},{{"type":"string","optional":false,"field":"op"}},{{"type":"int64","optional":true,"field":"ts_ms"}},{{"type":"struct","fields":[{{"type":"string","optional":false,"field":"id"}},{{"type":"int64","optional":false,"field":"total_order"}},{{"type":"int64","optional":false,"field":"data_collection_order"}}],"optional":true,"name":"event.block","version":1,"field":"transaction"}}],"optional":false,"name":"{name}.Envelope","version":1}}"#
    )
}

pub const CUSTOMER_FIELDS: &[(&str, &str)] = &[
    ("id", "int32"),
    ("first_name", "string"),
    ("last_name", "string"),
    ("email", "string"),
];

/// A MySQL connector `source` block.
pub fn mysql_source(pos: i64, row: i64, snapshot: &str) -> String {
    format!(
        r#"{{"version":"2.5.0.Final","connector":"mysql","name":"mysql-server-1","ts_ms":1465581029100,"snapshot":"{snapshot}","db":"inventory","table":"customers","server_id":223344,"gtid":null,"file":"mysql-bin.000003","pos":{pos},"row":{row},"thread":7,"query":null}}"#
    )
}

/// A PostgreSQL connector `source` block.
pub fn pg_source(lsn: i64, tx_id: i64) -> String {
    format!(
        r#"{{"version":"2.5.0.Final","connector":"postgresql","name":"PostgreSQL_server","ts_ms":1559033904863,"snapshot":"false","db":"postgres","sequence":"[\"24023119\",\"{lsn}\"]","schema":"public","table":"customers","txId":{tx_id},"lsn":{lsn},"xmin":null}}"#
    )
}

/// A bare change event payload.
pub fn payload(op: &str, before: &str, after: &str, source: &str) -> String {
    format!(
        r#"{{"before":{before},"after":{after},"source":{source},"op":"{op}","ts_ms":1465581029523,"transaction":null}}"#
    )
}

/// A customers row image.
pub fn customer(id: i64, first: &str, last: &str, email: &str) -> String {
    format!(r#"{{"id":{id},"first_name":"{first}","last_name":"{last}","email":"{email}"}}"#)
}

/// The decoded customers row.
pub fn customer_row(id: i64, first: &str, last: &str, email: &str) -> Vec<Value> {
    vec![int(id), text(first), text(last), text(email)]
}

/// A customers message key, bare or in the envelope.
pub fn customer_key(id: i64, with_envelope: bool) -> String {
    let bare = format!(r#"{{"id":{id}}}"#);
    if with_envelope {
        envelope(
            &key_schema("mysql-server-1.inventory.customers", &[("id", "int32")]),
            &bare,
        )
    } else {
        bare
    }
}

/// A customers change event value, bare or in the envelope.
pub fn customer_value(payload: &str, with_envelope: bool) -> String {
    if with_envelope {
        envelope(
            &value_schema(
                "mysql-server-1.inventory.customers",
                "mysql",
                CUSTOMER_FIELDS,
            ),
            payload,
        )
    } else {
        payload.to_string()
    }
}
