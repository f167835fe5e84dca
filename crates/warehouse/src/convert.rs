//! Conversion of decoded values to the staged form of their column, with errors that say what
//! was found and why it cannot be stored. Everything the server would reject on the value
//! alone that tidemark can know (ranges, malformed text) is caught here, so the error names
//! the record; typmod checks (`varchar(5)`, `numeric(10,2)`) are the server's, at COPY.

use std::borrow::Cow;

use base64::Engine;
use tidemark_model::civil::MICROS_PER_DAY;
use tidemark_model::{parse_uuid, Bits, ColumnType, Decimal, TargetColumn, Value};

use crate::cell::Cell;
use crate::encode::{self, NumericSign, PG_EPOCH_DAYS, PG_EPOCH_MICROS};

/// PostgreSQL's date range in days since 1970-01-01: 4714-11-24 BC (Julian day 0) up to
/// 5874897-12-31, inclusive.
const DATE_MIN: i32 = -2_440_588;
const DATE_MAX: i32 = 2_145_042_905;
/// PostgreSQL's timestamp range in microseconds since 2000-01-01: 4714-11-24 BC 00:00 up to,
/// not including, 294277-01-01 00:00.
const TIMESTAMP_MIN: i64 = -211_813_488_000_000_000;
const TIMESTAMP_END: i64 = 9_223_371_331_200_000_000;
/// A time zone offset must be within ±15:59:59 (PostgreSQL's TZDISP_LIMIT).
const OFFSET_LIMIT: i32 = 16 * 3600;

const UNAVAILABLE: &str = "unavailable-value placeholder reached the stage (the source did not \
    send this unchanged value, and this column cannot keep the stored one)";

/// Converts a decoded value for `column`. The error says what was found and why it does not
/// fit; the caller names the table, column and record.
pub(crate) fn to_cell<'a>(value: &'a Value, column: &TargetColumn) -> Result<Cell<'a>, String> {
    convert(value, column.ty, &column.sql_type)
}

fn convert<'a>(value: &'a Value, ty: ColumnType, sql_type: &str) -> Result<Cell<'a>, String> {
    use ColumnType as T;
    let mismatch = || {
        format!(
            "cannot store {} in a column of type {sql_type}",
            describe(value)
        )
    };
    Ok(match (ty, value) {
        (_, Value::Null) => Cell::Null,
        (_, Value::Unavailable) => return Err(UNAVAILABLE.into()),
        (T::Bool, Value::Bool(b)) => Cell::Bool(*b),
        (T::Bool, Value::Int(0)) => Cell::Bool(false),
        (T::Bool, Value::Int(1)) => Cell::Bool(true),
        (T::Int16, v) => {
            let i = integer(v).ok_or_else(mismatch)??;
            Cell::I16(i16::try_from(i).map_err(|_| out_of_range(i, sql_type))?)
        }
        (T::Int32, v) => {
            let i = integer(v).ok_or_else(mismatch)??;
            Cell::I32(i32::try_from(i).map_err(|_| out_of_range(i, sql_type))?)
        }
        (T::Int64, v) => Cell::I64(integer(v).ok_or_else(mismatch)??),
        (T::Float32, Value::Float(f)) => Cell::F32(narrow(*f)?),
        (T::Float32, Value::Int(i)) => Cell::F32(*i as f32),
        (T::Float32, Value::Decimal(d)) => Cell::F32(parse_float::<f32>(d)?),
        (T::Float64, Value::Float(f)) => Cell::F64(*f),
        (T::Float64, Value::Int(i)) => Cell::F64(*i as f64),
        (T::Float64, Value::Decimal(d)) => Cell::F64(parse_float::<f64>(d)?),
        (T::Numeric, v) => numeric(v).ok_or_else(mismatch)??,
        (T::Text | T::Other, Value::Text(s)) => Cell::Text(Cow::Borrowed(no_nul(s)?)),
        // A typed value in a text column: PostgreSQL's text form of it, as a cast would give.
        (T::Text | T::Other, v) => match v.to_pg_text() {
            Some(text) => {
                no_nul(&text)?;
                Cell::Text(Cow::Owned(text))
            }
            None => return Err(mismatch()),
        },
        (T::Bytes, Value::Bytes(b)) => Cell::Bytes(Cow::Borrowed(b)),
        // Kept from before typed values: Debezium's JSON bytes without a schema are base64.
        (T::Bytes, Value::Text(s)) => Cell::Bytes(Cow::Owned(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| format!("bytes value is not valid base64: {e}"))?,
        )),
        (T::Date, Value::Date(d)) => {
            if !(DATE_MIN..=DATE_MAX).contains(d) {
                return Err(format!(
                    "date {value} is out of PostgreSQL's range (4714-11-24 BC to 5874897-12-31)"
                ));
            }
            Cell::Date(d - PG_EPOCH_DAYS)
        }
        (T::Time, Value::Time(t)) => Cell::Time(time_of_day(*t)?),
        (T::TimeTz, Value::Time(t)) => Cell::TimeTz {
            micros: time_of_day(*t)?,
            offset_secs: 0,
        },
        (
            T::TimeTz,
            Value::TimeTz {
                micros,
                offset_secs,
            },
        ) => {
            if offset_secs.unsigned_abs() >= OFFSET_LIMIT.unsigned_abs() {
                return Err(format!(
                    "time zone offset of {offset_secs} seconds in {value} is beyond ±15:59:59"
                ));
            }
            Cell::TimeTz {
                micros: time_of_day(*micros)?,
                offset_secs: *offset_secs,
            }
        }
        // A timestamp into timestamptz is taken as UTC; an instant into timestamp is stored
        // as its UTC wall clock: both are the same microseconds.
        (T::Timestamp | T::TimestampTz, Value::Timestamp(t) | Value::TimestampTz(t)) => {
            Cell::Timestamp(timestamp(*t, value)?)
        }
        (T::Interval, Value::Interval(i)) => Cell::Interval(**i),
        (T::Uuid, Value::Uuid(u)) => Cell::Uuid(*u),
        (T::Uuid, Value::Text(s)) => {
            Cell::Uuid(parse_uuid(s).ok_or_else(|| format!("{} is not a UUID", describe(value)))?)
        }
        // JSON text as the source wrote it; the server parses and checks it.
        (T::Json, Value::Json(s) | Value::Text(s)) => Cell::Text(Cow::Borrowed(no_nul(s)?)),
        (T::Jsonb, Value::Json(s) | Value::Text(s)) => Cell::Jsonb(Cow::Borrowed(no_nul(s)?)),
        (T::Bits, Value::Bits(b)) => bits(b)?,
        (T::Bits, Value::Bool(b)) => Cell::Bits {
            len: 1,
            bytes: Cow::Borrowed(if *b { &[0x80] } else { &[0] }),
        },
        (T::Array(element), Value::Array(items)) => {
            let element_sql = sql_type.strip_suffix("[]").unwrap_or(sql_type);
            let mut cells = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let cell = match item {
                    Value::Array(_) => Err(
                        "multi-dimensional arrays are not supported (one array inside another)"
                            .to_string(),
                    ),
                    item => convert(item, element.column_type(), element_sql),
                };
                cells.push(cell.map_err(|e| format!("array element {}: {e}", i + 1))?);
            }
            Cell::Array(cells)
        }
        (T::Array(_), Value::Text(_)) => {
            return Err(format!(
                "{}: an array column takes an array value, not its text (is the column's \
                 type in the source an array?)",
                mismatch()
            ))
        }
        _ => return Err(mismatch()),
    })
}

/// An integer from an integer, a boolean (MySQL's `TINYINT(1)` arrives as one) or a decimal
/// without a fraction; `None` for any other kind of value.
fn integer(value: &Value) -> Option<Result<i64, String>> {
    match value {
        Value::Int(i) => Some(Ok(*i)),
        Value::Bool(b) => Some(Ok(i64::from(*b))),
        Value::Decimal(d) => Some(integral(d)),
        _ => None,
    }
}

fn integral(d: &Decimal) -> Result<i64, String> {
    let (integer, fraction) = d.parts();
    if fraction.bytes().any(|b| b != b'0') {
        return Err(format!(
            "decimal {d} has a fractional part, which an integer column cannot store"
        ));
    }
    let text = if d.is_negative() {
        format!("-{integer}")
    } else {
        integer.to_string()
    };
    text.parse::<i64>()
        .map_err(|_| format!("decimal {d} is out of range for bigint"))
}

fn out_of_range(i: i64, sql_type: &str) -> String {
    format!("{i} is out of range for {sql_type}")
}

/// A double into `real`: a finite value beyond its range would silently become infinity.
fn narrow(f: f64) -> Result<f32, String> {
    let narrowed = f as f32;
    if f.is_finite() && narrowed.is_infinite() {
        return Err(format!("{f:?} is out of range for real"));
    }
    Ok(narrowed)
}

fn parse_float<F: std::str::FromStr + FloatCheck>(d: &Decimal) -> Result<F, String> {
    match d.as_str().parse::<F>() {
        Ok(f) if f.finite() => Ok(f),
        _ => Err(format!(
            "decimal {d} is out of range for a floating-point column"
        )),
    }
}

trait FloatCheck {
    fn finite(&self) -> bool;
}

impl FloatCheck for f32 {
    fn finite(&self) -> bool {
        self.is_finite()
    }
}

impl FloatCheck for f64 {
    fn finite(&self) -> bool {
        self.is_finite()
    }
}

/// A numeric from a decimal, an integer, a float (through its shortest round-trip text, so
/// `0.1` stays `0.1`) or text in decimal notation (Debezium's `decimal.handling.mode=string`).
fn numeric(value: &Value) -> Option<Result<Cell<'_>, String>> {
    let owned = |d: Option<Decimal>| {
        d.ok_or_else(|| format!("{} is not a decimal number", describe(value)))
            .and_then(|d| encode::numeric_fits(&d).map(|()| Cell::Numeric(Cow::Owned(d))))
    };
    Some(match value {
        Value::Decimal(d) => encode::numeric_fits(d).map(|()| Cell::Numeric(Cow::Borrowed(d))),
        Value::Int(i) => owned(Decimal::parse(&i.to_string())),
        Value::Float(f) if f.is_nan() => Ok(Cell::NumericSpecial(NumericSign::NaN)),
        // PostgreSQL 14 and later store infinite numerics; a constrained numeric(p,s) column
        // refuses them at COPY.
        Value::Float(f) if f.is_infinite() && *f > 0.0 => {
            Ok(Cell::NumericSpecial(NumericSign::Infinity))
        }
        Value::Float(f) if f.is_infinite() => {
            Ok(Cell::NumericSpecial(NumericSign::NegativeInfinity))
        }
        Value::Float(f) => owned(Decimal::parse(&format!("{f:?}"))),
        Value::Text(s) => match special_numeric(s) {
            Some(sign) => Ok(Cell::NumericSpecial(sign)),
            None => owned(Decimal::parse(s)),
        },
        _ => return None,
    })
}

/// The special values in the spellings PostgreSQL's numeric input accepts.
fn special_numeric(s: &str) -> Option<NumericSign> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("nan") {
        Some(NumericSign::NaN)
    } else if s.eq_ignore_ascii_case("infinity") || s.eq_ignore_ascii_case("+infinity") {
        Some(NumericSign::Infinity)
    } else if s.eq_ignore_ascii_case("-infinity") {
        Some(NumericSign::NegativeInfinity)
    } else {
        None
    }
}

fn time_of_day(micros: i64) -> Result<i64, String> {
    // 24:00:00 is a valid time in PostgreSQL.
    if !(0..=MICROS_PER_DAY).contains(&micros) {
        return Err(format!(
            "time of {micros} microseconds since midnight is not within 00:00:00 to 24:00:00"
        ));
    }
    Ok(micros)
}

/// Microseconds since 1970 → since 2000, within PostgreSQL's range.
fn timestamp(unix_micros: i64, value: &Value) -> Result<i64, String> {
    match unix_micros.checked_sub(PG_EPOCH_MICROS) {
        Some(t) if (TIMESTAMP_MIN..TIMESTAMP_END).contains(&t) => Ok(t),
        _ => Err(format!(
            "timestamp {value} is out of PostgreSQL's range (4714-11-24 00:00 BC to \
             294276-12-31 23:59:59.999999)"
        )),
    }
}

fn bits(b: &Bits) -> Result<Cell<'_>, String> {
    let len =
        i32::try_from(b.len).map_err(|_| format!("a bit string of {} bits is too long", b.len))?;
    let needed = (b.len as usize).div_ceil(8);
    if b.bytes.len() > needed {
        return Err(format!(
            "a bit string of {} bits carries {} bytes (expected at most {needed})",
            b.len,
            b.bytes.len()
        ));
    }
    Ok(Cell::Bits {
        len,
        bytes: Cow::Borrowed(&b.bytes),
    })
}

fn no_nul(s: &str) -> Result<&str, String> {
    if s.contains('\0') {
        return Err("text contains a NUL character, which PostgreSQL text cannot store".into());
    }
    Ok(s)
}

/// The kind of value and a short preview of it, for errors.
fn describe(value: &Value) -> String {
    let text = value.to_string();
    let preview = if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    };
    match value {
        Value::Null | Value::Unavailable => value.kind().to_string(),
        _ => format!("{} {preview}", value.kind()),
    }
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
