use std::fmt;
use std::hash::{Hash, Hasher};

use crate::civil;
use crate::decimal::Decimal;

/// A decoded column value: what the source said, in a form that keeps it exact, before it is
/// encoded for the target column's type.
///
/// The decoder produces the logical variants (`Decimal`, `Date`, `Timestamp`, …) from the
/// Kafka Connect schema or, without one, from the target column's type; the warehouse adapter
/// encodes each for the column it lands in. Sixteen bytes of payload keep a row of values
/// compact: larger variants are boxed.
#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// An exact decimal (Connect `Decimal`, Debezium `VariableScaleDecimal`, a JSON number
    /// read for a numeric column).
    Decimal(Decimal),
    /// Raw bytes (Connect `bytes`, base64 in JSON).
    Bytes(Vec<u8>),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since midnight at a UTC offset (seconds east).
    TimeTz {
        micros: i64,
        offset_secs: i32,
    },
    /// Microseconds since 1970-01-01T00:00, no time zone (a wall-clock date-time).
    Timestamp(i64),
    /// Microseconds since 1970-01-01T00:00Z: an instant.
    TimestampTz(i64),
    /// PostgreSQL's interval: months, days and microseconds, kept apart.
    Interval(Box<Interval>),
    Uuid([u8; 16]),
    /// JSON text, exactly as the source wrote it.
    Json(String),
    /// A bit string, most significant bit first, as PostgreSQL's bit types store it.
    Bits(Box<Bits>),
    /// A one-dimensional array.
    Array(Vec<Value>),
    /// The source did not send this column's value because it did not change (PostgreSQL's
    /// unchanged TOASTed columns): the target keeps the value it has.
    Unavailable,
}

/// An interval as PostgreSQL stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

/// A bit string: `len` bits, most significant first, padded with zero bits to whole bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bits {
    pub len: u32,
    pub bytes: Vec<u8>,
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Approximate heap + inline size, used for memory accounting of batches.
    pub fn approx_size(&self) -> usize {
        std::mem::size_of::<Value>()
            + match self {
                Value::Text(s) | Value::Json(s) => s.len(),
                Value::Decimal(d) => d.as_str().len(),
                Value::Bytes(b) => b.len(),
                Value::Interval(_) => std::mem::size_of::<Interval>(),
                Value::Bits(b) => std::mem::size_of::<Bits>() + b.bytes.len(),
                Value::Array(items) => items.iter().map(Value::approx_size).sum(),
                _ => 0,
            }
    }

    /// What kind of value this is, in words, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a floating-point number",
            Value::Text(_) => "text",
            Value::Decimal(_) => "a decimal",
            Value::Bytes(_) => "bytes",
            Value::Date(_) => "a date",
            Value::Time(_) => "a time",
            Value::TimeTz { .. } => "a time with time zone",
            Value::Timestamp(_) => "a timestamp",
            Value::TimestampTz(_) => "a timestamp with time zone",
            Value::Interval(_) => "an interval",
            Value::Uuid(_) => "a UUID",
            Value::Json(_) => "JSON",
            Value::Bits(_) => "a bit string",
            Value::Array(_) => "an array",
            Value::Unavailable => "the unavailable-value placeholder",
        }
    }

    /// The value as PostgreSQL's text input for its type reads it (used where a column is
    /// staged as text and cast, and for text columns fed a typed value). `None` for NULL and
    /// the unavailable placeholder.
    pub fn to_pg_text(&self) -> Option<String> {
        let mut out = String::new();
        match self {
            Value::Null | Value::Unavailable => return None,
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Float(f) => out.push_str(&float_text(*f)),
            Value::Text(s) | Value::Json(s) => out.push_str(s),
            Value::Decimal(d) => out.push_str(d.as_str()),
            Value::Bytes(b) => {
                out.push_str("\\x");
                out.push_str(&hex(b));
            }
            Value::Date(d) => civil::format_date(i64::from(*d), &mut out),
            Value::Time(t) => civil::format_time(*t, &mut out),
            Value::TimeTz {
                micros,
                offset_secs,
            } => {
                civil::format_time(*micros, &mut out);
                let (sign, off) = if *offset_secs < 0 {
                    ('-', -offset_secs)
                } else {
                    ('+', *offset_secs)
                };
                out.push_str(&format!("{sign}{:02}:{:02}", off / 3600, (off / 60) % 60));
                if off % 60 != 0 {
                    out.push_str(&format!(":{:02}", off % 60));
                }
            }
            Value::Timestamp(t) => civil::format_timestamp(*t, &mut out),
            Value::TimestampTz(t) => {
                civil::format_timestamp(*t, &mut out);
                // The BC suffix, if any, comes after the zone in PostgreSQL's output; its
                // input takes either order.
                out.push_str("+00");
            }
            Value::Interval(i) => out.push_str(&format!(
                "{} mons {} days {} microseconds",
                i.months, i.days, i.micros
            )),
            Value::Uuid(u) => out.push_str(&format_uuid(u)),
            Value::Bits(b) => {
                for i in 0..b.len {
                    let byte = b.bytes.get((i / 8) as usize).copied().unwrap_or(0);
                    out.push(if byte & (0x80 >> (i % 8)) != 0 {
                        '1'
                    } else {
                        '0'
                    });
                }
            }
            Value::Array(items) => {
                out.push('{');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    match item.to_pg_text() {
                        None => out.push_str("NULL"),
                        Some(text) => {
                            out.push('"');
                            for c in text.chars() {
                                if c == '"' || c == '\\' {
                                    out.push('\\');
                                }
                                out.push(c);
                            }
                            out.push('"');
                        }
                    }
                }
                out.push('}');
            }
        }
        Some(out)
    }
}

impl Value {
    /// The value as Amazon Redshift's text input reads it, for staging: PostgreSQL's text but
    /// for bytes (hexadecimal digits, read by `FROM_HEX`), intervals (`D days HH:MM:SS.f`, a
    /// `DAY TO SECOND` literal) and arrays (a JSON array, read by `JSON_PARSE` into `SUPER`).
    /// `None` for NULL and the unavailable placeholder.
    pub fn to_redshift_text(&self) -> Option<String> {
        match self {
            Value::Bytes(b) => Some(hex(b)),
            Value::Interval(i) => {
                let sign = if i.micros < 0 { "-" } else { "" };
                let mut time = String::new();
                let micros = i.micros.unsigned_abs();
                let secs = micros / 1_000_000;
                time.push_str(&format!(
                    "{:02}:{:02}:{:02}.{:06}",
                    secs / 3600,
                    (secs / 60) % 60,
                    secs % 60,
                    micros % 1_000_000
                ));
                Some(format!("{} days {sign}{time}", i.days))
            }
            Value::Array(_) => {
                let mut out = String::new();
                json_into(self, &mut out);
                Some(out)
            }
            other => other.to_pg_text(),
        }
    }
}

/// A value as JSON: numbers and booleans as themselves, JSON as it is, NULL as null, anything
/// else as a string of its text.
fn json_into(value: &Value, out: &mut String) {
    match value {
        Value::Null | Value::Unavailable => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) if f.is_finite() => out.push_str(&float_text(*f)),
        Value::Decimal(d) => out.push_str(d.as_str()),
        Value::Json(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_into(item, out);
            }
            out.push(']');
        }
        other => {
            let text = other.to_pg_text().unwrap_or_default();
            out.push('"');
            for c in text.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
    }
}

/// Shortest text that reads back as the same double (`1e300`, `0.1`, `NaN`, `Infinity`).
fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{f:?}")
    }
}

/// Lowercase hexadecimal digits of `bytes`, two per byte (PostgreSQL's bytea hex format
/// without its `\\x`, Redshift's VARBYTE text).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn format_uuid(u: &[u8; 16]) -> String {
    let hex = hex(u);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

// Floats compare and hash by bit pattern so that a key containing a float is a proper map
// key (NaN equals itself, 0.0 and -0.0 differ: the same as the source's binary identity).
impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) | (Unavailable, Unavailable) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Text(a), Text(b)) | (Json(a), Json(b)) => a == b,
            (Decimal(a), Decimal(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (Date(a), Date(b)) => a == b,
            (Time(a), Time(b))
            | (Timestamp(a), Timestamp(b))
            | (TimestampTz(a), TimestampTz(b)) => a == b,
            (
                TimeTz {
                    micros: a,
                    offset_secs: x,
                },
                TimeTz {
                    micros: b,
                    offset_secs: y,
                },
            ) => a == b && x == y,
            (Interval(a), Interval(b)) => a == b,
            (Uuid(a), Uuid(b)) => a == b,
            (Bits(a), Bits(b)) => a == b,
            (Array(a), Array(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Value::Null | Value::Unavailable => {}
            Value::Bool(b) => b.hash(state),
            Value::Int(i) | Value::Time(i) | Value::Timestamp(i) | Value::TimestampTz(i) => {
                i.hash(state)
            }
            Value::Float(f) => f.to_bits().hash(state),
            Value::Text(s) | Value::Json(s) => s.hash(state),
            Value::Decimal(d) => d.hash(state),
            Value::Bytes(b) => b.hash(state),
            Value::Date(d) => d.hash(state),
            Value::TimeTz {
                micros,
                offset_secs,
            } => (micros, offset_secs).hash(state),
            Value::Interval(i) => i.hash(state),
            Value::Uuid(u) => u.hash(state),
            Value::Bits(b) => b.hash(state),
            Value::Array(items) => items.hash(state),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Unavailable => f.write_str("(unavailable)"),
            Value::Text(s) => write!(f, "{s:?}"),
            other => match other.to_pg_text() {
                Some(text) => f.write_str(&text),
                None => f.write_str("NULL"),
            },
        }
    }
}

/// The values of a row's key columns, in the layout's key order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(pub Vec<Value>);

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{v}")?;
        }
        f.write_str(")")
    }
}

/// Parses a UUID in its canonical 8-4-4-4-12 hex form, also without hyphens or in braces.
pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let s = s.trim();
    let s = s
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(s);
    let hex: Vec<u8> = s.bytes().filter(|&b| b != b'-').collect();
    if hex.len() != 32 || (s.len() != 32 && s.len() != 36) || !hex.iter().all(u8::is_ascii_hexdigit)
    {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        *out.get_mut(i)? = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_stays_small() {
        // Rows are vectors of values held in batches: keep the inline size at 32 bytes.
        assert_eq!(std::mem::size_of::<Value>(), 32);
    }

    #[test]
    fn pg_text_forms() {
        let t = |v: Value| v.to_pg_text().unwrap();
        assert_eq!(t(Value::Date(-1)), "1969-12-31");
        assert_eq!(t(Value::Timestamp(1_500_000)), "1970-01-01 00:00:01.5");
        assert_eq!(
            t(Value::TimeTz {
                micros: 3_600_000_000,
                offset_secs: -19_800
            }),
            "01:00:00-05:30"
        );
        assert_eq!(
            t(Value::Array(vec![Value::Text("a\"b".into()), Value::Null])),
            "{\"a\\\"b\",NULL}"
        );
        assert_eq!(
            t(Value::Bits(Box::new(Bits {
                len: 3,
                bytes: vec![0b1010_0000]
            }))),
            "101"
        );
        assert_eq!(t(Value::Bytes(vec![0xde, 0xad])), "\\xdead");
        assert_eq!(t(Value::Float(0.1)), "0.1");
    }
}
