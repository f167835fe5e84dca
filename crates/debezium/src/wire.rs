//! The hot decoding path: one pass over a record value that reads only `op`, `before`, `after`
//! and the schema, and writes the row images straight into positional value vectors of a
//! [`TableLayout`]. The schema is compared byte for byte with the previous record's and only
//! parsed when it differs (a topic's schema changes rarely). Measured on the refresh benchmark
//! (300k events, two runs each): tidemark's CPU per event went from 9.0–9.6 µs, when the schema
//! was skipped unread, to 9.7–10.3 µs with the comparison and the typed conversions, 0.44–0.47×
//! → 0.53× of the serde_json parse floor.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use tidemark_model::{LayoutCell, TableLayout, Value};

use crate::conv::{Conv, FieldSchema};
use crate::convert::ValueSeed;
use crate::event::{envelope_with_images, invalid, top_shape, TopShape};
use crate::options::DecodeOptions;
use crate::{DecodeError, Op};

/// Reusable per-decoder buffers, and the slot where a visitor leaves a typed error before it
/// aborts the parser with a generic one.
#[derive(Debug)]
pub(crate) struct Scratch {
    /// Which layout columns the `before` image had (by column index).
    pub(crate) before_seen: Vec<bool>,
    /// Which layout columns the `after` image had (by column index).
    pub(crate) after_seen: Vec<bool>,
    /// A typed error raised inside a visitor.
    pub(crate) error: Option<DecodeError>,
    /// How to read each layout column's field without a schema (from its type and options).
    pub(crate) schemaless: Vec<Conv>,
    /// The last value schema seen (its raw JSON) and how it says to read each column.
    schema: Option<(Vec<u8>, Vec<Conv>)>,
    /// Whether the record being decoded carries a schema (then `schema` applies).
    with_schema: bool,
    /// The connector settings for what records do not say.
    pub(crate) options: DecodeOptions,
    /// The table's shared layout, which a new schema may evolve (`auto_create`, `auto_evolve`).
    cell: Arc<LayoutCell>,
    /// Set when a schema changed the layout mid-record: the decoder takes the new layout and
    /// reads the record again.
    pub(crate) relayout: bool,
    /// Per partition, the row fields of the last schema accepted from it (for telling a
    /// dropped field: a source's schema changes in order within a partition, not across).
    pub(crate) accepted_fields: HashMap<i32, Vec<String>>,
    /// The partition of the record being decoded.
    pub(crate) partition: i32,
}

impl Scratch {
    /// Buffers for `layout`, read with `options` where records do not say how.
    pub(crate) fn new(layout: &TableLayout, options: DecodeOptions, cell: Arc<LayoutCell>) -> Self {
        let columns = layout.columns.len();
        Self {
            before_seen: vec![false; columns],
            after_seen: vec![false; columns],
            error: None,
            schemaless: layout
                .columns
                .iter()
                .map(|c| Conv::for_column(c, &options))
                .collect(),
            schema: None,
            with_schema: false,
            options,
            cell,
            relayout: false,
            accepted_fields: HashMap::new(),
            partition: 0,
        }
    }

    /// For decoding one row image: how to read each column's field in this record, the
    /// image's seen-columns buffer and the error slot.
    fn row_parts(&mut self, after: bool) -> (&[Conv], &mut [bool], &mut Option<DecodeError>) {
        let convs = match &self.schema {
            Some((_, convs)) if self.with_schema => convs.as_slice(),
            _ => self.schemaless.as_slice(),
        };
        let seen = if after {
            &mut self.after_seen
        } else {
            &mut self.before_seen
        };
        (convs, seen, &mut self.error)
    }

    /// Takes a record's value schema (raw JSON): parsed only when it differs from the last.
    fn use_schema(&mut self, raw: &str, layout: &TableLayout) -> Result<(), DecodeError> {
        self.with_schema = false;
        if raw == "null" {
            return Ok(());
        }
        if self
            .schema
            .as_ref()
            .is_some_and(|(r, _)| r == raw.as_bytes())
        {
            self.with_schema = true;
            return Ok(());
        }
        let schema: FieldSchema =
            serde_json::from_str(raw).map_err(|e| DecodeError::InvalidJson {
                part: "value schema",
                reason: e.to_string(),
            })?;
        // The envelope's row struct: `after`'s, else `before`'s (the same struct).
        let row = schema.child("after").or_else(|| schema.child("before"));
        let evolving = self.cell.evolution.auto_evolve
            || (layout.is_pending() && self.cell.evolution.auto_create);
        if let Some(row) = row.filter(|_| evolving) {
            let cell = &self.cell;
            let previous = self.accepted_fields.get(&self.partition).map(Vec::as_slice);
            let current =
                cell.evolve(|current| crate::evolve::plan(row, previous, current, cell))?;
            self.accepted_fields.insert(
                self.partition,
                row.fields
                    .iter()
                    .flatten()
                    .filter_map(|f| f.field.clone())
                    .collect(),
            );
            if current.version != layout.version {
                self.relayout = true;
                return Err(DecodeError::InvalidJson {
                    part: "value schema",
                    reason: "the table's layout changed while reading the record".to_string(),
                });
            }
        }
        let convs = layout
            .columns
            .iter()
            .zip(&self.schemaless)
            .map(
                |(column, schemaless)| match row.and_then(|r| r.child(&column.source_field)) {
                    Some(field) => Conv::for_field(field, Some(column), &self.options),
                    None => schemaless.clone(),
                },
            )
            .collect();
        self.schema = Some((raw.as_bytes().to_vec(), convs));
        self.with_schema = true;
        Ok(())
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
    /// `source.ts_ms`: when the change was made in the source database (ms since the epoch).
    pub(crate) source_ts_ms: Option<i64>,
}

/// What a record value is.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// JSON null, or an envelope with a null payload.
    Tombstone,
    /// A change event.
    Event(Images),
    /// Not a change event but one of Debezium's own records, which are never rows.
    Control(Control),
}

/// Debezium's records that are not change events, recognised by their fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// A heartbeat (`__debezium-heartbeat.*` topics): only `ts_ms`.
    Heartbeat,
    /// A schema change event (the topic named after the server): `ddl`, `tableChanges`.
    SchemaChange,
    /// Transaction metadata (`*.transaction` topics): `status` BEGIN/END and `id`.
    Transaction,
}

/// Decodes a non-empty record value. `scratch.{before,after}_seen` tell which columns each
/// image had.
pub(crate) fn parse_images(
    value: &[u8],
    layout: &TableLayout,
    scratch: &mut Scratch,
) -> Result<Parsed, DecodeError> {
    if top_shape(value, "value")? == TopShape::Null {
        return Ok(Parsed::Tombstone);
    }
    scratch.error = None;
    scratch.with_schema = false;
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
    let payload = match top.deferred {
        // The payload came before the schema: decode it now that the schema is known.
        Some(raw) => {
            let mut de = serde_json::Deserializer::from_str(raw.get());
            let seed = PayloadSeed(EventSeed {
                layout,
                scratch: &mut *scratch,
                envelope: false,
            });
            match seed.deserialize(&mut de) {
                Ok(inner) => Some(inner),
                Err(e) => return Err(scratch.error.take().unwrap_or_else(|| invalid("value")(e))),
            }
        }
        None => top.payload,
    };
    let parts = match payload {
        Some(payload) if top.own.op.is_none() => {
            if top.own.before.is_some() || top.own.after.is_some() {
                return Err(envelope_with_images());
            }
            match payload {
                Some(inner) => inner,
                None => return Ok(Parsed::Tombstone),
            }
        }
        _ => top.own,
    };
    let Some(code) = parts.op else {
        return match parts.control() {
            Some(control) => Ok(Parsed::Control(control)),
            None => Err(DecodeError::MissingOp),
        };
    };
    Ok(Parsed::Event(Images {
        op: Op::from_code(&code)?,
        before: parts.before,
        after: parts.after,
        source_ts_ms: parts.source_ts_ms,
    }))
}

/// The fields of one event level that matter.
#[derive(Default)]
struct Parts<'de> {
    op: Option<Cow<'de, str>>,
    before: Option<Vec<Value>>,
    after: Option<Vec<Value>>,
    /// Fields seen that only Debezium's control records have, and how many fields in all.
    schema_change: bool,
    transaction: bool,
    ts_ms: bool,
    fields: usize,
    /// `source.ts_ms`, for the freshness measured from the source database.
    source_ts_ms: Option<i64>,
}

impl Parts<'_> {
    /// What a record without `op` is, if it is one of Debezium's own.
    fn control(&self) -> Option<Control> {
        if self.before.is_some() || self.after.is_some() {
            return None;
        }
        if self.schema_change {
            Some(Control::SchemaChange)
        } else if self.transaction {
            Some(Control::Transaction)
        } else if self.ts_ms && self.fields == 1 {
            Some(Control::Heartbeat)
        } else {
            None
        }
    }
}

/// A top level: its own fields and, when present, its envelope payload (`Some(None)`: null).
struct Top<'de> {
    own: Parts<'de>,
    payload: Option<Option<Parts<'de>>>,
    /// A payload that came before the schema, left raw to be decoded with it.
    deferred: Option<&'de RawValue>,
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
    Schema,
    /// `ddl`, `tableChanges`: a schema change event.
    SchemaChange,
    /// `status`, `event_count`, `data_collections`: transaction metadata.
    Transaction,
    TsMs,
    /// The `source` block: only its `ts_ms` is read.
    Source,
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
            "schema" if self.envelope => Field::Schema,
            "ddl" | "tableChanges" => Field::SchemaChange,
            "status" | "event_count" | "data_collections" => Field::Transaction,
            "ts_ms" => Field::TsMs,
            "source" => Field::Source,
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
        let mut deferred = None;
        let mut schema_seen = false;
        while let Some(field) = map.next_key_seed(FieldSeed { envelope })? {
            own.fields += 1;
            match field {
                Field::SchemaChange | Field::Transaction | Field::TsMs => {
                    match field {
                        Field::SchemaChange => own.schema_change = true,
                        Field::Transaction => own.transaction = true,
                        _ => own.ts_ms = true,
                    }
                    map.next_value::<IgnoredAny>()?;
                }
                Field::Source => own.source_ts_ms = map.next_value_seed(SourceTsSeed)?,
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
                    let (convs, seen, error) = scratch.row_parts(false);
                    own.before = map.next_value_seed(RowSeed {
                        layout,
                        convs,
                        seen,
                        error,
                    })?;
                }
                Field::After => {
                    if own.after.is_some() {
                        return Err(A::Error::duplicate_field("after"));
                    }
                    let (convs, seen, error) = scratch.row_parts(true);
                    own.after = map.next_value_seed(RowSeed {
                        layout,
                        convs,
                        seen,
                        error,
                    })?;
                }
                Field::Payload => {
                    if payload.is_some() || deferred.is_some() {
                        return Err(A::Error::duplicate_field("payload"));
                    }
                    if schema_seen {
                        let inner = map.next_value_seed(PayloadSeed(EventSeed {
                            layout,
                            scratch: &mut *scratch,
                            envelope: false,
                        }))?;
                        payload = Some(inner);
                    } else {
                        deferred = Some(map.next_value::<&'de RawValue>()?);
                    }
                }
                Field::Schema => {
                    if schema_seen {
                        return Err(A::Error::duplicate_field("schema"));
                    }
                    schema_seen = true;
                    let raw = <&RawValue>::deserialize(MapValue(&mut map))?;
                    if let Err(e) = scratch.use_schema(raw.get(), layout) {
                        let msg = e.to_string();
                        scratch.error = Some(e);
                        return Err(A::Error::custom(msg));
                    }
                }
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if deferred.is_some() && !schema_seen {
            // No schema after all: the payload is read without one.
            scratch.with_schema = false;
        }
        Ok(Top {
            own,
            payload,
            deferred,
        })
    }
}

/// Lets a map's next value be deserialized by a `Deserialize` type that needs the
/// deserializer itself (`&RawValue`).
struct MapValue<'m, A>(&'m mut A);

impl<'de, A: MapAccess<'de>> Deserializer<'de> for MapValue<'_, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(Forward(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(ForwardNewtype(name, visitor))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct Forward<V>(V);

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for Forward<V> {
    type Value = V::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        d.deserialize_any(self.0)
    }
}

struct ForwardNewtype<V>(&'static str, V);

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for ForwardNewtype<V> {
    type Value = V::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        d.deserialize_newtype_struct(self.0, self.1)
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
    /// How to read each column's field.
    convs: &'s [Conv],
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
            convs,
            seen,
            error,
        } = self;
        seen.fill(false);
        let mut row = vec![Value::Null; layout.columns.len()];
        while let Some(column) = map.next_key_seed(ColumnSeed(layout))? {
            let target = column.and_then(|i| {
                let column = layout.columns.get(i)?;
                Some((row.get_mut(i)?, seen.get_mut(i)?, column, convs.get(i)?))
            });
            match target {
                Some((slot, seen, column, conv)) => {
                    *slot = map.next_value_seed(ValueSeed {
                        conv,
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

/// Reads `source.ts_ms` from a `source` block (null, or an object whose other fields are
/// skipped); a `ts_ms` that is not an integer is ignored: it only feeds a metric.
struct SourceTsSeed;

impl<'de> DeserializeSeed<'de> for SourceTsSeed {
    type Value = Option<i64>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<i64>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SourceTsSeed {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Debezium source block")
    }

    fn visit_unit<E>(self) -> Result<Option<i64>, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<i64>, A::Error> {
        let mut ts = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "ts_ms" {
                ts = match map.next_value::<serde_json::Value>()? {
                    serde_json::Value::Number(n) => n.as_i64(),
                    _ => None,
                };
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(ts)
    }
}
