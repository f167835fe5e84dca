//! From a record's Connect schema to the layout changes `auto_create` and `auto_evolve` make:
//! the column each new source field becomes, the columns whose source type grew, and the
//! changes that are never made silently.

use serde_json::Value as Json;
use tidemark_model::{
    fit, ColumnChange, ColumnType, ElementType, Fit, LayoutCell, TableLayout, TargetColumn,
    MAX_NUMERIC_PRECISION,
};

use crate::conv::FieldSchema;
use crate::DecodeError;

/// The changes that make `layout` take the row struct `row` (the envelope's `after` schema),
/// as the cell's settings allow: a pending table gets every admitted field; with
/// `auto_evolve`, a new field adds a column and a wider source type widens its column. A
/// change that is not a widening is an error naming it, and so is a field of `previous` (the
/// fields of the schema last accepted from the record's partition) that is gone while its
/// column is written.
///
/// A field is judged gone only against its partition's previous schema, never against the
/// layout: records of another partition may still carry the schema from before a column was
/// added, and they are valid (their rows have NULL there, as `ADD COLUMN` gives old rows).
pub(crate) fn plan(
    row: &FieldSchema,
    previous: Option<&[String]>,
    layout: &TableLayout,
    cell: &LayoutCell,
) -> Result<Vec<ColumnChange>, DecodeError> {
    let creating = layout.is_pending() && cell.evolution.auto_create;
    if !creating && !cell.evolution.auto_evolve {
        return Ok(Vec::new());
    }
    let fields = row.fields.as_deref().unwrap_or_default();
    let mut changes = Vec::new();
    for field in fields {
        let Some(name) = field.field.as_deref() else {
            continue;
        };
        let incoming = |column: String| {
            let (ty, sql_type) = column_type(field);
            TargetColumn {
                name: column,
                source_field: name.to_string(),
                ty,
                sql_type,
            }
        };
        match layout.column_for_field(name) {
            Some(i) => {
                let Some(column) = layout.columns.get(i) else {
                    continue;
                };
                match fit(column, &incoming(column.name.clone())) {
                    Fit::Fits => {}
                    Fit::Widen { ty, sql_type } => changes.push(ColumnChange::Retype {
                        column: i,
                        ty,
                        sql_type,
                    }),
                    Fit::Unsafe => {
                        return Err(DecodeError::SchemaChange {
                            table: layout.table.clone(),
                            change: format!(
                                "field {name:?} is now {}, and its column {:?} is {}; tidemark \
                                 only widens a column by itself",
                                incoming(column.name.clone()).sql_type,
                                column.name,
                                column.sql_type
                            ),
                            fix: "change the column's type with ALTER TABLE … ALTER COLUMN … \
                                  TYPE … USING … and restart, or exclude the field \
                                  (exclude_fields)",
                        })
                    }
                }
            }
            None => {
                let Some(column) = cell.rules.column_for_new_field(name) else {
                    continue;
                };
                if layout.columns.iter().any(|c| c.name == column) {
                    continue;
                }
                changes.push(ColumnChange::Add(incoming(column)));
            }
        }
    }
    for name in previous.unwrap_or_default() {
        let gone = !fields.iter().any(|f| f.field.as_deref() == Some(name));
        if let Some(column) = layout
            .column_for_field(name)
            .and_then(|i| layout.columns.get(i))
        {
            if gone && cell.evolution.auto_evolve {
                return Err(DecodeError::SchemaChange {
                    table: layout.table.clone(),
                    change: format!(
                        "the source no longer has the field {name:?} of column {:?}",
                        column.name
                    ),
                    fix: "drop the column, or list it in `unmanaged` so tidemark leaves it \
                          alone, and restart",
                });
            }
        }
    }
    Ok(changes)
}

/// The PostgreSQL type tidemark creates for a Connect field (spelled as `format_type` spells
/// it, so a created column compares equal to a described one), and how tidemark stages it.
/// Lengths and precisions come only from what the schema states.
pub(crate) fn column_type(field: &FieldSchema) -> (ColumnType, String) {
    let param = |name: &str| {
        field.parameters.as_ref().and_then(|p| match p.get(name)? {
            Json::String(s) => s.trim().parse::<u32>().ok(),
            Json::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        })
    };
    let t = |ty: ColumnType, sql: &str| (ty, sql.to_string());
    match field.name.as_deref() {
        Some("org.apache.kafka.connect.data.Decimal") => {
            match (param("connect.decimal.precision"), param("scale")) {
                (Some(p), s) if p <= MAX_NUMERIC_PRECISION && s.unwrap_or(0) <= p => (
                    ColumnType::Numeric,
                    format!("numeric({p},{})", s.unwrap_or(0)),
                ),
                _ => t(ColumnType::Numeric, "numeric"),
            }
        }
        Some("io.debezium.data.VariableScaleDecimal") => t(ColumnType::Numeric, "numeric"),
        Some("io.debezium.time.Date" | "org.apache.kafka.connect.data.Date") => {
            t(ColumnType::Date, "date")
        }
        Some("io.debezium.time.Time" | "org.apache.kafka.connect.data.Time") => {
            t(ColumnType::Time, "time(3) without time zone")
        }
        Some("io.debezium.time.MicroTime" | "io.debezium.time.NanoTime") => {
            t(ColumnType::Time, "time without time zone")
        }
        Some("io.debezium.time.Timestamp" | "org.apache.kafka.connect.data.Timestamp") => {
            t(ColumnType::Timestamp, "timestamp(3) without time zone")
        }
        Some("io.debezium.time.MicroTimestamp" | "io.debezium.time.NanoTimestamp") => {
            t(ColumnType::Timestamp, "timestamp without time zone")
        }
        Some("io.debezium.time.ZonedTimestamp") => {
            t(ColumnType::TimestampTz, "timestamp with time zone")
        }
        Some("io.debezium.time.ZonedTime") => t(ColumnType::TimeTz, "time with time zone"),
        Some("io.debezium.time.Year") => t(ColumnType::Int32, "integer"),
        Some("io.debezium.time.MicroDuration" | "io.debezium.time.Interval") => {
            t(ColumnType::Interval, "interval")
        }
        Some("io.debezium.data.Uuid") => t(ColumnType::Uuid, "uuid"),
        Some("io.debezium.data.Json") => t(ColumnType::Jsonb, "jsonb"),
        Some("io.debezium.data.Xml") => t(ColumnType::Other, "xml"),
        // Debezium sends BIT(1) as a boolean and longer bit strings as `Bits`, with the
        // declared length (a `bit varying` source's values would be padded to it).
        Some("io.debezium.data.Bits") => match param("length") {
            Some(n) if n > 0 => (ColumnType::Bits, format!("bit({n})")),
            _ => t(ColumnType::Bits, "bit varying"),
        },
        Some(
            "io.debezium.data.geometry.Geometry"
            | "io.debezium.data.geometry.Geography"
            | "io.debezium.data.geometry.Point",
        ) => t(ColumnType::Bytes, "bytea"),
        _ => match field.ty.as_str() {
            "boolean" => t(ColumnType::Bool, "boolean"),
            "int8" | "int16" => t(ColumnType::Int16, "smallint"),
            "int32" => t(ColumnType::Int32, "integer"),
            "int64" => t(ColumnType::Int64, "bigint"),
            // The JSON converter spells Connect's float32/float64 `float`/`double`.
            "float" | "float32" => t(ColumnType::Float32, "real"),
            "double" | "float64" => t(ColumnType::Float64, "double precision"),
            "bytes" => t(ColumnType::Bytes, "bytea"),
            "string" => string_type(field, param("__debezium.source.column.length")),
            "array" => {
                let element = field.items.as_deref().map(column_type);
                match element.as_ref().and_then(|(ty, _)| element_type(*ty)) {
                    Some(e) => {
                        let sql = element.map(|(_, sql)| sql).unwrap_or_default();
                        (ColumnType::Array(e), format!("{sql}[]"))
                    }
                    // Arrays of anything else (and of structs) as JSON.
                    None => t(ColumnType::Jsonb, "jsonb"),
                }
            }
            // Structs and maps without a logical type: their JSON.
            _ => t(ColumnType::Jsonb, "jsonb"),
        },
    }
}

/// A string field: `character varying(n)` when the connector propagates a VARCHAR source
/// column's length (`column.propagate.source.type`), else `text`.
fn string_type(field: &FieldSchema, length: Option<u32>) -> (ColumnType, String) {
    let source_type = field
        .parameters
        .as_ref()
        .and_then(|p| p.get("__debezium.source.column.type"))
        .and_then(Json::as_str)
        .map(str::to_ascii_uppercase);
    let varying = matches!(
        source_type.as_deref(),
        Some("VARCHAR" | "CHARACTER VARYING" | "NVARCHAR" | "VARCHAR2")
    );
    match length {
        // PostgreSQL's varchar limit is 10485760 characters.
        Some(n) if varying && (1..=10_485_760).contains(&n) => {
            (ColumnType::Text, format!("character varying({n})"))
        }
        _ => (ColumnType::Text, "text".to_string()),
    }
}

/// The array element types tidemark stages natively.
fn element_type(ty: ColumnType) -> Option<ElementType> {
    Some(match ty {
        ColumnType::Bool => ElementType::Bool,
        ColumnType::Int16 => ElementType::Int16,
        ColumnType::Int32 => ElementType::Int32,
        ColumnType::Int64 => ElementType::Int64,
        ColumnType::Float32 => ElementType::Float32,
        ColumnType::Float64 => ElementType::Float64,
        ColumnType::Numeric => ElementType::Numeric,
        ColumnType::Text => ElementType::Text,
        ColumnType::Uuid => ElementType::Uuid,
        ColumnType::Date => ElementType::Date,
        ColumnType::Timestamp => ElementType::Timestamp,
        ColumnType::TimestampTz => ElementType::TimestampTz,
        ColumnType::Jsonb => ElementType::Jsonb,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(json: &str) -> FieldSchema {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    #[test]
    fn connect_types_become_postgres_columns() {
        let cases = [
            (r#"{"type":"int32"}"#, "integer"),
            (r#"{"type":"int16"}"#, "smallint"),
            (r#"{"type":"double"}"#, "double precision"),
            (r#"{"type":"float"}"#, "real"),
            (
                r#"{"type":"int64","name":"io.debezium.time.MicroTimestamp"}"#,
                "timestamp without time zone",
            ),
            (
                r#"{"type":"int64","name":"io.debezium.time.Timestamp"}"#,
                "timestamp(3) without time zone",
            ),
            (
                r#"{"type":"string","name":"io.debezium.time.ZonedTimestamp"}"#,
                "timestamp with time zone",
            ),
            (r#"{"type":"int32","name":"io.debezium.time.Date"}"#, "date"),
            (
                r#"{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2","connect.decimal.precision":"10"}}"#,
                "numeric(10,2)",
            ),
            (
                r#"{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"0"}}"#,
                "numeric",
            ),
            (
                r#"{"type":"struct","name":"io.debezium.data.VariableScaleDecimal"}"#,
                "numeric",
            ),
            (
                r#"{"type":"string","name":"io.debezium.data.Uuid"}"#,
                "uuid",
            ),
            (
                r#"{"type":"string","name":"io.debezium.data.Json"}"#,
                "jsonb",
            ),
            (
                r#"{"type":"bytes","name":"io.debezium.data.Bits","parameters":{"length":"7"}}"#,
                "bit(7)",
            ),
            (
                r#"{"type":"string","parameters":{"__debezium.source.column.type":"VARCHAR","__debezium.source.column.length":"40"}}"#,
                "character varying(40)",
            ),
            (
                r#"{"type":"string","parameters":{"__debezium.source.column.type":"TEXT","__debezium.source.column.length":"65535"}}"#,
                "text",
            ),
            (r#"{"type":"array","items":{"type":"int32"}}"#, "integer[]"),
            (
                r#"{"type":"array","items":{"type":"int64","name":"io.debezium.time.MicroDuration"}}"#,
                "jsonb",
            ),
            (
                r#"{"type":"struct","name":"io.debezium.data.geometry.Point"}"#,
                "bytea",
            ),
            (
                r#"{"type":"int32","name":"io.debezium.time.Year"}"#,
                "integer",
            ),
        ];
        for (json, sql) in cases {
            assert_eq!(column_type(&field(json)).1, sql, "{json}");
        }
    }
}
