//! The cases of the round trip: a value for one column and that column's `::text` after the
//! merge, as the server writes it under TimeZone UTC.

use tidemark_model::civil::{days_from_civil, MICROS_PER_DAY};
use tidemark_model::{parse_uuid, Bits, Decimal, Interval, Value};

fn dec(s: &str) -> Value {
    Value::Decimal(Decimal::parse(s).unwrap())
}

fn day(y: i64, m: u32, d: u32) -> Value {
    Value::Date(days_from_civil(y, m, d) as i32)
}

/// Microseconds since 1970 of a wall-clock date-time.
fn at(y: i64, m: u32, d: u32, micros_of_day: i64) -> i64 {
    days_from_civil(y, m, d) * MICROS_PER_DAY + micros_of_day
}

fn ts(y: i64, m: u32, d: u32, micros_of_day: i64) -> Value {
    Value::Timestamp(at(y, m, d, micros_of_day))
}

fn tstz(y: i64, m: u32, d: u32, micros_of_day: i64) -> Value {
    Value::TimestampTz(at(y, m, d, micros_of_day))
}

fn hms(h: i64, m: i64, s: i64, micros: i64) -> i64 {
    ((h * 60 + m) * 60 + s) * 1_000_000 + micros
}

fn interval(months: i32, days: i32, micros: i64) -> Value {
    Value::Interval(Box::new(Interval {
        months,
        days,
        micros,
    }))
}

fn bits(len: u32, bytes: &[u8]) -> Value {
    Value::Bits(Box::new(Bits {
        len,
        bytes: bytes.to_vec(),
    }))
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

pub(super) const UUID: &str = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";

/// (column, value, the column's `::text` after the merge).
pub(super) fn cases() -> Vec<(&'static str, Value, &'static str)> {
    let uuid = Value::Uuid(parse_uuid(UUID).unwrap());
    let big = "12345678901234567890123456789012345.12345";
    vec![
        ("n40", dec(big), big),
        (
            "n40",
            dec("-99999999999999999999999999999999999.99999"),
            "-99999999999999999999999999999999999.99999",
        ),
        // The typmod applies at COPY: rounded half away from zero to the column's scale.
        ("n40", dec("1.234565"), "1.23457"),
        ("n40", Value::Int(10_000), "10000.00000"),
        (
            "n",
            dec("123456789012345678901234567890123456789.123"),
            "123456789012345678901234567890123456789.123",
        ),
        ("n", dec("0.0001"), "0.0001"),
        ("n", dec("-0.0001"), "-0.0001"),
        ("n", dec("10000"), "10000"),
        ("n", dec("1e-20"), "0.00000000000000000001"),
        ("n", dec("0"), "0"),
        ("n", dec("0.000"), "0.000"),
        ("n", dec("-12.50"), "-12.50"),
        ("n", dec("100000000.5"), "100000000.5"),
        ("n", dec("10000.00010000"), "10000.00010000"),
        (
            "n",
            dec("1e40"),
            "10000000000000000000000000000000000000000",
        ),
        ("n", Value::Float(0.1), "0.1"),
        ("n", Value::Float(f64::NAN), "NaN"),
        ("n", Value::Float(f64::INFINITY), "Infinity"),
        ("n", text("-Infinity"), "-Infinity"),
        ("n", text("1.5E+3"), "1500"),
        ("n", Value::Int(i64::MIN), "-9223372036854775808"),
        ("n20", dec("18446744073709551615"), "18446744073709551615"),
        ("n20", dec("-18446744073709551615"), "-18446744073709551615"),
        ("n20", dec("12.5"), "13"),
        ("d", Value::Date(-1), "1969-12-31"),
        ("d", Value::Date(0), "1970-01-01"),
        ("d", day(-4713, 11, 24), "4714-11-24 BC"),
        ("d", day(1, 1, 1), "0001-01-01"),
        ("d", day(0, 12, 31), "0001-12-31 BC"),
        ("d", day(9999, 12, 31), "9999-12-31"),
        ("d", day(200_000, 2, 29), "200000-02-29"),
        ("d", day(5_874_897, 12, 31), "5874897-12-31"),
        ("t", Value::Time(0), "00:00:00"),
        (
            "t",
            Value::Time(hms(12, 34, 56, 789_012)),
            "12:34:56.789012",
        ),
        ("t", Value::Time(MICROS_PER_DAY), "24:00:00"),
        (
            "ttz",
            Value::TimeTz {
                micros: hms(10, 15, 30, 500_000),
                offset_secs: 19_800,
            },
            "10:15:30.5+05:30",
        ),
        (
            "ttz",
            Value::TimeTz {
                micros: hms(23, 59, 59, 999_999),
                offset_secs: -28_800,
            },
            "23:59:59.999999-08",
        ),
        ("ttz", Value::Time(1_000_000), "00:00:01+00"),
        (
            "ts3",
            Value::Timestamp(1_234_567),
            "1970-01-01 00:00:01.235",
        ),
        // Rounded to the millisecond across midnight and the epoch.
        ("ts3", Value::Timestamp(-1), "1970-01-01 00:00:00"),
        ("ts", Value::Timestamp(-1), "1969-12-31 23:59:59.999999"),
        ("ts", ts(1900, 1, 1, 0), "1900-01-01 00:00:00"),
        (
            "ts",
            ts(9999, 12, 31, hms(23, 59, 59, 999_999)),
            "9999-12-31 23:59:59.999999",
        ),
        ("ts", ts(200_000, 1, 1, 0), "200000-01-01 00:00:00"),
        // The latest microsecond since 1970 an i64 holds; PostgreSQL's range goes on to 294276.
        (
            "ts",
            Value::Timestamp(i64::MAX),
            "294247-01-10 04:00:54.775807",
        ),
        ("ts", ts(-4713, 11, 24, 0), "4714-11-24 00:00:00 BC"),
        (
            "ts",
            tstz(2024, 2, 29, hms(1, 2, 3, 4)),
            "2024-02-29 01:02:03.000004",
        ),
        ("tstz", Value::TimestampTz(0), "1970-01-01 00:00:00+00"),
        ("tstz", tstz(1900, 1, 1, 1), "1900-01-01 00:00:00.000001+00"),
        (
            "tstz",
            tstz(-43, 3, 15, hms(12, 0, 0, 0)),
            "0044-03-15 12:00:00+00 BC",
        ),
        (
            "tstz",
            ts(2024, 6, 1, hms(8, 0, 0, 0)),
            "2024-06-01 08:00:00+00",
        ),
        (
            "iv",
            interval(14, 3, hms(4, 5, 6, 780_000)),
            "1 year 2 mons 3 days 04:05:06.78",
        ),
        (
            "iv",
            interval(-1, -2, -3_000_000),
            "-1 mons -2 days -00:00:03",
        ),
        ("iv", interval(1, -1, 1), "1 mon -1 days +00:00:00.000001"),
        ("iv", interval(0, 0, 0), "00:00:00"),
        ("u", uuid.clone(), UUID),
        ("u", text("{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}"), UUID),
        (
            "j",
            Value::Json("{\"b\": 1,  \"a\":[1,2]}".into()),
            "{\"b\": 1,  \"a\":[1,2]}",
        ),
        (
            "jb",
            Value::Json("{\"b\": 1,  \"a\":[1,2]}".into()),
            "{\"a\": [1, 2], \"b\": 1}",
        ),
        ("jb", text("\"ü\\n\""), "\"ü\\n\""),
        ("b3", bits(3, &[0b1010_0000]), "101"),
        ("vb", bits(10, &[0xff, 0xc0]), "1111111111"),
        ("vb", bits(0, &[]), ""),
        ("vb", Value::Bool(true), "1"),
        ("by", Value::Bytes(vec![0, 0xff, b'\\']), "\\x00ff5c"),
        ("by", Value::Bytes(vec![]), "\\x"),
        ("by", text("AAE="), "\\x0001"),
        (
            "ia",
            Value::Array(vec![Value::Int(1), Value::Null, Value::Int(-3)]),
            "{1,NULL,-3}",
        ),
        ("ia", Value::Array(vec![]), "{}"),
        (
            "ta",
            Value::Array(
                ["a\"b", "c\\d", "", "NULL", "x,y", " sp ", "{}"]
                    .map(text)
                    .into_iter()
                    .chain([Value::Null])
                    .collect(),
            ),
            r#"{"a\"b","c\\d","","NULL","x,y"," sp ","{}",NULL}"#,
        ),
        ("ta", Value::Array(vec![]), "{}"),
        (
            "na",
            Value::Array(vec![dec("1.50"), Value::Null, dec("-0.0001"), dec("1e-20")]),
            "{1.50,NULL,-0.0001,0.00000000000000000001}",
        ),
        (
            "ua",
            Value::Array(vec![uuid.clone(), Value::Null]),
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}",
        ),
        (
            "tsa",
            Value::Array(vec![Value::TimestampTz(0), Value::Timestamp(-1)]),
            r#"{"1970-01-01 00:00:00+00","1969-12-31 23:59:59.999999+00"}"#,
        ),
        (
            "va",
            Value::Array(vec![text("abcd"), Value::Null]),
            "{abcd,NULL}",
        ),
        (
            "ca",
            Value::Array(vec![text("a"), Value::Null]),
            r#"{"a ",NULL}"#,
        ),
        (
            "jba",
            Value::Array(vec![Value::Json("{\"a\":1}".into())]),
            r#"{"{\"a\": 1}"}"#,
        ),
        (
            "fa",
            Value::Array(vec![Value::Float(0.5), Value::Float(f64::NAN)]),
            "{0.5,NaN}",
        ),
        (
            "da",
            Value::Array(vec![day(-4713, 11, 24), day(2024, 2, 29)]),
            "{\"4714-11-24 BC\",2024-02-29}",
        ),
        (
            "ba",
            Value::Array(vec![Value::Bool(false), Value::Int(1)]),
            "{f,t}",
        ),
        (
            "sa",
            Value::Array(vec![Value::Int(-1), Value::Bool(true)]),
            "{-1,1}",
        ),
        ("flag", Value::Bool(true), "true"),
        ("flag", Value::Int(0), "false"),
        ("sm", Value::Int(-32_768), "-32768"),
        ("sm", Value::Bool(true), "1"),
        ("sm", dec("7.00"), "7"),
        ("big", Value::Int(i64::MAX), "9223372036854775807"),
        ("r", Value::Float(0.1), "0.1"),
        ("r", dec("3.25"), "3.25"),
        ("dp", Value::Float(1e300), "1e+300"),
        ("dp", Value::Float(-0.0), "-0"),
        ("dp", Value::Float(f64::NEG_INFINITY), "-Infinity"),
        ("dp", dec("0.1"), "0.1"),
        ("feeling", text("happy"), "happy"),
        ("x", text("<a>ü</a>"), "<a>ü</a>"),
        ("txt", text("line\nbreak\t'\"\\"), "line\nbreak\t'\"\\"),
        ("txt", dec("-1.50"), "-1.50"),
        ("txt", Value::Json("[1, 2]".into()), "[1, 2]"),
        ("txt", Value::TimestampTz(0), "1970-01-01 00:00:00+00"),
        ("txt", uuid, UUID),
        ("vc", text("héllo"), "héllo"),
        // char(n) pads with spaces, which its text form drops again.
        ("ch", text("a"), "a"),
        ("shadow", text("not an int"), "not an int"),
    ]
}
