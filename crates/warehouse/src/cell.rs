//! One staged value in the form its stage column takes, and its binary COPY encoding.

use std::borrow::Cow;
use std::error::Error;

use bytes::{BufMut, BytesMut};
use tidemark_model::{ColumnType, Decimal, ElementType, Interval, TargetColumn};
use tokio_postgres::types::{to_sql_checked, IsNull, Kind, ToSql, Type};

use crate::encode::{self, NumericSign};

/// A staged value, already checked and converted for its column (see [`crate::convert`]):
/// encoding it cannot fail on the value itself. Borrowed from the decoded value where the
/// wire form is the same bytes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Numeric(Cow<'a, Decimal>),
    /// NaN or ±Infinity.
    NumericSpecial(NumericSign),
    /// `text`, `varchar`, `char(n)` and `json`: UTF-8 text on the wire.
    Text(Cow<'a, str>),
    Jsonb(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    /// Days since 2000-01-01.
    Date(i32),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since midnight, offset in seconds east of UTC.
    TimeTz {
        micros: i64,
        offset_secs: i32,
    },
    /// Microseconds since 2000-01-01T00:00: `timestamp` and `timestamptz` alike.
    Timestamp(i64),
    Interval(Interval),
    Uuid([u8; 16]),
    /// A bit string of `len` bits, most significant first.
    Bits {
        len: i32,
        bytes: Cow<'a, [u8]>,
    },
    /// A one-dimensional array; the element type comes from the column's COPY type.
    Array(Vec<Cell<'a>>),
}

type EncodeError = Box<dyn Error + Sync + Send>;

impl Cell<'_> {
    fn encode(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, EncodeError> {
        match self {
            Cell::Null => return Ok(IsNull::Yes),
            Cell::Bool(v) => out.put_u8(u8::from(*v)),
            Cell::I16(v) => out.put_i16(*v),
            Cell::I32(v) => out.put_i32(*v),
            Cell::I64(v) => out.put_i64(*v),
            Cell::F32(v) => out.put_f32(*v),
            Cell::F64(v) => out.put_f64(*v),
            Cell::Numeric(d) => encode::numeric(d, out)?,
            Cell::NumericSpecial(sign) => encode::numeric_special(*sign, out),
            Cell::Text(s) => out.put_slice(s.as_bytes()),
            Cell::Jsonb(s) => encode::jsonb(s, out),
            Cell::Bytes(b) => out.put_slice(b),
            Cell::Date(d) => out.put_i32(*d),
            Cell::Time(t) | Cell::Timestamp(t) => out.put_i64(*t),
            Cell::TimeTz {
                micros,
                offset_secs,
            } => encode::timetz(*micros, *offset_secs, out),
            Cell::Interval(i) => encode::interval(i, out),
            Cell::Uuid(u) => out.put_slice(u),
            Cell::Bits { len, bytes } => encode::bits(*len, bytes, out),
            Cell::Array(items) => array(items, ty, out)?,
        }
        Ok(IsNull::No)
    }
}

/// A one-dimensional array: ndim (1, or 0 when empty), has-null flag, element type OID, then
/// the dimension's length and lower bound (1), then each element as its byte length (−1 for
/// NULL) and its encoding. The server checks the OID against the column's element type.
fn array(items: &[Cell<'_>], ty: &Type, out: &mut BytesMut) -> Result<(), EncodeError> {
    let Kind::Array(element) = ty.kind() else {
        return Err(format!("an array value is staged as {ty}, which is not an array type").into());
    };
    let has_null = items.iter().any(|c| matches!(c, Cell::Null));
    out.put_i32(i32::from(!items.is_empty()));
    out.put_i32(i32::from(has_null));
    out.put_u32(element.oid());
    if !items.is_empty() {
        out.put_i32(i32::try_from(items.len())?);
        out.put_i32(1);
    }
    for item in items {
        let at = out.len();
        out.put_i32(0);
        let len = match item.encode(element, out)? {
            IsNull::Yes => -1,
            IsNull::No => i32::try_from(out.len() - at - 4)?,
        };
        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

impl ToSql for Cell<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, EncodeError> {
        self.encode(ty, out)
    }

    /// Cells are made for their column by [`crate::convert::to_cell`]; the COPY types only
    /// carry array element OIDs.
    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The COPY type of a column: the type of its stage column (see `sql::stage_type`). Only an
/// array's element OID reaches the server, which checks it against the stage column's.
pub(crate) fn stage_pg_type(column: &TargetColumn) -> Type {
    let sql_type = column.sql_type.as_str();
    match column.ty {
        ColumnType::Bool => Type::BOOL,
        ColumnType::Int16 => Type::INT2,
        ColumnType::Int32 => Type::INT4,
        ColumnType::Int64 => Type::INT8,
        ColumnType::Float32 => Type::FLOAT4,
        ColumnType::Float64 => Type::FLOAT8,
        ColumnType::Numeric => Type::NUMERIC,
        ColumnType::Text => text_type(sql_type),
        ColumnType::Bytes => Type::BYTEA,
        ColumnType::Date => Type::DATE,
        ColumnType::Time => Type::TIME,
        ColumnType::TimeTz => Type::TIMETZ,
        ColumnType::Timestamp => Type::TIMESTAMP,
        ColumnType::TimestampTz => Type::TIMESTAMPTZ,
        ColumnType::Interval => Type::INTERVAL,
        ColumnType::Uuid => Type::UUID,
        ColumnType::Json => Type::JSON,
        ColumnType::Jsonb => Type::JSONB,
        ColumnType::Bits if sql_type.starts_with("bit varying") => Type::VARBIT,
        ColumnType::Bits => Type::BIT,
        ColumnType::Array(element) => array_type(element, sql_type),
        ColumnType::Other => Type::TEXT,
    }
}

fn array_type(element: ElementType, sql_type: &str) -> Type {
    match element {
        ElementType::Bool => Type::BOOL_ARRAY,
        ElementType::Int16 => Type::INT2_ARRAY,
        ElementType::Int32 => Type::INT4_ARRAY,
        ElementType::Int64 => Type::INT8_ARRAY,
        ElementType::Float32 => Type::FLOAT4_ARRAY,
        ElementType::Float64 => Type::FLOAT8_ARRAY,
        ElementType::Numeric => Type::NUMERIC_ARRAY,
        ElementType::Text => match text_type(sql_type) {
            t if t == Type::VARCHAR => Type::VARCHAR_ARRAY,
            t if t == Type::BPCHAR => Type::BPCHAR_ARRAY,
            _ => Type::TEXT_ARRAY,
        },
        ElementType::Uuid => Type::UUID_ARRAY,
        ElementType::Date => Type::DATE_ARRAY,
        ElementType::Timestamp => Type::TIMESTAMP_ARRAY,
        ElementType::TimestampTz => Type::TIMESTAMPTZ_ARRAY,
        ElementType::Jsonb => Type::JSONB_ARRAY,
    }
}

/// Which of the text types a column (or array element) is, from its `format_type` spelling:
/// they share one wire format, but an array's element OID must be the exact one.
/// The array type of a (non-array) stage type, for binding a column's values as one array
/// parameter; `None` for an array type.
pub(crate) fn array_of(element: &Type) -> Option<Type> {
    let pairs = [
        (Type::BOOL, Type::BOOL_ARRAY),
        (Type::INT2, Type::INT2_ARRAY),
        (Type::INT4, Type::INT4_ARRAY),
        (Type::INT8, Type::INT8_ARRAY),
        (Type::FLOAT4, Type::FLOAT4_ARRAY),
        (Type::FLOAT8, Type::FLOAT8_ARRAY),
        (Type::NUMERIC, Type::NUMERIC_ARRAY),
        (Type::TEXT, Type::TEXT_ARRAY),
        (Type::VARCHAR, Type::VARCHAR_ARRAY),
        (Type::BPCHAR, Type::BPCHAR_ARRAY),
        (Type::BYTEA, Type::BYTEA_ARRAY),
        (Type::DATE, Type::DATE_ARRAY),
        (Type::TIME, Type::TIME_ARRAY),
        (Type::TIMETZ, Type::TIMETZ_ARRAY),
        (Type::TIMESTAMP, Type::TIMESTAMP_ARRAY),
        (Type::TIMESTAMPTZ, Type::TIMESTAMPTZ_ARRAY),
        (Type::INTERVAL, Type::INTERVAL_ARRAY),
        (Type::UUID, Type::UUID_ARRAY),
        (Type::JSON, Type::JSON_ARRAY),
        (Type::JSONB, Type::JSONB_ARRAY),
        (Type::BIT, Type::BIT_ARRAY),
        (Type::VARBIT, Type::VARBIT_ARRAY),
    ];
    pairs
        .into_iter()
        .find(|(e, _)| e == element)
        .map(|(_, array)| array)
}

fn text_type(sql_type: &str) -> Type {
    if sql_type.starts_with("character varying") {
        Type::VARCHAR
    } else if sql_type.starts_with("character") || sql_type.starts_with("bpchar") {
        Type::BPCHAR
    } else {
        Type::TEXT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(ty: ColumnType, sql_type: &str) -> TargetColumn {
        TargetColumn {
            name: "c".into(),
            source_field: "c".into(),
            ty,
            sql_type: sql_type.into(),
        }
    }

    #[test]
    fn copy_types_follow_the_stage_column_type() {
        let t = |ty, sql: &str| stage_pg_type(&column(ty, sql));
        let text_array = ColumnType::Array(ElementType::Text);
        assert_eq!(t(ColumnType::Text, "character varying(5)"), Type::VARCHAR);
        assert_eq!(t(ColumnType::Text, "character(3)"), Type::BPCHAR);
        assert_eq!(t(ColumnType::Text, "text"), Type::TEXT);
        assert_eq!(
            t(text_array, "character varying(20)[]"),
            Type::VARCHAR_ARRAY
        );
        assert_eq!(t(text_array, "bpchar[]"), Type::BPCHAR_ARRAY);
        assert_eq!(t(text_array, "text[]"), Type::TEXT_ARRAY);
        assert_eq!(t(ColumnType::Bits, "bit varying(10)"), Type::VARBIT);
        assert_eq!(t(ColumnType::Bits, "bit(3)"), Type::BIT);
        assert_eq!(t(ColumnType::Other, "mood"), Type::TEXT);
    }

    #[test]
    fn arrays_carry_dimensions_nulls_and_element_lengths() {
        let mut out = BytesMut::new();
        let cell = Cell::Array(vec![Cell::I32(7), Cell::Null]);
        assert!(matches!(
            cell.to_sql(&Type::INT4_ARRAY, &mut out),
            Ok(IsNull::No)
        ));
        let expected: Vec<u8> = [1i32, 1, 23, 2, 1, 4, 7, -1]
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect();
        assert_eq!(out.to_vec(), expected);
        let mut out = BytesMut::new();
        Cell::Array(vec![])
            .to_sql(&Type::TEXT_ARRAY, &mut out)
            .unwrap();
        let expected: Vec<u8> = [0i32, 0, 25].iter().flat_map(|w| w.to_be_bytes()).collect();
        assert_eq!(out.to_vec(), expected);
        assert!(Cell::Array(vec![]).to_sql(&Type::TEXT, &mut out).is_err());
    }
}
