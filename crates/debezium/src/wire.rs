//! The hot decoding path: one pass over a record value that skips everything but `op`,
//! `before` and `after` (the schema is skipped without building anything), and writes the row
//! images straight into positional value vectors of a [`TableLayout`].

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};
use tidemark_model::{TableLayout, Value};

use crate::event::{envelope_with_images, invalid, top_shape, TopShape};
use crate::json_text;
use crate::{DecodeError, Op};

/// Reusable per-decoder buffers, and the slot where a visitor leaves a typed error before it
/// aborts the parser with a generic one.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Which layout columns the `before` image had (by column index).
    pub(crate) before_seen: Vec<bool>,
    /// Which layout columns the `after` image had (by column index).
    pub(crate) after_seen: Vec<bool>,
    /// A typed error raised inside a visitor.
    pub(crate) error: Option<DecodeError>,
}

impl Scratch {
    /// Buffers for a layout of `columns` columns.
    pub(crate) fn new(columns: usize) -> Self {
        Self {
            before_seen: vec![false; columns],
            after_seen: vec![false; columns],
            error: None,
        }
    }
}

/// A decoded change event: its op and its row images, positional in layout order.
#[derive(Debug)]
pub(crate) struct Images {
    /// The event's op.
    pub(crate) op: Op,
    /// The `before` image (`None` when null or absent).
    pub(crate) before: Option<Vec<Value>>,
    /// The `after` image (`None` when null or absent).
    pub(crate) after: Option<Vec<Value>>,
}

/// Decodes a non-empty record value. `Ok(None)` is a tombstone (JSON null, or an envelope
/// with a null payload). `scratch.{before,after}_seen` tell which columns each image had.
pub(crate) fn parse_images(
    value: &[u8],
    layout: &TableLayout,
    scratch: &mut Scratch,
) -> Result<Option<Images>, DecodeError> {
    if top_shape(value, "value")? == TopShape::Null {
        return Ok(None);
    }
    scratch.error = None;
    let mut de = serde_json::Deserializer::from_slice(value);
    let seed = EventSeed {
        layout,
        scratch: &mut *scratch,
        envelope: true,
    };
    let parsed = seed.deserialize(&mut de).and_then(|p| de.end().map(|()| p));
    let top = match parsed {
        Ok(top) => top,
        Err(e) => return Err(scratch.error.take().unwrap_or_else(|| invalid("value")(e))),
    };
    let parts = match top.payload {
        Some(payload) if top.own.op.is_none() => {
            if top.own.before.is_some() || top.own.after.is_some() {
                return Err(envelope_with_images());
            }
            match payload {
                Some(inner) => inner,
                None => return Ok(None),
            }
        }
        _ => top.own,
    };
    let code = parts.op.ok_or(DecodeError::MissingOp)?;
    Ok(Some(Images {
        op: Op::from_code(&code)?,
        before: parts.before,
        after: parts.after,
    }))
}

/// The fields of one event level that matter.
#[derive(Default)]
struct Parts<'de> {
    op: Option<Cow<'de, str>>,
    before: Option<Vec<Value>>,
    after: Option<Vec<Value>>,
}

/// A top level: its own fields and, when present, its envelope payload (`Some(None)`: null).
struct Top<'de> {
    own: Parts<'de>,
    payload: Option<Option<Parts<'de>>>,
}

/// Deserializes an event level (the top level when `envelope`, else an envelope payload).
struct EventSeed<'s> {
    layout: &'s TableLayout,
    scratch: &'s mut Scratch,
    envelope: bool,
}

impl<'de> DeserializeSeed<'de> for EventSeed<'_> {
    type Value = Top<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Top<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

/// Which top-level field a key names.
enum Field {
    Op,
    Before,
    After,
    Payload,
    Other,
}

struct FieldSeed {
    envelope: bool,
}

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Field;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Field, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for FieldSeed {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, v: &str) -> Result<Field, E> {
        Ok(match v {
            "op" => Field::Op,
            "before" => Field::Before,
            "after" => Field::After,
            "payload" if self.envelope => Field::Payload,
            _ => Field::Other,
        })
    }
}

impl<'de> Visitor<'de> for EventSeed<'_> {
    type Value = Top<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Debezium change event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
        let EventSeed {
            layout,
            scratch,
            envelope,
        } = self;
        let mut own = Parts::default();
        let mut payload = None;
        while let Some(field) = map.next_key_seed(FieldSeed { envelope })? {
            match field {
                Field::Op => {
                    if own.op.is_some() {
                        return Err(A::Error::duplicate_field("op"));
                    }
                    own.op = map.next_value_seed(OpSeed)?;
                }
                Field::Before => {
                    if own.before.is_some() {
                        return Err(A::Error::duplicate_field("before"));
                    }
                    own.before = map.next_value_seed(RowSeed {
                        layout,
                        seen: &mut scratch.before_seen,
                        error: &mut scratch.error,
                    })?;
                }
                Field::After => {
                    if own.after.is_some() {
                        return Err(A::Error::duplicate_field("after"));
                    }
                    own.after = map.next_value_seed(RowSeed {
                        layout,
                        seen: &mut scratch.after_seen,
                        error: &mut scratch.error,
                    })?;
                }
                Field::Payload => {
                    if payload.is_some() {
                        return Err(A::Error::duplicate_field("payload"));
                    }
                    let inner = map.next_value_seed(PayloadSeed(EventSeed {
                        layout,
                        scratch: &mut *scratch,
                        envelope: false,
                    }))?;
                    payload = Some(inner);
                }
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Top { own, payload })
    }
}

/// An envelope payload: null or an event object.
struct PayloadSeed<'s>(EventSeed<'s>);

impl<'de> DeserializeSeed<'de> for PayloadSeed<'_> {
    type Value = Option<Parts<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for PayloadSeed<'_> {
    type Value = Option<Parts<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an envelope payload (a Debezium change event object or null)")
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(d).map(|top| Some(top.own))
    }
}

/// The `op` string (borrowed when it has no escapes), or `None` for null.
struct OpSeed;

impl<'de> DeserializeSeed<'de> for OpSeed {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for OpSeed {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the op code string")
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
}

/// A row image (object or null) decoded into a positional vector of the layout's columns.
struct RowSeed<'s> {
    layout: &'s TableLayout,
    seen: &'s mut [bool],
    error: &'s mut Option<DecodeError>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Option<Vec<Value>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Option<Vec<Value>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row image (a JSON object, or null)")
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let RowSeed {
            layout,
            seen,
            error,
        } = self;
        seen.fill(false);
        let mut row = vec![Value::Null; layout.columns.len()];
        while let Some(column) = map.next_key_seed(ColumnSeed(layout))? {
            let target = column.and_then(|i| {
                let column = layout.columns.get(i)?;
                Some((row.get_mut(i)?, seen.get_mut(i)?, column))
            });
            match target {
                Some((slot, seen, column)) => {
                    *slot = map.next_value_seed(ValueSeed {
                        field: &column.source_field,
                        error: &mut *error,
                    })?;
                    *seen = true;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(row))
    }
}

/// Maps an image field name to the layout column it feeds, if any.
struct ColumnSeed<'s>(&'s TableLayout);

impl<'de> DeserializeSeed<'de> for ColumnSeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for ColumnSeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.column_for_field(v))
    }
}

/// One field value: JSON → [`Value`] (objects and arrays become compact JSON text).
pub(crate) struct ValueSeed<'s> {
    /// The field's source name, for errors.
    pub(crate) field: &'s str,
    /// Where a typed error is left before the parser is aborted.
    pub(crate) error: &'s mut Option<DecodeError>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
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

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        match i64::try_from(v) {
            Ok(i) => Ok(Value::Int(i)),
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

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Text(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Text(v))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        let mut text = String::new();
        json_text::write_seq(seq, &mut text)?;
        Ok(Value::Text(text))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        let mut text = String::new();
        json_text::write_map(map, &mut text)?;
        Ok(Value::Text(text))
    }
}
