//! One field's JSON → [`Value`], the way its [`Conv`] says. Exact throughout: decimals are
//! read from the JSON text (never through a float), times from integers in their unit.

use std::fmt;

use base64::Engine;
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use tidemark_model::{civil, Bits, Decimal, Interval, Value};

use crate::conv::{Conv, DecimalForm, Unit};
use crate::json_text;
use crate::options::BinaryHandling;
use crate::DecodeError;

/// What Debezium's PostgreSQL connector sends for a column it did not read (an unchanged
/// TOASTed value): `unavailable.value.placeholder`'s default.
pub(crate) const UNAVAILABLE: &str = "__debezium_unavailable_value";
/// The placeholder as base64 bytes (for a binary column).
const UNAVAILABLE_BASE64: &str = "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==";

/// One field value, read as `conv` says.
pub(crate) struct ValueSeed<'s> {
    /// How to read it.
    pub(crate) conv: &'s Conv,
    /// The field's source name, for errors.
    pub(crate) field: &'s str,
    /// Where a typed error is left before the parser is aborted.
    pub(crate) error: &'s mut Option<DecodeError>,
}

impl ValueSeed<'_> {
    /// Leaves a typed error for the field and returns the parser error that aborts parsing.
    fn fail<E: serde::de::Error>(self, reason: String) -> E {
        let e = DecodeError::InvalidValue {
            field: self.field.to_string(),
            reason,
        };
        let msg = e.to_string();
        *self.error = Some(e);
        E::custom(msg)
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if let Conv::Decimal(form) = self.conv {
            // The JSON text itself: a number must not pass through f64.
            let raw = <&RawValue>::deserialize(d)?;
            return match decimal(raw.get(), *form) {
                Ok(v) => Ok(v),
                Err(reason) => Err(self.fail(reason)),
            };
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        match self.conv {
            Conv::Plain | Conv::Scalar | Conv::Bits { .. } => Ok(Value::Bool(v)),
            Conv::Json => Ok(Value::Json(v.to_string())),
            conv => Err(self.fail(format!("a boolean is not {}", conv_words(conv)))),
        }
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        let result = match self.conv {
            Conv::Plain | Conv::Scalar => Ok(Value::Int(v)),
            Conv::Date => i32::try_from(v)
                .map(Value::Date)
                .map_err(|_| format!("{v} days since 1970-01-01 is beyond any date")),
            Conv::Time(unit) => micros(v, *unit).map(Value::Time),
            Conv::Timestamp(unit) => micros(v, *unit).map(Value::Timestamp),
            Conv::TimestampTz(unit) => micros(v, *unit).map(Value::TimestampTz),
            Conv::Interval => Ok(Value::Interval(Box::new(Interval {
                months: 0,
                days: 0,
                micros: v,
            }))),
            Conv::Json => Ok(Value::Json(v.to_string())),
            conv => Err(format!("an integer is not {}", conv_words(conv))),
        };
        result.map_err(|reason| self.fail(reason))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        match i64::try_from(v) {
            Ok(i) => self.visit_i64(i),
            Err(_) if *self.conv == Conv::Json => Ok(Value::Json(v.to_string())),
            Err(_) => {
                let e = DecodeError::IntegerOutOfRange {
                    field: self.field.to_string(),
                    value: v,
                };
                let msg = e.to_string();
                *self.error = Some(e);
                Err(E::custom(msg))
            }
        }
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        match self.conv {
            Conv::Plain | Conv::Scalar => Ok(Value::Float(v)),
            conv => Err(self.fail(format!("a fractional number is not {}", conv_words(conv)))),
        }
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        if v == UNAVAILABLE {
            return Ok(Value::Unavailable);
        }
        match string(v, self.conv) {
            Ok(value) => Ok(value),
            Err(reason) => Err(self.fail(reason)),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        match self.conv {
            Conv::Array(element) => {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element_seed(ValueSeed {
                    conv: element,
                    field: self.field,
                    error: &mut *self.error,
                })? {
                    items.push(item);
                }
                // An unchanged TOASTed array arrives as the placeholder alone.
                if let [Value::Unavailable] = items.as_slice() {
                    return Ok(Value::Unavailable);
                }
                Ok(Value::Array(items))
            }
            Conv::Plain | Conv::Json => {
                let mut text = String::new();
                json_text::write_seq(seq, &mut text)?;
                Ok(if *self.conv == Conv::Json {
                    Value::Json(text)
                } else {
                    Value::Text(text)
                })
            }
            conv => Err(self.fail(format!("an array is not {}", conv_words(conv)))),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        match self.conv {
            Conv::Plain | Conv::Json => {
                let mut text = String::new();
                json_text::write_map(map, &mut text)?;
                Ok(if *self.conv == Conv::Json {
                    Value::Json(text)
                } else {
                    Value::Text(text)
                })
            }
            // A geometry struct: the WKB is the value (the SRID is inside EWKB, or lost).
            Conv::Bytes(_) => {
                let mut wkb = None;
                while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if name == "wkb" {
                        wkb = map.next_value::<Option<String>>()?;
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                match wkb.map(|w| bytes(&w, BinaryHandling::Base64)) {
                    Some(Ok(b)) => Ok(Value::Bytes(b)),
                    Some(Err(reason)) => Err(self.fail(reason)),
                    None => Err(self.fail("a geometry struct without \"wkb\"".into())),
                }
            }
            conv => Err(A::Error::custom(format!(
                "field {:?}: an object is not {}",
                self.field,
                conv_words(conv)
            ))),
        }
    }
}

/// What a conversion expects, for errors.
fn conv_words(conv: &Conv) -> &'static str {
    match conv {
        Conv::Plain => "a plain value",
        Conv::Scalar => "a boolean or a number (as the column's type is)",
        Conv::Decimal(_) => "a decimal",
        Conv::Date => "a date (days since 1970-01-01, or an ISO date)",
        Conv::Time(_) => "a time of day (an integer, or an ISO time)",
        Conv::TimeTz => "a time with offset (an ISO string)",
        Conv::Timestamp(_) => "a timestamp (an integer since the epoch, or an ISO date-time)",
        Conv::TimestampTz(_) => "a timestamp with time zone (an ISO string, or an integer)",
        Conv::Interval => "an interval (microseconds, or an ISO-8601 duration)",
        Conv::Uuid => "a UUID string",
        Conv::Json => "JSON",
        Conv::Bytes(_) => "bytes (an encoded string)",
        Conv::Bits { .. } => "a bit string (bytes)",
        Conv::Array(_) => "an array",
    }
}

/// Scales an integer time to microseconds; nanoseconds round half up, as PostgreSQL's input.
fn micros(v: i64, unit: Unit) -> Result<i64, String> {
    match unit {
        Unit::Millis => v
            .checked_mul(1000)
            .ok_or_else(|| format!("{v} ms is beyond any timestamp")),
        Unit::Micros => Ok(v),
        Unit::Nanos => Ok(v.div_euclid(1000) + i64::from(v.rem_euclid(1000) >= 500)),
    }
}

/// A string read as `conv` says.
fn string(v: &str, conv: &Conv) -> Result<Value, String> {
    let bad = |what: &str| format!("{v:?} is not {what}");
    Ok(match conv {
        Conv::Plain => Value::Text(v.to_string()),
        Conv::Scalar => return Err(bad("a boolean or a number (as the column's type is)")),
        Conv::Json => Value::Json(v.to_string()),
        Conv::Decimal(form) => return decimal_text(v, *form),
        Conv::Date => match civil::parse_datetime(v) {
            Some(t) if t.local_micros.rem_euclid(civil::MICROS_PER_DAY) == 0 => {
                let days = t.local_micros.div_euclid(civil::MICROS_PER_DAY);
                Value::Date(i32::try_from(days).map_err(|_| bad("a date in range"))?)
            }
            _ => return Err(bad("an ISO date (YYYY-MM-DD)")),
        },
        Conv::Time(_) => match civil::parse_time_with_offset(v) {
            Some((micros, None)) => Value::Time(micros),
            _ => return Err(bad("an ISO time of day (HH:MM:SS[.ffffff])")),
        },
        Conv::TimeTz => match civil::parse_time_with_offset(v) {
            Some((micros, offset)) => Value::TimeTz {
                micros,
                offset_secs: offset.unwrap_or(0),
            },
            None => return Err(bad("an ISO time with offset (HH:MM:SS[.ffffff]Z)")),
        },
        // An offset given for a wall-clock column: the wall clock in UTC.
        Conv::Timestamp(_) => match civil::parse_datetime(v).and_then(|t| t.utc_micros()) {
            Some(micros) => Value::Timestamp(micros),
            None => return Err(bad("an ISO date-time (in range)")),
        },
        Conv::TimestampTz(_) => match civil::parse_datetime(v).and_then(|t| t.utc_micros()) {
            Some(micros) => Value::TimestampTz(micros),
            None => return Err(bad("an ISO date-time with offset (in range)")),
        },
        Conv::Interval => match civil::parse_iso_duration(v) {
            Some((months, days, micros)) => Value::Interval(Box::new(Interval {
                months,
                days,
                micros,
            })),
            None => return Err(bad("an ISO-8601 duration (PnYnMnDTnHnMnS)")),
        },
        Conv::Uuid => Value::Uuid(tidemark_model::parse_uuid(v).ok_or_else(|| bad("a UUID"))?),
        Conv::Bytes(encoding) => {
            if v == UNAVAILABLE_BASE64 {
                return Ok(Value::Unavailable);
            }
            Value::Bytes(bytes(v, *encoding)?)
        }
        Conv::Bits { length, varying } => {
            if v == UNAVAILABLE_BASE64 {
                return Ok(Value::Unavailable);
            }
            let bytes = bytes(v, BinaryHandling::Base64)?;
            let length = if *varying {
                // The number's own binary digits (at least one), within the declared maximum.
                let significant = significant_bits(&bytes).max(1);
                Some(length.map_or(significant, |max| significant.min(max)))
            } else {
                *length
            };
            Value::Bits(Box::new(bits(&bytes, length)?))
        }
        Conv::Array(_) => return Err(bad("an array")),
    })
}

/// Decodes bytes sent as text.
pub(crate) fn bytes(v: &str, encoding: BinaryHandling) -> Result<Vec<u8>, String> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    match encoding {
        BinaryHandling::Base64 => STANDARD.decode(v),
        BinaryHandling::Base64UrlSafe => URL_SAFE.decode(v),
        BinaryHandling::Hex => return hex(v),
    }
    .map_err(|e| format!("bytes are not valid base64 ({e})"))
}

fn hex(v: &str) -> Result<Vec<u8>, String> {
    let v = v.as_bytes();
    if !v.len().is_multiple_of(2) {
        return Err("hex bytes have an odd number of digits".into());
    }
    v.chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| "bytes are not valid hex".to_string())
        })
        .collect()
}

/// How many bits a little-endian number needs (0 for zero).
fn significant_bits(little_endian: &[u8]) -> u32 {
    little_endian
        .iter()
        .enumerate()
        .rev()
        .find(|(_, b)| **b != 0)
        .map_or(0, |(i, b)| i as u32 * 8 + (8 - b.leading_zeros()))
}

/// Debezium's `Bits`: the bit string read as a binary number, stored little-endian. The bit
/// string has `length` bits (or eight per byte), most significant first.
fn bits(little_endian: &[u8], length: Option<u32>) -> Result<Bits, String> {
    // PostgreSQL's limit for a bit string; a larger declared length is not a real column.
    const MAX_BITS: u32 = 83_886_080;
    if length.is_some_and(|l| l > MAX_BITS) {
        return Err(format!("a bit length above PostgreSQL's {MAX_BITS}"));
    }
    let available = u32::try_from(little_endian.len())
        .ok()
        .and_then(|n| n.checked_mul(8))
        .ok_or("a bit string too long")?;
    let len = length.unwrap_or(available);
    let mut out = vec![0u8; len.div_ceil(8) as usize];
    for i in 0..len {
        // Bit `i` of the text (from the left) is bit `len - 1 - i` of the number.
        let n = len - 1 - i;
        let set = little_endian
            .get((n / 8) as usize)
            .is_some_and(|b| b & (1 << (n % 8)) != 0);
        if set {
            if let Some(byte) = out.get_mut((i / 8) as usize) {
                *byte |= 0x80 >> (i % 8);
            }
        }
    }
    // Bits beyond `length` must be zero, or the declared length is wrong.
    let beyond = (len..available).any(|n| {
        little_endian
            .get((n / 8) as usize)
            .is_some_and(|b| b & (1 << (n % 8)) != 0)
    });
    if beyond {
        return Err(format!("the bytes hold more than the declared {len} bits"));
    }
    Ok(Bits { len, bytes: out })
}

/// A decimal from the raw JSON of its field.
fn decimal(raw: &str, form: DecimalForm) -> Result<Value, String> {
    match raw.as_bytes().first() {
        Some(b'n') => Ok(Value::Null),
        Some(b'"') => {
            let s: String = serde_json::from_str(raw).map_err(|e| e.to_string())?;
            if s == UNAVAILABLE || s == UNAVAILABLE_BASE64 {
                return Ok(Value::Unavailable);
            }
            decimal_text(&s, form)
        }
        Some(b'{') => {
            #[derive(Deserialize)]
            struct VariableScale {
                scale: i32,
                value: String,
            }
            let v: VariableScale = serde_json::from_str(raw).map_err(|e| {
                format!("a decimal object must be {{\"scale\": int, \"value\": base64}} ({e})")
            })?;
            let unscaled = bytes(&v.value, BinaryHandling::Base64)?;
            Decimal::from_unscaled_bytes(&unscaled, v.scale)
                .map(Value::Decimal)
                .ok_or_else(|| format!("scale {} is out of range", v.scale))
        }
        Some(b'-' | b'0'..=b'9') => Decimal::parse(raw)
            .map(Value::Decimal)
            .ok_or_else(|| format!("{raw} is not a finite decimal")),
        _ => Err(format!(
            "{raw} is not a decimal (a number, string or {{scale, value}})"
        )),
    }
}

/// A decimal sent as a string: base64 unscaled bytes, or decimal text.
fn decimal_text(s: &str, form: DecimalForm) -> Result<Value, String> {
    match form {
        DecimalForm::Text => Decimal::parse(s)
            .map(Value::Decimal)
            .ok_or_else(|| format!("{s:?} is not a decimal number")),
        DecimalForm::Bytes(Some(scale)) => {
            let unscaled = bytes(s, BinaryHandling::Base64)?;
            Decimal::from_unscaled_bytes(&unscaled, scale)
                .map(Value::Decimal)
                .ok_or_else(|| format!("scale {scale} is out of range"))
        }
        DecimalForm::Bytes(None) => Err(format!(
            "{s:?} is a Kafka Connect Decimal (base64 unscaled bytes) but its scale is unknown: \
             enable the schema envelope (value.converter.schemas.enable=true), declare the \
             column's scale (numeric(p,s)), or set decimal_handling = \"string\" with the \
             connector's decimal.handling.mode=string"
        )),
    }
}
