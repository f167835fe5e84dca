//! Conversion of decoded values to the staged column types, with errors that say why.

use std::borrow::Cow;
use std::error::Error;

use base64::Engine;
use bytes::BytesMut;
use tidemark_model::{ColumnType, Value};
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};

/// One staged value, already in the form its stage column takes.
#[derive(Debug)]
pub(crate) enum Cell<'a> {
    Null,
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Text(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
}

impl ToSql for Cell<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Cell::Null => Ok(IsNull::Yes),
            Cell::Bool(v) => v.to_sql(ty, out),
            Cell::I16(v) => v.to_sql(ty, out),
            Cell::I32(v) => v.to_sql(ty, out),
            Cell::I64(v) => v.to_sql(ty, out),
            Cell::F32(v) => v.to_sql(ty, out),
            Cell::F64(v) => v.to_sql(ty, out),
            Cell::Text(v) => v.as_ref().to_sql(ty, out),
            Cell::Bytes(v) => v.as_ref().to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The stage column's driver type for a column type.
pub(crate) fn stage_pg_type(ty: ColumnType) -> Type {
    match ty {
        ColumnType::Bool => Type::BOOL,
        ColumnType::Int16 => Type::INT2,
        ColumnType::Int32 => Type::INT4,
        ColumnType::Int64 => Type::INT8,
        ColumnType::Float32 => Type::FLOAT4,
        ColumnType::Float64 => Type::FLOAT8,
        ColumnType::Text | ColumnType::Other => Type::TEXT,
        ColumnType::Bytes => Type::BYTEA,
    }
}

/// Converts a decoded value for a column of type `ty`. The error text says what was found.
pub(crate) fn to_cell(value: &Value, ty: ColumnType) -> Result<Cell<'_>, String> {
    let mismatch = || {
        format!(
            "cannot store {} in a column of type {:?}",
            describe(value),
            ty
        )
    };
    Ok(match (ty, value) {
        (_, Value::Null) => Cell::Null,
        (ColumnType::Bool, Value::Bool(b)) => Cell::Bool(*b),
        (ColumnType::Bool, Value::Int(0)) => Cell::Bool(false),
        (ColumnType::Bool, Value::Int(1)) => Cell::Bool(true),
        (ColumnType::Int16, Value::Int(i)) => {
            Cell::I16(i16::try_from(*i).map_err(|_| format!("{i} is out of range for smallint"))?)
        }
        (ColumnType::Int32, Value::Int(i)) => {
            Cell::I32(i32::try_from(*i).map_err(|_| format!("{i} is out of range for integer"))?)
        }
        (ColumnType::Int64, Value::Int(i)) => Cell::I64(*i),
        (ColumnType::Float32, Value::Float(f)) => Cell::F32(*f as f32),
        (ColumnType::Float32, Value::Int(i)) => Cell::F32(*i as f32),
        (ColumnType::Float64, Value::Float(f)) => Cell::F64(*f),
        (ColumnType::Float64, Value::Int(i)) => Cell::F64(*i as f64),
        (ColumnType::Text | ColumnType::Other, Value::Text(s)) => {
            Cell::Text(Cow::Borrowed(text(s)?))
        }
        (ColumnType::Text | ColumnType::Other, Value::Int(i)) => {
            Cell::Text(Cow::Owned(i.to_string()))
        }
        (ColumnType::Text | ColumnType::Other, Value::Float(f)) => {
            Cell::Text(Cow::Owned(f.to_string()))
        }
        (ColumnType::Text | ColumnType::Other, Value::Bool(b)) => {
            Cell::Text(Cow::Owned(b.to_string()))
        }
        (ColumnType::Bytes, Value::Text(s)) => Cell::Bytes(Cow::Owned(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| format!("bytes value is not valid base64: {e}"))?,
        )),
        _ => return Err(mismatch()),
    })
}

fn text(s: &str) -> Result<&str, String> {
    if s.contains('\0') {
        return Err("text contains a NUL character, which PostgreSQL text cannot store".into());
    }
    Ok(s)
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Int(i) => format!("integer {i}"),
        Value::Float(f) => format!("number {f}"),
        Value::Text(s) if s.chars().count() > 40 => {
            format!("text {:?}…", s.chars().take(40).collect::<String>())
        }
        Value::Text(s) => format!("text {s:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_check_ranges_and_types() {
        assert!(matches!(
            to_cell(&Value::Int(7), ColumnType::Int16),
            Ok(Cell::I16(7))
        ));
        let err = to_cell(&Value::Int(70000), ColumnType::Int16).unwrap_err();
        assert!(err.contains("70000"), "{err}");
        assert!(to_cell(&Value::Text("x".into()), ColumnType::Int32).is_err());
        assert!(matches!(
            to_cell(&Value::Text("AAE=".into()), ColumnType::Bytes),
            Ok(Cell::Bytes(b)) if b.as_ref() == [0u8, 1]
        ));
        assert!(to_cell(&Value::Text("***".into()), ColumnType::Bytes).is_err());
        assert!(to_cell(&Value::Text("a\0b".into()), ColumnType::Text).is_err());
        assert!(matches!(
            to_cell(&Value::Null, ColumnType::Int64),
            Ok(Cell::Null)
        ));
    }
}
