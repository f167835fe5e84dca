//! A layout-free view of one Debezium change event ([`parse_event`]), for tools and tests. The
//! hot decoding path ([`crate::TableDecoder`]) does not build it.

use std::fmt;

use serde::de::{Deserializer, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value as Json};

use crate::DecodeError;

/// The operation of a change event (Debezium's `op`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `"c"`: a row was inserted.
    Create,
    /// `"u"`: a row was updated.
    Update,
    /// `"d"`: a row was deleted.
    Delete,
    /// `"r"`: a row was read by a snapshot.
    Read,
    /// `"t"`: the source table was truncated (no row images, usually no key).
    Truncate,
    /// `"m"`: a logical decoding message (PostgreSQL `pg_logical_emit_message`): not a row.
    Message,
}

impl Op {
    /// Parses Debezium's op code; anything but `c`, `u`, `d`, `r`, `t`, `m` is
    /// [`DecodeError::UnsupportedOp`].
    pub fn from_code(code: &str) -> Result<Self, DecodeError> {
        match code {
            "c" => Ok(Op::Create),
            "u" => Ok(Op::Update),
            "d" => Ok(Op::Delete),
            "r" => Ok(Op::Read),
            "t" => Ok(Op::Truncate),
            "m" => Ok(Op::Message),
            other => Err(DecodeError::UnsupportedOp(other.to_string())),
        }
    }

    /// Debezium's op code.
    pub fn code(self) -> &'static str {
        match self {
            Op::Create => "c",
            Op::Update => "u",
            Op::Delete => "d",
            Op::Read => "r",
            Op::Truncate => "t",
            Op::Message => "m",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
            Op::Read => "snapshot read",
            Op::Truncate => "truncate",
            Op::Message => "logical decoding message",
        };
        write!(f, "{name} ({})", self.code())
    }
}

/// The parts of Debezium's `source` block that tidemark keeps. Every field is optional because
/// connectors and versions differ; integers are also accepted as decimal strings, and
/// `snapshot` as a boolean (older connectors).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SourceInfo {
    /// Connector kind: `mysql`, `postgresql`, ...
    #[serde(default)]
    pub connector: Option<String>,
    /// The connector's logical server name (topic prefix).
    #[serde(default)]
    pub name: Option<String>,
    /// Source database.
    #[serde(default)]
    pub db: Option<String>,
    /// Source schema (PostgreSQL, SQL Server).
    #[serde(default)]
    pub schema: Option<String>,
    /// Source table.
    #[serde(default)]
    pub table: Option<String>,
    /// When the change was made in the source database (ms since the epoch).
    #[serde(default, deserialize_with = "lenient_i64")]
    pub ts_ms: Option<i64>,
    /// Snapshot marker: `"true"`, `"false"`, `"last"`, `"incremental"`, ...
    #[serde(default, deserialize_with = "lenient_string")]
    pub snapshot: Option<String>,
    /// MySQL binlog file name.
    #[serde(default)]
    pub file: Option<String>,
    /// MySQL binlog position.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub pos: Option<i64>,
    /// MySQL row number within the binlog event.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub row: Option<i64>,
    /// PostgreSQL log sequence number of the change.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub lsn: Option<i64>,
    /// PostgreSQL transaction id.
    #[serde(default, rename = "txId", deserialize_with = "lenient_i64")]
    pub tx_id: Option<i64>,
}

/// One Debezium change event (not a tombstone), independent of any table layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The operation.
    pub op: Op,
    /// The `source` block (all fields `None` when it is absent).
    pub source: SourceInfo,
    /// When the connector processed the event (ms since the epoch).
    pub ts_ms: Option<i64>,
    /// The row before the change (`None` when null or absent).
    pub before: Option<Map<String, Json>>,
    /// The row after the change (`None` when null or absent).
    pub after: Option<Map<String, Json>>,
}

/// Parses a record value into an [`Event`]; `Ok(None)` for a tombstone (empty value, JSON
/// `null`, or an envelope whose `payload` is null). Accepts the Kafka Connect
/// `{"schema":…,"payload":…}` envelope and the bare payload.
pub fn parse_event(value: &[u8]) -> Result<Option<Event>, DecodeError> {
    if value.is_empty() || top_shape(value, "value")? == TopShape::Null {
        return Ok(None);
    }
    let top: Option<EventFields<'_>> = serde_json::from_slice(value).map_err(invalid("value"))?;
    let Some(top) = top else {
        return Ok(None);
    };
    let fields = match top.payload {
        Some(payload) if top.op.is_none() => {
            if top.before.is_some() || top.after.is_some() {
                return Err(envelope_with_images());
            }
            let Some(payload) = payload else {
                return Ok(None);
            };
            let inner: Option<EventFields<'_>> =
                serde_json::from_str(payload.get()).map_err(invalid("value"))?;
            match inner {
                Some(inner) => inner,
                None => return Ok(None),
            }
        }
        _ => top,
    };
    let op = Op::from_code(fields.op.as_deref().ok_or(DecodeError::MissingOp)?)?;
    Ok(Some(Event {
        op,
        source: fields.source.unwrap_or_default(),
        ts_ms: fields.ts_ms,
        before: fields.before,
        after: fields.after,
    }))
}

/// The fields of a value's top level or of its envelope payload.
#[derive(Deserialize)]
struct EventFields<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    payload: Option<Option<&'a RawValue>>,
    #[serde(default)]
    op: Option<String>,
    #[serde(default)]
    before: Option<Map<String, Json>>,
    #[serde(default)]
    after: Option<Map<String, Json>>,
    #[serde(default)]
    source: Option<SourceInfo>,
    #[serde(default, deserialize_with = "lenient_i64")]
    ts_ms: Option<i64>,
}

/// Tells a present-but-null field (`Some(None)`) from an absent one (`None`, via `default`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The error for a value that has both an envelope `payload` and top-level row images.
pub(crate) fn envelope_with_images() -> DecodeError {
    DecodeError::InvalidJson {
        part: "value",
        reason:
            "it has a Kafka Connect envelope \"payload\" and also top-level \"before\"/\"after\" \
                 row images"
                .to_string(),
    }
}

/// Maps a serde_json error to [`DecodeError::InvalidJson`] for one part of the record.
pub(crate) fn invalid(part: &'static str) -> impl Fn(serde_json::Error) -> DecodeError {
    move |e| DecodeError::InvalidJson {
        part,
        reason: e.to_string(),
    }
}

/// The top-level JSON type of a record part that may be decoded further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TopShape {
    /// Starts with `{`.
    Object,
    /// Is exactly `null` (surrounding whitespace allowed).
    Null,
}

/// Checks by its first byte that a record part is an object or null, without parsing it.
pub(crate) fn top_shape(bytes: &[u8], part: &'static str) -> Result<TopShape, DecodeError> {
    let first = bytes
        .iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    let found = match first {
        Some(b'{') => return Ok(TopShape::Object),
        Some(b'n') => {
            serde_json::from_slice::<()>(bytes).map_err(invalid(part))?;
            return Ok(TopShape::Null);
        }
        Some(b'"') => "a string",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        Some(b'-' | b'0'..=b'9') => "a number",
        _ => {
            // Not JSON at all: let the parser say where and why.
            let reason = match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Err(e) => e.to_string(),
                Ok(_) => "not a JSON object".to_string(),
            };
            return Err(DecodeError::InvalidJson { part, reason });
        }
    };
    // Report malformed JSON as such rather than by its first byte.
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(invalid(part))?;
    Err(DecodeError::NotAnObject { part, found })
}

/// An optional i64 given as a JSON integer or a decimal string.
fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a 64-bit integer, a decimal string or null")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v)
                .map(Some)
                .map_err(|_| E::custom(format!("integer {v} is out of the 64-bit signed range")))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            v.trim()
                .parse()
                .map(Some)
                .map_err(|_| E::custom(format!("{v:?} is not a 64-bit integer")))
        }
    }
    d.deserialize_any(V)
}

/// An optional string given as a JSON string or boolean.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, a boolean or null")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
    }
    d.deserialize_any(V)
}
