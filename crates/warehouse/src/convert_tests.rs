//! The conversion table, case by case (the encodings themselves are checked against a real
//! server in `tests/types.rs`).

use tidemark_model::{ElementType, Interval};

use super::*;

fn col(ty: ColumnType, sql_type: &str) -> TargetColumn {
    TargetColumn {
        name: "c".into(),
        source_field: "c".into(),
        ty,
        sql_type: sql_type.into(),
    }
}

fn ok(value: Value, ty: ColumnType) -> Cell<'static> {
    let value = Box::leak(Box::new(value));
    to_cell(value, &col(ty, "the_type")).unwrap_or_else(|e| panic!("{value:?} → {ty:?}: {e}"))
}

fn err(value: Value, ty: ColumnType) -> String {
    match to_cell(&value, &col(ty, "the_type")) {
        Ok(cell) => panic!("{value:?} → {ty:?} gave {cell:?}"),
        Err(e) => e,
    }
}

fn dec(s: &str) -> Value {
    Value::Decimal(Decimal::parse(s).unwrap())
}

#[test]
fn null_and_the_unavailable_placeholder() {
    assert_eq!(ok(Value::Null, ColumnType::Int64), Cell::Null);
    assert_eq!(ok(Value::Null, ColumnType::Other), Cell::Null);
    let e = err(Value::Unavailable, ColumnType::Text);
    assert!(
        e.contains("unavailable-value placeholder reached the stage"),
        "{e}"
    );
    let e = err(
        Value::Array(vec![Value::Unavailable]),
        ColumnType::Array(ElementType::Int32),
    );
    assert!(e.contains("element 1") && e.contains("unavailable"), "{e}");
}

#[test]
fn booleans_and_integers() {
    assert_eq!(ok(Value::Int(1), ColumnType::Bool), Cell::Bool(true));
    assert_eq!(ok(Value::Int(0), ColumnType::Bool), Cell::Bool(false));
    assert!(err(Value::Int(2), ColumnType::Bool).contains("an integer 2"));
    assert_eq!(ok(Value::Int(7), ColumnType::Int16), Cell::I16(7));
    assert!(err(Value::Int(70_000), ColumnType::Int16).contains("70000 is out of range"));
    assert!(err(Value::Int(1 << 40), ColumnType::Int32).contains("out of range"));
    assert_eq!(ok(Value::Bool(true), ColumnType::Int16), Cell::I16(1));
    assert_eq!(ok(dec("42"), ColumnType::Int32), Cell::I32(42));
    assert_eq!(ok(dec("-42.000"), ColumnType::Int64), Cell::I64(-42));
    assert!(err(dec("1.5"), ColumnType::Int64).contains("fractional part"));
    assert!(err(dec("9223372036854775808"), ColumnType::Int64).contains("out of range"));
    assert_eq!(
        ok(dec("-9223372036854775808"), ColumnType::Int64),
        Cell::I64(i64::MIN)
    );
    assert!(err(Value::Text("x".into()), ColumnType::Int32).contains("text \"x\""));
    assert!(err(Value::Float(1.0), ColumnType::Int32).contains("floating-point"));
}

#[test]
fn floats() {
    assert_eq!(ok(Value::Float(0.5), ColumnType::Float32), Cell::F32(0.5));
    assert!(err(Value::Float(1e300), ColumnType::Float32).contains("out of range for real"));
    assert!(matches!(ok(Value::Float(f64::NAN), ColumnType::Float64), Cell::F64(f) if f.is_nan()));
    assert_eq!(ok(Value::Int(3), ColumnType::Float64), Cell::F64(3.0));
    assert_eq!(ok(dec("0.1"), ColumnType::Float64), Cell::F64(0.1));
    assert_eq!(ok(dec("0.1"), ColumnType::Float32), Cell::F32(0.1));
    assert!(err(dec("1e400"), ColumnType::Float64).contains("out of range"));
}

#[test]
fn numerics() {
    let d = Decimal::parse("12.50").unwrap();
    assert_eq!(
        ok(dec("12.50"), ColumnType::Numeric),
        Cell::Numeric(Cow::Owned(d))
    );
    let n = |c: Cell<'_>| match c {
        Cell::Numeric(d) => d.to_string(),
        Cell::NumericSpecial(s) => format!("{s:?}"),
        other => panic!("{other:?}"),
    };
    assert_eq!(n(ok(Value::Int(-5), ColumnType::Numeric)), "-5");
    assert_eq!(n(ok(Value::Float(0.1), ColumnType::Numeric)), "0.1");
    assert_eq!(
        n(ok(Value::Float(1e20), ColumnType::Numeric)),
        "100000000000000000000"
    );
    assert_eq!(n(ok(Value::Float(f64::NAN), ColumnType::Numeric)), "NaN");
    assert_eq!(
        n(ok(Value::Float(f64::NEG_INFINITY), ColumnType::Numeric)),
        "NegativeInfinity"
    );
    assert_eq!(
        n(ok(Value::Text("1.5E+3".into()), ColumnType::Numeric)),
        "1500"
    );
    assert_eq!(n(ok(Value::Text("nan".into()), ColumnType::Numeric)), "NaN");
    assert!(err(Value::Text("12,5".into()), ColumnType::Numeric).contains("not a decimal"));
    assert!(err(Value::Bool(true), ColumnType::Numeric).contains("a boolean true"));
}

#[test]
fn text_takes_any_value_as_its_postgresql_text() {
    let t = |v: Value| match ok(v, ColumnType::Text) {
        Cell::Text(s) => s.into_owned(),
        other => panic!("{other:?}"),
    };
    assert_eq!(t(Value::Text("a".into())), "a");
    assert_eq!(t(dec("-1.50")), "-1.50");
    assert_eq!(t(Value::Json("{\"a\": 1}".into())), "{\"a\": 1}");
    assert_eq!(t(Value::Timestamp(0)), "1970-01-01 00:00:00");
    assert_eq!(t(Value::Bool(false)), "false");
    assert!(err(Value::Text("a\0b".into()), ColumnType::Text).contains("NUL"));
    assert!(matches!(ok(Value::Date(0), ColumnType::Other), Cell::Text(s) if s == "1970-01-01"));
}

#[test]
fn bytes_uuids_json_and_bits() {
    assert_eq!(
        ok(Value::Text("AAE=".into()), ColumnType::Bytes),
        Cell::Bytes(Cow::Owned(vec![0, 1]))
    );
    assert!(err(Value::Text("***".into()), ColumnType::Bytes).contains("base64"));
    assert_eq!(
        ok(Value::Bytes(vec![9]), ColumnType::Bytes),
        Cell::Bytes(Cow::Owned(vec![9]))
    );
    let u = parse_uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap();
    assert_eq!(ok(Value::Uuid(u), ColumnType::Uuid), Cell::Uuid(u));
    assert_eq!(
        ok(
            Value::Text("A0EEBC999C0B4EF8BB6D6BB9BD380A11".into()),
            ColumnType::Uuid
        ),
        Cell::Uuid(u)
    );
    assert!(err(Value::Text("nope".into()), ColumnType::Uuid).contains("not a UUID"));
    assert!(
        matches!(ok(Value::Text("[1]".into()), ColumnType::Jsonb), Cell::Jsonb(s) if s == "[1]")
    );
    assert!(matches!(ok(Value::Json("1".into()), ColumnType::Json), Cell::Text(s) if s == "1"));
    assert!(err(Value::Json("\"\0\"".into()), ColumnType::Jsonb).contains("NUL"));
    assert!(err(Value::Int(1), ColumnType::Jsonb).contains("an integer 1"));
    let bits = |len, bytes: Vec<u8>| Value::Bits(Box::new(Bits { len, bytes }));
    assert_eq!(
        ok(bits(3, vec![0xa0]), ColumnType::Bits),
        Cell::Bits {
            len: 3,
            bytes: Cow::Owned(vec![0xa0])
        }
    );
    assert!(err(bits(3, vec![0xa0, 0]), ColumnType::Bits).contains("carries 2 bytes"));
    assert_eq!(
        ok(Value::Bool(true), ColumnType::Bits),
        Cell::Bits {
            len: 1,
            bytes: Cow::Owned(vec![0x80])
        }
    );
}

#[test]
fn dates_times_and_their_ranges() {
    assert_eq!(ok(Value::Date(0), ColumnType::Date), Cell::Date(-10_957));
    assert_eq!(
        ok(Value::Date(DATE_MIN), ColumnType::Date),
        Cell::Date(DATE_MIN - 10_957)
    );
    let e = err(Value::Date(DATE_MIN - 1), ColumnType::Date);
    assert!(
        e.contains("4714-11-23 BC") && e.contains("out of PostgreSQL's range"),
        "{e}"
    );
    assert!(err(Value::Date(i32::MAX), ColumnType::Date).contains("out of"));
    assert_eq!(
        ok(Value::Time(MICROS_PER_DAY), ColumnType::Time),
        Cell::Time(MICROS_PER_DAY)
    );
    assert!(err(Value::Time(-1), ColumnType::Time).contains("not within"));
    assert_eq!(
        ok(Value::Time(5), ColumnType::TimeTz),
        Cell::TimeTz {
            micros: 5,
            offset_secs: 0
        }
    );
    let tz = |offset_secs| Value::TimeTz {
        micros: 1,
        offset_secs,
    };
    assert_eq!(
        ok(tz(-28_800), ColumnType::TimeTz),
        Cell::TimeTz {
            micros: 1,
            offset_secs: -28_800
        }
    );
    assert!(err(tz(16 * 3600), ColumnType::TimeTz).contains("beyond"));
    assert!(err(tz(0), ColumnType::Time).contains("a time with time zone"));
    // Both timestamp kinds into both columns: the same microseconds, from 2000-01-01.
    for ty in [ColumnType::Timestamp, ColumnType::TimestampTz] {
        assert_eq!(
            ok(Value::Timestamp(PG_EPOCH_MICROS), ty),
            Cell::Timestamp(0)
        );
        assert_eq!(
            ok(Value::TimestampTz(-1), ty),
            Cell::Timestamp(-1 - PG_EPOCH_MICROS)
        );
        let e = err(Value::Timestamp(i64::MIN), ty);
        assert!(e.contains("out of PostgreSQL's range"), "{e}");
        assert!(
            ok(Value::Timestamp(i64::MAX), ty) != Cell::Null,
            "294247 AD fits"
        );
    }
    let first = TIMESTAMP_MIN + PG_EPOCH_MICROS;
    assert!(matches!(
        ok(Value::Timestamp(first), ColumnType::Timestamp),
        Cell::Timestamp(_)
    ));
    assert!(err(Value::Timestamp(first - 1), ColumnType::Timestamp).contains("out of"));
    let i = Interval {
        months: -1,
        days: 2,
        micros: -3,
    };
    assert_eq!(
        ok(Value::Interval(Box::new(i)), ColumnType::Interval),
        Cell::Interval(i)
    );
    assert!(err(Value::Date(0), ColumnType::Timestamp).contains("a date 1970-01-01"));
}

#[test]
fn arrays_convert_each_element_for_the_element_type() {
    let ints = ColumnType::Array(ElementType::Int32);
    assert_eq!(
        ok(
            Value::Array(vec![Value::Int(1), Value::Null, dec("3")]),
            ints
        ),
        Cell::Array(vec![Cell::I32(1), Cell::Null, Cell::I32(3)])
    );
    assert_eq!(ok(Value::Array(vec![]), ints), Cell::Array(vec![]));
    let e = err(Value::Array(vec![Value::Int(1), Value::Int(1 << 40)]), ints);
    assert!(
        e.contains("array element 2") && e.contains("out of range"),
        "{e}"
    );
    let e = err(Value::Array(vec![Value::Array(vec![])]), ints);
    assert!(e.contains("multi-dimensional"), "{e}");
    let e = err(Value::Text("[1,2]".into()), ints);
    assert!(e.contains("not its text"), "{e}");
    let texts = ColumnType::Array(ElementType::Text);
    assert_eq!(
        ok(
            Value::Array(vec![Value::Text("a".into()), Value::Int(2)]),
            texts
        ),
        Cell::Array(vec![Cell::Text("a".into()), Cell::Text("2".into())])
    );
    // The element's error names the element type (the column's without `[]`).
    let e = to_cell(
        &Value::Array(vec![Value::Bool(true)]),
        &col(ColumnType::Array(ElementType::Uuid), "uuid[]"),
    )
    .unwrap_err();
    assert!(e.contains("column of type uuid"), "{e}");
}
