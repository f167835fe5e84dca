//! Layouts that follow the records' schema: `auto_create` makes the columns from the first
//! schema, `auto_evolve` adds and widens them, and refuses the rest.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use tidemark_debezium::{DecodeError, KeySource, TableDecoder};
use tidemark_model::{
    ColumnRules, ColumnType, Decimal, Evolution, FieldFilter, LayoutCell, RowOp, TableLayout,
    TableName, Value,
};

/// A row struct schema from raw Connect field schemas (`"field"` is added).
fn row_schema(fields: &[(&str, &str)]) -> String {
    let fields: Vec<String> = fields
        .iter()
        .map(|(name, schema)| {
            let body = schema.strip_suffix('}').unwrap_or(schema);
            format!(r#"{body},"field":"{name}"}}"#)
        })
        .collect();
    let row = format!(
        r#"{{"type":"struct","fields":[{}],"optional":true,"name":"db.t.Value""#,
        fields.join(",")
    );
    format!(
        r#"{{"type":"struct","fields":[{row},"field":"before"}},{row},"field":"after"}},{{"type":"string","optional":false,"field":"op"}}],"optional":false,"name":"db.t.Envelope"}}"#
    )
}

fn record(fields: &[(&str, &str)], after: &str) -> String {
    envelope(
        &row_schema(fields),
        &format!(r#"{{"before":null,"after":{after},"op":"c"}}"#),
    )
}

fn key(id: i64) -> String {
    envelope(
        &key_schema("db.t", &[("id", "int32")]),
        &format!(r#"{{"id":{id}}}"#),
    )
}

const ID: (&str, &str) = ("id", r#"{"type":"int32","optional":false}"#);
const NAME: (&str, &str) = ("name", r#"{"type":"string","optional":true}"#);
const PRICE: (&str, &str) = (
    "price",
    r#"{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2","connect.decimal.precision":"6"}}"#,
);
const QTY32: (&str, &str) = ("qty", r#"{"type":"int32","optional":true}"#);
const QTY64: (&str, &str) = ("qty", r#"{"type":"int64","optional":true}"#);
const QTY_TEXT: (&str, &str) = ("qty", r#"{"type":"string","optional":true}"#);
const SECRET: (&str, &str) = ("secret", r#"{"type":"string","optional":true}"#);

fn cell(evolution: Evolution, fields: FieldFilter) -> Arc<LayoutCell> {
    let table = TableName::parse("public.t").expect("name");
    let rules = ColumnRules {
        renames: BTreeMap::from([("name".to_string(), "full_name".to_string())]),
        unmanaged: vec![],
        fields,
    };
    Arc::new(LayoutCell::new(
        TableLayout::pending(table),
        evolution,
        rules,
    ))
}

fn columns(cell: &LayoutCell) -> Vec<(String, String)> {
    cell.current()
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.sql_type.clone()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

const BOTH: Evolution = Evolution {
    auto_create: true,
    auto_evolve: true,
};

#[test]
fn the_first_schema_makes_the_columns_and_later_ones_add_and_widen_them() {
    let cell = cell(BOTH, FieldFilter::Except(vec!["secret".into()]));
    let mut a = TableDecoder::new(cell.clone(), KeySource::MessageKey, Default::default())
        .expect("decoder");
    let mut b = TableDecoder::new(cell.clone(), KeySource::MessageKey, Default::default())
        .expect("decoder");
    let v1 = [ID, NAME, QTY32, SECRET];
    let changes = run(
        &mut a,
        Some(&key(1)),
        Some(&record(&v1, r#"{"id":1,"name":"a","qty":5,"secret":"x"}"#)),
        0,
    )
    .expect("decode");
    assert_eq!(
        columns(&cell),
        pairs(&[("id", "integer"), ("full_name", "text"), ("qty", "integer")]),
        "renamed, filtered"
    );
    assert_eq!(cell.current().key(), Some(&[0][..]));
    assert_eq!(
        changes[0].op,
        RowOp::Upsert(vec![int(1), text("a"), int(5)])
    );

    // v2: a new field and a wider type, seen first by the other decoder.
    let v2 = [ID, NAME, QTY64, PRICE];
    let changes = run(
        &mut b,
        Some(&key(2)),
        Some(&record(
            &v2,
            r#"{"id":2,"name":"b","qty":9000000000,"price":"ASs="}"#,
        )),
        1,
    )
    .expect("decode v2");
    assert_eq!(
        columns(&cell),
        pairs(&[
            ("id", "integer"),
            ("full_name", "text"),
            ("qty", "bigint"),
            ("price", "numeric(6,2)")
        ])
    );
    let price = Value::Decimal(Decimal::parse("2.99").expect("decimal"));
    assert_eq!(
        changes[0].op,
        RowOp::Upsert(vec![int(2), text("b"), int(9_000_000_000), price])
    );
    // The first decoder takes the new layout for its next record. An old-schema one (another
    // partition may still have some) is valid: NULL for the new column, as ADD COLUMN gives
    // the rows already there; its narrower qty fits the widened column.
    let changes = run(
        &mut a,
        Some(&key(3)),
        Some(&record(&v1, r#"{"id":3,"name":"c","qty":1,"secret":"y"}"#)),
        2,
    )
    .expect("old schema after the change");
    assert_eq!(
        changes[0].op,
        RowOp::Upsert(vec![int(3), text("c"), int(1), Value::Null])
    );
    assert_eq!(cell.current().version, 2, "v2 was applied once");
}

#[test]
fn a_change_that_is_not_a_widening_or_a_dropped_field_is_refused_every_time() {
    let cell = cell(BOTH, FieldFilter::All);
    let mut d = TableDecoder::new(cell.clone(), KeySource::MessageKey, Default::default())
        .expect("decoder");
    run(
        &mut d,
        Some(&key(1)),
        Some(&record(
            &[ID, NAME, QTY64],
            r#"{"id":1,"name":"a","qty":5}"#,
        )),
        0,
    )
    .expect("v1");
    // A string into the number column, twice: refused each time, not only the first.
    for offset in [1, 2] {
        let err = run(
            &mut d,
            Some(&key(1)),
            Some(&record(
                &[ID, NAME, QTY_TEXT],
                r#"{"id":1,"name":"a","qty":"5"}"#,
            )),
            offset,
        )
        .expect_err("bigint → string");
        assert!(
            matches!(&err, DecodeError::SchemaChange { change, .. } if change.contains("\"qty\" is now text") && change.contains("bigint")),
            "{err}"
        );
    }
    let name_as_number = ("name", r#"{"type":"int64","optional":true}"#);
    run(
        &mut d,
        Some(&key(1)),
        Some(&record(
            &[ID, name_as_number, QTY64],
            r#"{"id":1,"name":7,"qty":5}"#,
        )),
        3,
    )
    .expect("a number fits a text column");
    let narrower = [ID, NAME, QTY32];
    run(
        &mut d,
        Some(&key(1)),
        Some(&record(&narrower, r#"{"id":1,"name":"a","qty":5}"#)),
        3,
    )
    .expect("a narrower source type fits the wider column");

    let bool_qty = ("qty", r#"{"type":"boolean","optional":true}"#);
    for offset in [4, 5] {
        let err = run(
            &mut d,
            Some(&key(1)),
            Some(&record(
                &[ID, NAME, bool_qty],
                r#"{"id":1,"name":"a","qty":true}"#,
            )),
            offset,
        )
        .expect_err("bigint → boolean");
        assert!(
            matches!(&err, DecodeError::SchemaChange { change, .. } if change.contains("\"qty\" is now boolean") && change.contains("bigint")),
            "{err}"
        );
    }
    let err = run(
        &mut d,
        Some(&key(1)),
        Some(&record(&[ID, QTY64], r#"{"id":1,"qty":5}"#)),
        6,
    )
    .expect_err("dropped field");
    assert!(
        err.to_string().contains("no longer has the field \"name\"")
            && err.to_string().contains("unmanaged"),
        "{err}"
    );
    assert_eq!(
        cell.current().version,
        1,
        "nothing was changed by refused schemas"
    );
}

#[test]
fn without_auto_evolve_new_fields_are_ignored_and_without_a_schema_nothing_is_created() {
    let cell = cell(
        Evolution {
            auto_create: true,
            auto_evolve: false,
        },
        FieldFilter::All,
    );
    let mut d = TableDecoder::new(
        cell.clone(),
        KeySource::Fields(vec!["id".into()]),
        Default::default(),
    )
    .expect("decoder");
    let err = run(
        &mut d,
        None,
        Some(r#"{"before":null,"after":{"id":1},"op":"c"}"#),
        0,
    )
    .expect_err("no schema");
    assert!(matches!(err, DecodeError::NoSchemaToCreate { .. }), "{err}");
    run(
        &mut d,
        None,
        Some(&record(&[ID, QTY32], r#"{"id":1,"qty":5}"#)),
        1,
    )
    .expect("created with a configured key");
    assert_eq!(cell.current().key(), Some(&[0][..]));
    let changes = run(
        &mut d,
        None,
        Some(&record(
            &[ID, QTY64, PRICE],
            r#"{"id":1,"qty":5,"price":"ASs="}"#,
        )),
        2,
    )
    .expect("new field ignored");
    assert_eq!(
        columns(&cell),
        pairs(&[("id", "integer"), ("qty", "integer")])
    );
    assert_eq!(changes[0].op, RowOp::Upsert(vec![int(1), int(5)]));
    assert_eq!(cell.current().columns[1].ty, ColumnType::Int32);
}
