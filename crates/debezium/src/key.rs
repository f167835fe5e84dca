//! Message keys: Debezium's key struct, bare or in the Kafka Connect envelope.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, Visitor};
use serde_json::value::RawValue;
use tidemark_model::{TableLayout, Value};

use crate::conv::{Conv, FieldSchema};
use crate::convert::ValueSeed;
use crate::event::{invalid, top_shape, TopShape};
use crate::options::DecodeOptions;
use crate::DecodeError;

/// How to read a table's message key fields: by the key's own schema when it has one (parsed
/// when it differs from the last key's), else as the layout column of the same name says.
#[derive(Debug, Default)]
pub(crate) struct KeyConvs {
    /// The last key schema (raw JSON) and the reading of each of its fields.
    schema: Option<(Vec<u8>, FieldConvs)>,
}

/// How to read each named field.
type FieldConvs = Vec<(String, Conv)>;

impl KeyConvs {
    /// Takes a key's schema; `None` when it has none.
    fn use_schema(
        &mut self,
        raw: Option<&str>,
        layout: &TableLayout,
        options: &DecodeOptions,
    ) -> Result<bool, DecodeError> {
        let Some(raw) = raw.filter(|r| *r != "null") else {
            return Ok(false);
        };
        if self
            .schema
            .as_ref()
            .is_some_and(|(r, _)| r == raw.as_bytes())
        {
            return Ok(true);
        }
        let schema: FieldSchema =
            serde_json::from_str(raw).map_err(|e| DecodeError::InvalidJson {
                part: "key schema",
                reason: e.to_string(),
            })?;
        let convs = schema
            .fields
            .iter()
            .flatten()
            .filter_map(|f| {
                let name = f.field.clone()?;
                let column = layout
                    .column_for_field(&name)
                    .and_then(|i| layout.columns.get(i));
                let conv = Conv::for_field(f, column, options);
                Some((name, conv))
            })
            .collect();
        self.schema = Some((raw.as_bytes().to_vec(), convs));
        Ok(true)
    }
}

/// What reading a message key needs: the layout, the schemaless reading of its columns, the
/// options and the key schema cache.
pub(crate) struct KeyReading<'a> {
    pub(crate) layout: &'a TableLayout,
    pub(crate) schemaless: &'a [Conv],
    pub(crate) options: &'a DecodeOptions,
    pub(crate) convs: &'a mut KeyConvs,
}

/// One field of a message key, in message order.
#[derive(Debug)]
pub(crate) struct KeyField<'a> {
    /// The field name.
    pub(crate) name: Cow<'a, str>,
    /// Its value.
    pub(crate) value: Value,
}

/// Parses a message key (Debezium's key struct, bare or in the Kafka Connect envelope).
/// `Ok(None)` when there is no key: absent, empty, JSON null, or an envelope with a null
/// payload. The envelope is recognised as an object with exactly the fields `schema` and
/// `payload`, each an object or null.
pub(crate) fn parse_message_key<'k>(
    key: Option<&'k [u8]>,
    reading: KeyReading<'_>,
) -> Result<Option<Vec<KeyField<'k>>>, DecodeError> {
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return Ok(None);
    };
    if top_shape(key, "key")? == TopShape::Null {
        return Ok(None);
    }
    let mut entries: Vec<(Cow<'_, str>, &RawValue)> =
        key_entries(serde_json::Deserializer::from_slice(key))?;
    let mut with_schema = false;
    if let Some((schema, payload)) = envelope_payload(&entries) {
        if top_shape(payload.as_bytes(), "key")? == TopShape::Null {
            return Ok(None);
        }
        with_schema = reading
            .convs
            .use_schema(Some(schema), reading.layout, reading.options)?;
        entries = key_entries(serde_json::Deserializer::from_str(payload))?;
    }
    let schema_convs = match &reading.convs.schema {
        Some((_, convs)) if with_schema => convs.as_slice(),
        _ => &[],
    };
    let mut error = None;
    let mut fields = Vec::with_capacity(entries.len());
    for (name, raw) in entries {
        let mut de = serde_json::Deserializer::from_str(raw.get());
        let conv = schema_convs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| c)
            .or_else(|| {
                reading
                    .layout
                    .column_for_field(&name)
                    .and_then(|i| reading.schemaless.get(i))
            })
            .unwrap_or(&Conv::Plain);
        let seed = ValueSeed {
            conv,
            field: &name,
            error: &mut error,
        };
        let value = match seed.deserialize(&mut de) {
            Ok(v) => v,
            Err(e) => return Err(error.take().unwrap_or_else(|| invalid("key")(e))),
        };
        fields.push(KeyField { name, value });
    }
    Ok(Some(fields))
}

/// The schema and payload of a Kafka Connect envelope: exactly the fields `schema` and
/// `payload`, each an object or null.
fn envelope_payload<'a>(entries: &[(Cow<'a, str>, &'a RawValue)]) -> Option<(&'a str, &'a str)> {
    let [(a, first), (b, second)] = entries else {
        return None;
    };
    let (schema, payload) = match (a.as_ref(), b.as_ref()) {
        ("schema", "payload") => (first, second),
        ("payload", "schema") => (second, first),
        _ => return None,
    };
    (object_or_null(schema.get()) && object_or_null(payload.get()))
        .then(|| (schema.get(), payload.get()))
}

fn object_or_null(raw: &str) -> bool {
    raw.starts_with('{') || raw == "null"
}

/// The entries of a JSON object, values left raw; rejects a field that appears twice.
fn key_entries<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
) -> Result<Vec<(Cow<'de, str>, &'de RawValue)>, DecodeError> {
    struct Entries;
    impl<'de> Visitor<'de> for Entries {
        type Value = Vec<(Cow<'de, str>, &'de RawValue)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a message key object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out: Self::Value = Vec::new();
            while let Some(name) = map.next_key_seed(NameSeed)? {
                if out.iter().any(|(n, _)| *n == name) {
                    return Err(A::Error::custom(format!(
                        "field {name:?} appears twice in the message key"
                    )));
                }
                let raw: &'de RawValue = map.next_value()?;
                out.push((name, raw));
            }
            Ok(out)
        }
    }
    let entries = de.deserialize_map(Entries).map_err(invalid("key"))?;
    de.end().map_err(invalid("key"))?;
    Ok(entries)
}

/// A field name, borrowed when it has no escapes.
struct NameSeed;

impl<'de> DeserializeSeed<'de> for NameSeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for NameSeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}
