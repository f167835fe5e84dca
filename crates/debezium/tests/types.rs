//! Every Debezium logical type, in both envelopes: with the schema the Connect schema says
//! what a field is; without it the target column's type and the connector settings do. Both
//! must give the same exact value.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use tidemark_debezium::{
    DecimalHandling, DecodeError, DecodeOptions, KeySource, TableDecoder, TimePrecision,
};
use tidemark_model::{
    Bits, ColumnType, Decimal, ElementType, Interval, RowOp, TableLayout, TableName, Value,
};

/// A one-column table `t(id bigint, v <ty>)` whose `v` is declared as `sql_type`.
fn table(ty: ColumnType, sql_type: &str) -> Arc<TableLayout> {
    let cols = vec![
        ("id".to_string(), ColumnType::Int64, "bigint".to_string()),
        ("v".to_string(), ty, sql_type.to_string()),
    ];
    let name = TableName::parse("public.t").unwrap();
    Arc::new(TableLayout::from_target(name, cols, &BTreeMap::new(), &[]).unwrap())
}

/// The field schema JSON of `v` (without the `"field"` member).
struct Field<'a> {
    connect: &'a str,
    name: Option<&'a str>,
    parameters: Option<&'a str>,
    extra: &'a str,
}

fn field<'a>(connect: &'a str, name: Option<&'a str>) -> Field<'a> {
    Field {
        connect,
        name,
        parameters: None,
        extra: "",
    }
}

fn with_schema(f: &Field<'_>, json: &str) -> String {
    let mut schema = format!(r#"{{"type":"{}","optional":true"#, f.connect);
    if let Some(n) = f.name {
        schema.push_str(&format!(r#","name":"{n}","version":1"#));
    }
    if let Some(p) = f.parameters {
        schema.push_str(&format!(r#","parameters":{p}"#));
    }
    schema.push_str(f.extra);
    schema.push_str(r#","field":"v"}"#);
    let row = format!(r#"{{"type":"int64","optional":false,"field":"id"}},{schema}"#);
    let value_schema = format!(
        r#"{{"type":"struct","fields":[{{"type":"struct","fields":[{row}],"optional":true,"name":"s.t.Value","field":"before"}},{{"type":"struct","fields":[{row}],"optional":true,"name":"s.t.Value","field":"after"}},{{"type":"string","optional":false,"field":"op"}}],"optional":false,"name":"s.t.Envelope"}}"#
    );
    envelope(
        &value_schema,
        &format!(r#"{{"before":null,"after":{{"id":1,"v":{json}}},"op":"c","ts_ms":1}}"#),
    )
}

fn without_schema(json: &str) -> String {
    format!(r#"{{"before":null,"after":{{"id":1,"v":{json}}},"op":"c","ts_ms":1}}"#)
}

fn decode_v(
    layout: Arc<TableLayout>,
    options: DecodeOptions,
    value: &str,
) -> Result<Value, DecodeError> {
    let mut d =
        TableDecoder::new(cell(&layout), KeySource::Fields(vec!["id".into()]), options).unwrap();
    let mut changes = run(&mut d, None, Some(value), 0)?;
    match changes.remove(0).op {
        RowOp::Upsert(mut row) => Ok(row.remove(1)),
        RowOp::Delete => panic!("expected an upsert"),
    }
}

/// Decodes `json` for column `v` with the schema `f` and without a schema (the column's type
/// and `options` deciding), and checks both give `expected`.
fn both(
    ty: ColumnType,
    sql_type: &str,
    f: &Field<'_>,
    options: DecodeOptions,
    json: &str,
    expected: Value,
) {
    let layout = table(ty, sql_type);
    let a = decode_v(
        layout.clone(),
        DecodeOptions::default(),
        &with_schema(f, json),
    );
    assert_eq!(a.as_ref(), Ok(&expected), "with schema: {json}");
    let b = decode_v(layout, options, &without_schema(json));
    assert_eq!(b.as_ref(), Ok(&expected), "without schema: {json}");
}

fn dec(s: &str) -> Value {
    Value::Decimal(Decimal::parse(s).unwrap())
}

const DEFAULTS: DecodeOptions = DecodeOptions {
    decimal_handling: DecimalHandling::Precise,
    time_precision: TimePrecision::Adaptive,
    binary_handling: tidemark_debezium::BinaryHandling::Base64,
    capacity: tidemark_model::Capacity::Postgres,
};

#[test]
fn connect_decimals_from_base64_bytes() {
    let f = Field {
        parameters: Some(r#"{"scale":"2","connect.decimal.precision":"10"}"#),
        ..field("bytes", Some("org.apache.kafka.connect.data.Decimal"))
    };
    let n = ColumnType::Numeric;
    // "ASs=" = 0x012b = 299 → 2.99 (the error message of the issue).
    both(n, "numeric(10,2)", &f, DEFAULTS, r#""ASs=""#, dec("2.99"));
    both(n, "numeric(10,2)", &f, DEFAULTS, r#""/tU=""#, dec("-2.99"));
    both(n, "numeric(10,2)", &f, DEFAULTS, r#""AA==""#, dec("0.00"));
    both(n, "numeric(10,2)", &f, DEFAULTS, "null", Value::Null);
    // MySQL BIGINT UNSIGNED 18446744073709551615 with bigint.unsigned.handling.mode=precise.
    let unsigned = Field {
        parameters: Some(r#"{"scale":"0"}"#),
        ..field("bytes", Some("org.apache.kafka.connect.data.Decimal"))
    };
    both(
        n,
        "numeric(20,0)",
        &unsigned,
        DEFAULTS,
        r#""AP//////////""#,
        dec("18446744073709551615"),
    );
    // 40 nines at scale 0.
    let big = "9".repeat(40);
    let bytes = {
        // 10^40 - 1 as big-endian two's complement.
        let mut v = vec![0u8; 18];
        let mut digits: Vec<u8> = big.bytes().map(|b| b - b'0').collect();
        for byte in v.iter_mut().rev() {
            let mut rem = 0u32;
            for d in digits.iter_mut() {
                let cur = rem * 10 + u32::from(*d);
                *d = (cur / 256) as u8;
                rem = cur % 256;
            }
            *byte = rem as u8;
        }
        v
    };
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    both(
        n,
        "numeric(40,0)",
        &unsigned,
        DEFAULTS,
        &format!("\"{b64}\""),
        dec(&big),
    );
}

#[test]
fn variable_scale_decimals_and_bare_numbers_are_exact() {
    let f = field("struct", Some("io.debezium.data.VariableScaleDecimal"));
    let n = ColumnType::Numeric;
    both(
        n,
        "numeric",
        &f,
        DEFAULTS,
        r#"{"scale":3,"value":"AeJA"}"#,
        dec("123.456"),
    );
    both(
        n,
        "numeric",
        &f,
        DEFAULTS,
        r#"{"scale":0,"value":"/w=="}"#,
        dec("-1"),
    );
    // decimal.handling.mode=double / string: the JSON text itself, never an f64.
    let double = DecodeOptions {
        decimal_handling: DecimalHandling::Double,
        ..DEFAULTS
    };
    let d = field("float64", None);
    both(n, "numeric", &d, double, "0.1", dec("0.1"));
    both(
        n,
        "numeric",
        &d,
        double,
        "12345678901234567890.123456789",
        dec("12345678901234567890.123456789"),
    );
    let string = DecodeOptions {
        decimal_handling: DecimalHandling::String,
        ..DEFAULTS
    };
    let s = field("string", None);
    both(
        n,
        "numeric",
        &s,
        string,
        r#""-98765432109876543210987654321098765.4321""#,
        dec("-98765432109876543210987654321098765.4321"),
    );
    // A bare JSON integer beyond u64 for a numeric column.
    both(
        n,
        "numeric",
        &field("int64", None),
        DEFAULTS,
        "123456789012345678901234567890",
        dec("123456789012345678901234567890"),
    );
}

#[test]
fn a_decimal_without_a_known_scale_says_how_to_fix_it() {
    let err = decode_v(
        table(ColumnType::Numeric, "numeric"),
        DEFAULTS,
        &without_schema(r#""ASs=""#),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("\"v\"") && text.contains("scale is unknown"),
        "{text}"
    );
    assert!(text.contains("decimal_handling"), "{text}");
}

#[test]
fn dates_times_and_timestamps_in_every_unit() {
    let ts = ColumnType::Timestamp;
    let date = field("int32", Some("io.debezium.time.Date"));
    both(
        ColumnType::Date,
        "date",
        &date,
        DEFAULTS,
        "-25567",
        Value::Date(-25_567),
    ); // 1900-01-01
    both(
        ColumnType::Date,
        "date",
        &date,
        DEFAULTS,
        "2932896",
        Value::Date(2_932_896),
    ); // 9999-12-31
    let ms = field("int64", Some("io.debezium.time.Timestamp"));
    both(
        ts,
        "timestamp(3) without time zone",
        &ms,
        DEFAULTS,
        "-1",
        Value::Timestamp(-1_000),
    );
    let micro = field("int64", Some("io.debezium.time.MicroTimestamp"));
    // The issue's MicroTimestamp: 2022-10-20T11:40:00Z.
    both(
        ts,
        "timestamp without time zone",
        &micro,
        DEFAULTS,
        "1666266000000000",
        Value::Timestamp(1_666_266_000_000_000),
    );
    both(
        ts,
        "timestamp(6) without time zone",
        &micro,
        DEFAULTS,
        "-2208988799999999",
        Value::Timestamp(-2_208_988_799_999_999),
    );
    let nano = field("int64", Some("io.debezium.time.NanoTimestamp"));
    let layout = table(ts, "timestamp without time zone");
    assert_eq!(
        decode_v(layout, DEFAULTS, &with_schema(&nano, "1666266000123456789")),
        Ok(Value::Timestamp(1_666_266_000_123_457)),
        "nanoseconds round to the microsecond as PostgreSQL's input does"
    );
    let time = field("int32", Some("io.debezium.time.Time"));
    both(
        ColumnType::Time,
        "time(3) without time zone",
        &time,
        DEFAULTS,
        "45296789",
        Value::Time(45_296_789_000),
    );
    let micro_time = field("int64", Some("io.debezium.time.MicroTime"));
    both(
        ColumnType::Time,
        "time without time zone",
        &micro_time,
        DEFAULTS,
        "86399999999",
        Value::Time(86_399_999_999),
    );
    let zoned = field("string", Some("io.debezium.time.ZonedTimestamp"));
    both(
        ColumnType::TimestampTz,
        "timestamp with time zone",
        &zoned,
        DEFAULTS,
        r#""2022-10-20T11:40:00.5Z""#,
        Value::TimestampTz(1_666_266_000_500_000),
    );
    both(
        ColumnType::TimestampTz,
        "timestamp with time zone",
        &zoned,
        DEFAULTS,
        r#""1969-07-20T20:17:40+02:00""#,
        Value::TimestampTz(-14_182_940_000_000 - 7_200_000_000),
    );
    let zoned_time = field("string", Some("io.debezium.time.ZonedTime"));
    both(
        ColumnType::TimeTz,
        "time with time zone",
        &zoned_time,
        DEFAULTS,
        r#""10:15:30.25Z""#,
        Value::TimeTz {
            micros: 36_930_250_000,
            offset_secs: 0,
        },
    );
    // time.precision.mode=connect: Connect's own types in milliseconds.
    let connect = DecodeOptions {
        time_precision: TimePrecision::Connect,
        ..DEFAULTS
    };
    let ct = field("int64", Some("org.apache.kafka.connect.data.Timestamp"));
    both(
        ts,
        "timestamp without time zone",
        &ct,
        connect,
        "1666266000123",
        Value::Timestamp(1_666_266_000_123_000),
    );
    let cd = field("int32", Some("org.apache.kafka.connect.data.Date"));
    both(ColumnType::Date, "date", &cd, connect, "0", Value::Date(0));
    let year = field("int32", Some("io.debezium.time.Year"));
    both(
        ColumnType::Int16,
        "smallint",
        &year,
        DEFAULTS,
        "2024",
        Value::Int(2024),
    );
}

#[test]
fn intervals_from_microseconds_and_iso_durations() {
    let iv = ColumnType::Interval;
    let micro = field("int64", Some("io.debezium.time.MicroDuration"));
    let interval = |months, days, micros| {
        Value::Interval(Box::new(Interval {
            months,
            days,
            micros,
        }))
    };
    both(
        iv,
        "interval",
        &micro,
        DEFAULTS,
        "-90061000001",
        interval(0, 0, -90_061_000_001),
    );
    let iso = field("string", Some("io.debezium.time.Interval"));
    both(
        iv,
        "interval",
        &iso,
        DEFAULTS,
        r#""P1Y2M3DT4H5M6.78S""#,
        interval(14, 3, 14_706_780_000),
    );
}

#[test]
fn json_uuid_enum_bits_bytes_and_geometry() {
    let json = field("string", Some("io.debezium.data.Json"));
    both(
        ColumnType::Jsonb,
        "jsonb",
        &json,
        DEFAULTS,
        r#""{\"a\": [1, 2.50]}""#,
        Value::Json(r#"{"a": [1, 2.50]}"#.into()),
    );
    let uuid = field("string", Some("io.debezium.data.Uuid"));
    let expected = tidemark_model::parse_uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap();
    both(
        ColumnType::Uuid,
        "uuid",
        &uuid,
        DEFAULTS,
        r#""a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11""#,
        Value::Uuid(expected),
    );
    let enumeration = Field {
        parameters: Some(r#"{"allowed":"small,medium,large"}"#),
        ..field("string", Some("io.debezium.data.Enum"))
    };
    both(
        ColumnType::Other,
        "mood",
        &enumeration,
        DEFAULTS,
        r#""medium""#,
        text("medium"),
    );
    // Bits(3) of b'101' = 5: one little-endian byte 0x05, "BQ==".
    let bits = Field {
        parameters: Some(r#"{"length":"3"}"#),
        ..field("bytes", Some("io.debezium.data.Bits"))
    };
    both(
        ColumnType::Bits,
        "bit(3)",
        &bits,
        DEFAULTS,
        r#""BQ==""#,
        Value::Bits(Box::new(Bits {
            len: 3,
            bytes: vec![0b1010_0000],
        })),
    );
    // Bits(10) of b'1000000001' = 513 = 0x0201: little-endian [0x01, 0x02], "AQI=".
    let bits10 = Field {
        parameters: Some(r#"{"length":"10"}"#),
        ..field("bytes", Some("io.debezium.data.Bits"))
    };
    both(
        ColumnType::Bits,
        "bit varying(10)",
        &bits10,
        DEFAULTS,
        r#""AQI=""#,
        Value::Bits(Box::new(Bits {
            len: 10,
            bytes: vec![0b1000_0000, 0b0100_0000],
        })),
    );
    both(
        ColumnType::Bytes,
        "bytea",
        &field("bytes", None),
        DEFAULTS,
        r#""3q2+7w==""#,
        Value::Bytes(vec![0xde, 0xad, 0xbe, 0xef]),
    );
    let geometry = Field {
        extra: r#","fields":[{"type":"bytes","optional":false,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}]"#,
        ..field("struct", Some("io.debezium.data.geometry.Point"))
    };
    both(
        ColumnType::Bytes,
        "bytea",
        &geometry,
        DEFAULTS,
        r#"{"wkb":"AQE=","srid":4326}"#,
        Value::Bytes(vec![1, 1]),
    );
    // MySQL TINYINT(1) arrives as int16; into a boolean column the warehouse maps 0/1.
    both(
        ColumnType::Bool,
        "boolean",
        &field("int16", None),
        DEFAULTS,
        "1",
        Value::Int(1),
    );
}

#[test]
fn arrays_of_logical_types() {
    let arr = Field {
        extra: r#","items":{"type":"string","optional":true,"name":"io.debezium.data.Uuid","version":1}"#,
        ..field("array", None)
    };
    let u = tidemark_model::parse_uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap();
    both(
        ColumnType::Array(ElementType::Uuid),
        "uuid[]",
        &arr,
        DEFAULTS,
        r#"["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",null]"#,
        Value::Array(vec![Value::Uuid(u), Value::Null]),
    );
    let ints = Field {
        extra: r#","items":{"type":"int32","optional":true}"#,
        ..field("array", None)
    };
    both(
        ColumnType::Array(ElementType::Int32),
        "integer[]",
        &ints,
        DEFAULTS,
        "[]",
        Value::Array(vec![]),
    );
}

#[test]
fn the_toast_placeholder_is_unavailable_not_a_value() {
    both(
        ColumnType::Text,
        "text",
        &field("string", None),
        DEFAULTS,
        r#""__debezium_unavailable_value""#,
        Value::Unavailable,
    );
    both(
        ColumnType::Bytes,
        "bytea",
        &field("bytes", None),
        DEFAULTS,
        r#""X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==""#,
        Value::Unavailable,
    );
    let json = field("string", Some("io.debezium.data.Json"));
    both(
        ColumnType::Jsonb,
        "jsonb",
        &json,
        DEFAULTS,
        r#""__debezium_unavailable_value""#,
        Value::Unavailable,
    );
    let arr = Field {
        extra: r#","items":{"type":"string","optional":true}"#,
        ..field("array", None)
    };
    both(
        ColumnType::Array(ElementType::Text),
        "text[]",
        &arr,
        DEFAULTS,
        r#"["__debezium_unavailable_value"]"#,
        Value::Unavailable,
    );
}

#[test]
fn wrong_json_types_name_the_field_and_what_was_expected() {
    let micro = field("int64", Some("io.debezium.time.MicroTimestamp"));
    let layout = table(ColumnType::Timestamp, "timestamp");
    let err = decode_v(layout.clone(), DEFAULTS, &with_schema(&micro, "true")).unwrap_err();
    assert!(
        matches!(&err, DecodeError::InvalidValue { field, .. } if field == "v"),
        "{err}"
    );
    let err = decode_v(layout, DEFAULTS, &without_schema(r#""yesterday""#)).unwrap_err();
    assert!(err.to_string().contains("ISO date-time"), "{err}");
    // A string where the column is an integer is the record's fault, said while decoding.
    let int = table(ColumnType::Int32, "integer");
    let err = decode_v(int.clone(), DEFAULTS, &without_schema(r#""12""#)).unwrap_err();
    assert!(err.to_string().contains("a boolean or a number"), "{err}");
    let err = decode_v(
        int,
        DEFAULTS,
        &with_schema(&field("int32", None), r#"{"x":1}"#),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::InvalidJson { .. } | DecodeError::InvalidValue { .. }
        ),
        "{err}"
    );
    let uuid = table(ColumnType::Uuid, "uuid");
    let err = decode_v(uuid, DEFAULTS, &without_schema(r#""not-a-uuid""#)).unwrap_err();
    assert!(err.to_string().contains("UUID"), "{err}");
}

#[test]
fn a_schema_after_the_payload_still_decides() {
    let f = Field {
        parameters: Some(r#"{"scale":"2"}"#),
        ..field("bytes", Some("org.apache.kafka.connect.data.Decimal"))
    };
    let v = with_schema(&f, r#""ASs=""#);
    // Swap the two envelope members: {"payload":…,"schema":…}.
    let inner = v
        .strip_prefix(r#"{"schema":"#)
        .unwrap()
        .strip_suffix('}')
        .unwrap();
    let split = inner.rfind(r#","payload":"#).unwrap();
    let (schema, payload) = (&inner[..split], &inner[split + ",\"payload\":".len()..]);
    let swapped = format!(r#"{{"payload":{payload},"schema":{schema}}}"#);
    let layout = table(ColumnType::Numeric, "numeric");
    assert_eq!(decode_v(layout, DEFAULTS, &swapped), Ok(dec("2.99")));
}

#[test]
fn message_keys_decode_like_the_row_so_deletes_match_upserts() {
    // A Decimal key: the delete's key (from the message key) must equal the upsert's.
    let cols = vec![
        (
            "k".to_string(),
            ColumnType::Numeric,
            "numeric(10,2)".to_string(),
        ),
        ("v".to_string(), ColumnType::Text, "text".to_string()),
    ];
    let layout = Arc::new(
        TableLayout::from_target(TableName::parse("t").unwrap(), cols, &BTreeMap::new(), &[])
            .unwrap(),
    );
    let mut d = TableDecoder::new(cell(&layout), KeySource::MessageKey, DEFAULTS).unwrap();
    let key_schema = r#"{"type":"struct","fields":[{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"},"field":"k"}],"optional":false,"name":"s.t.Key"}"#;
    let key = envelope(key_schema, r#"{"k":"ASs="}"#);
    let upsert = r#"{"before":null,"after":{"k":"ASs=","v":"x"},"op":"c","ts_ms":1}"#;
    let changes = run(&mut d, Some(&key), Some(upsert), 0).unwrap();
    let delete = r#"{"before":null,"after":null,"op":"d","ts_ms":1}"#;
    let deletes = run(&mut d, Some(&key), Some(delete), 1).unwrap();
    assert_eq!(changes[0].key, deletes[0].key);
    assert_eq!(changes[0].key.0, vec![dec("2.99")]);
}

#[test]
fn doubles_read_back_as_the_same_double() {
    // serde_json's default float parsing is off by one ulp for some values; found by the
    // fuzz target's review. A double lands as exactly the double that was written.
    let layout = table(ColumnType::Float64, "double precision");
    for text in [
        "-2.25e-300",
        "1.7976931348623157e308",
        "-0.0",
        "0.1",
        "5e-324",
    ] {
        let expected: f64 = text.parse().unwrap();
        let got = decode_v(layout.clone(), DEFAULTS, &without_schema(text)).unwrap();
        assert_eq!(got, Value::Float(expected), "{text}");
    }
}
