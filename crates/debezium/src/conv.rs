//! What each field of a row image is, and so how its JSON becomes a [`tidemark_model::Value`]:
//! decided once per (table, schema) from the Kafka Connect schema when the record carries
//! one, else from the target column's type and the connector settings ([`DecodeOptions`]).

use serde::Deserialize;
use serde_json::Value as Json;
use tidemark_model::{ColumnType, ElementType, TargetColumn};

use crate::options::{BinaryHandling, DecimalHandling, DecodeOptions, TimePrecision};

/// The unit of an integer time or timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Millis,
    Micros,
    Nanos,
}

/// How a decimal arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecimalForm {
    /// Base64 unscaled bytes with this scale (`None`: unknown, an error if bytes arrive).
    Bytes(Option<i32>),
    /// A decimal string or number, read exactly.
    Text,
}

/// How one field's JSON becomes a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Conv {
    /// JSON as it is: null, bool, integer, double, string; nested JSON as compact text.
    Plain,
    /// For a boolean, integer or floating-point column: a JSON boolean or number only (a
    /// string or object there is a record the column cannot take, said while decoding).
    Scalar,
    /// An exact decimal: a number or string (read from its text), `{scale, value}`
    /// (`VariableScaleDecimal`), or base64 bytes.
    Decimal(DecimalForm),
    /// Days since the epoch, or an ISO date string.
    Date,
    /// A time of day: an integer in the unit, or an ISO time string.
    Time(Unit),
    /// A time of day with its offset (`ZonedTime`, an ISO string).
    TimeTz,
    /// A wall-clock date-time: an integer since the epoch in the unit, or an ISO string.
    Timestamp(Unit),
    /// An instant: an ISO string with an offset (`ZonedTimestamp`), or an integer since the
    /// epoch in the unit.
    TimestampTz(Unit),
    /// An interval: integer microseconds (`MicroDuration`) or an ISO-8601 duration string.
    Interval,
    /// A UUID string.
    Uuid,
    /// JSON text in a string (`io.debezium.data.Json`), or nested JSON.
    Json,
    /// Bytes as text in this encoding, or a geometry struct (`{wkb, srid}`: the WKB).
    Bytes(BinaryHandling),
    /// Debezium `Bits`: bytes holding the bit string as a little-endian number, of `length`
    /// bits (`None`: eight per byte). For a `bit varying` column `length` is only the declared
    /// maximum and the source's leading zeros are lost: the bit string is the number's own
    /// binary digits.
    Bits { length: Option<u32>, varying: bool },
    /// A JSON array of elements read the given way.
    Array(Box<Conv>),
}

impl Conv {
    /// Without a schema: what the target column's type and the connector settings say.
    pub(crate) fn for_column(column: &TargetColumn, options: &DecodeOptions) -> Conv {
        let modifiers = column.type_modifiers();
        match Self::for_type(column.ty, &modifiers, options) {
            Conv::Bits { length, .. } => Conv::Bits {
                length,
                varying: is_varying(column),
            },
            conv => conv,
        }
    }

    fn for_type(ty: ColumnType, modifiers: &[u32], options: &DecodeOptions) -> Conv {
        let precision = modifiers.first().copied();
        let adaptive = |p: Option<u32>| match (options.time_precision, p) {
            (TimePrecision::Connect, _) => Unit::Millis,
            (_, Some(p)) if p <= 3 => Unit::Millis,
            _ => Unit::Micros,
        };
        match ty {
            ColumnType::Numeric => Conv::Decimal(match options.decimal_handling {
                DecimalHandling::Precise => {
                    DecimalForm::Bytes(modifiers.get(1).and_then(|s| i32::try_from(*s).ok()))
                }
                DecimalHandling::String | DecimalHandling::Double => DecimalForm::Text,
            }),
            ColumnType::Date => Conv::Date,
            ColumnType::Time => Conv::Time(match options.time_precision {
                TimePrecision::Micro => Unit::Micros,
                _ => adaptive(precision),
            }),
            ColumnType::TimeTz => Conv::TimeTz,
            ColumnType::Timestamp => Conv::Timestamp(adaptive(precision)),
            ColumnType::TimestampTz => Conv::TimestampTz(adaptive(precision)),
            ColumnType::Interval => Conv::Interval,
            ColumnType::Uuid => Conv::Uuid,
            ColumnType::Json | ColumnType::Jsonb => Conv::Json,
            ColumnType::Bytes => Conv::Bytes(options.binary_handling),
            ColumnType::Bits => Conv::Bits {
                length: precision,
                varying: false,
            },
            ColumnType::Array(element) => Conv::Array(Box::new(Self::for_type(
                element.column_type(),
                &[],
                options,
            ))),
            ColumnType::Bool
            | ColumnType::Int16
            | ColumnType::Int32
            | ColumnType::Int64
            | ColumnType::Float32
            | ColumnType::Float64 => Conv::Scalar,
            ColumnType::Text | ColumnType::Other => Conv::Plain,
        }
    }

    /// With a schema: the field's Connect type and logical name decide; a field the schema
    /// gives no logical meaning to is read as the target column says (so an ISO string or a
    /// decimal string still lands in a timestamp or numeric column).
    pub(crate) fn for_field(
        field: &FieldSchema,
        column: Option<&TargetColumn>,
        options: &DecodeOptions,
    ) -> Conv {
        let target = || column.map_or(Conv::Plain, |c| Conv::for_column(c, options));
        let param = |name: &str| {
            field.parameters.as_ref().and_then(|p| match p.get(name)? {
                Json::String(s) => s.trim().parse::<i64>().ok(),
                Json::Number(n) => n.as_i64(),
                _ => None,
            })
        };
        match field.name.as_deref() {
            Some("org.apache.kafka.connect.data.Decimal") => Conv::Decimal(DecimalForm::Bytes(
                param("scale").and_then(|s| i32::try_from(s).ok()),
            )),
            Some("io.debezium.data.VariableScaleDecimal") => {
                Conv::Decimal(DecimalForm::Bytes(None))
            }
            Some("io.debezium.time.Date" | "org.apache.kafka.connect.data.Date") => Conv::Date,
            Some("io.debezium.time.Time" | "org.apache.kafka.connect.data.Time") => {
                Conv::Time(Unit::Millis)
            }
            Some("io.debezium.time.MicroTime") => Conv::Time(Unit::Micros),
            Some("io.debezium.time.NanoTime") => Conv::Time(Unit::Nanos),
            Some("io.debezium.time.Timestamp" | "org.apache.kafka.connect.data.Timestamp") => {
                Conv::Timestamp(Unit::Millis)
            }
            Some("io.debezium.time.MicroTimestamp") => Conv::Timestamp(Unit::Micros),
            Some("io.debezium.time.NanoTimestamp") => Conv::Timestamp(Unit::Nanos),
            Some("io.debezium.time.ZonedTimestamp") => Conv::TimestampTz(Unit::Micros),
            Some("io.debezium.time.ZonedTime") => Conv::TimeTz,
            Some("io.debezium.time.MicroDuration" | "io.debezium.time.Interval") => Conv::Interval,
            Some("io.debezium.data.Uuid") => Conv::Uuid,
            Some("io.debezium.data.Json") => Conv::Json,
            Some("io.debezium.data.Bits") => Conv::Bits {
                length: param("length").and_then(|l| u32::try_from(l).ok()),
                varying: column.is_some_and(is_varying),
            },
            Some(
                "io.debezium.data.geometry.Geometry"
                | "io.debezium.data.geometry.Geography"
                | "io.debezium.data.geometry.Point",
            ) => Conv::Bytes(BinaryHandling::Base64),
            _ => match field.ty.as_str() {
                "bytes" => Conv::Bytes(options.binary_handling),
                "array" => {
                    let element = column.and_then(|c| match c.ty {
                        ColumnType::Array(e) => Some(e),
                        _ => None,
                    });
                    let items = field.items.as_deref().map(|items| {
                        let element_column = element.map(|e| element_column(e, column));
                        Conv::for_field(items, element_column.as_ref(), options)
                    });
                    Conv::Array(Box::new(items.unwrap_or(Conv::Plain)))
                }
                // Numbers for a numeric column are read from their text, never via a float.
                // The JSON converter spells Connect's float32/float64 `float`/`double`.
                "float" | "double" | "float32" | "float64" | "int64"
                    if column.is_some_and(|c| c.ty == ColumnType::Numeric) =>
                {
                    Conv::Decimal(DecimalForm::Text)
                }
                "string" if column.is_some_and(|c| c.ty == ColumnType::Numeric) => {
                    Conv::Decimal(DecimalForm::Text)
                }
                "boolean" | "int8" | "int16" | "int32" | "int64" | "float" | "double"
                | "float32" | "float64" => match target() {
                    Conv::Scalar => Conv::Scalar,
                    _ => Conv::Plain,
                },
                _ => target(),
            },
        }
    }
}

/// Whether a bit column is `bit varying`.
fn is_varying(column: &TargetColumn) -> bool {
    column.sql_type.starts_with("bit varying")
}

/// A stand-in column for an array's elements (no modifiers of its own).
fn element_column(element: ElementType, array: Option<&TargetColumn>) -> TargetColumn {
    TargetColumn {
        name: array.map(|c| c.name.clone()).unwrap_or_default(),
        source_field: array.map(|c| c.source_field.clone()).unwrap_or_default(),
        ty: element.column_type(),
        sql_type: String::new(),
    }
}

/// One field of a Kafka Connect schema (the parts tidemark reads).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub(crate) struct FieldSchema {
    /// The Connect type: `int32`, `string`, `bytes`, `struct`, `array`, …
    #[serde(rename = "type", default)]
    pub(crate) ty: String,
    /// The logical type name (`io.debezium.time.MicroTimestamp`, …).
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// Logical type parameters (`scale`, `length`, …), strings in Connect's JSON.
    #[serde(default)]
    pub(crate) parameters: Option<serde_json::Map<String, Json>>,
    /// The field's name in its struct.
    #[serde(default)]
    pub(crate) field: Option<String>,
    /// A struct's fields.
    #[serde(default)]
    pub(crate) fields: Option<Vec<FieldSchema>>,
    /// An array's element schema.
    #[serde(default)]
    pub(crate) items: Option<Box<FieldSchema>>,
    /// Whether the field may be null.
    #[serde(default)]
    pub(crate) optional: bool,
}

impl FieldSchema {
    /// A struct's field by name.
    pub(crate) fn child(&self, name: &str) -> Option<&FieldSchema> {
        self.fields
            .as_ref()?
            .iter()
            .find(|f| f.field.as_deref() == Some(name))
    }
}
