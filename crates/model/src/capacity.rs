//! What a warehouse column can hold, by dialect: the one place that says how big a Redshift
//! `VARCHAR`, `DECIMAL`, `VARBYTE` or staged `SUPER` value may be. The decoder checks every
//! value against it (so a value that does not fit is an error naming its record and column,
//! or a dead letter, before anything is written) and the Redshift DDL sizes its columns by it.
//!
//! PostgreSQL needs no such check here: its COPY checks every value against the column's own
//! type and names the row.

use crate::{ColumnType, TargetColumn, Value};

/// Which warehouse's limits a value must fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Capacity {
    /// PostgreSQL: its COPY checks each value.
    #[default]
    Postgres,
    /// Amazon Redshift: lengths in bytes, decimals of at most 38 digits, values staged as text.
    Redshift,
}

/// Redshift's limit on one `VARCHAR`, in bytes.
pub const REDSHIFT_MAX_VARCHAR_BYTES: u32 = 65_535;
/// Redshift's limit on one `VARBYTE`, in bytes.
pub const REDSHIFT_MAX_VARBYTE_BYTES: u32 = 1_024_000;
/// Redshift's limit on a `DECIMAL`'s precision.
pub const REDSHIFT_MAX_DECIMAL_PRECISION: u32 = 38;
/// The scale of a source decimal without a declared precision (Debezium's
/// `VariableScaleDecimal`, PostgreSQL's bare `numeric`): `DECIMAL(38,10)`. A value with more
/// digits does not fit, which is an error (or a dead letter), never a silent rounding.
pub const REDSHIFT_UNBOUNDED_DECIMAL_SCALE: u32 = 10;
/// Bytes are staged as hexadecimal text in a `VARCHAR(65535)` (both staging modes) and turned
/// into `VARBYTE` by `FROM_HEX`: two characters per byte.
pub const REDSHIFT_MAX_STAGED_BYTES: u32 = REDSHIFT_MAX_VARCHAR_BYTES / 2;

/// A Redshift column's size in bytes for text-like columns: the declared length (Redshift
/// counts `VARCHAR(n)` in bytes, and the DDL tidemark writes keeps a source's declared length
/// as that byte count), else the type's maximum.
pub fn redshift_text_bytes(column: &TargetColumn) -> u32 {
    match column.type_modifiers().as_slice() {
        [n, ..] if column.ty == ColumnType::Text => (*n).min(REDSHIFT_MAX_VARCHAR_BYTES),
        _ => REDSHIFT_MAX_VARCHAR_BYTES,
    }
}

/// A Redshift `DECIMAL`'s (precision, scale) for a numeric column; `None` when the declared
/// precision exceeds Redshift's 38 digits (the DDL says so; such a column cannot be created).
pub fn redshift_decimal(column: &TargetColumn) -> Option<(u32, u32)> {
    match column.type_modifiers().as_slice() {
        [] => Some((
            REDSHIFT_MAX_DECIMAL_PRECISION,
            REDSHIFT_UNBOUNDED_DECIMAL_SCALE,
        )),
        [p, ..] if *p > REDSHIFT_MAX_DECIMAL_PRECISION => None,
        [p] => Some((*p, 0)),
        [p, s, ..] => Some((*p, *s)),
    }
}

impl Capacity {
    /// Whether `value` fits `column`; the reason (with what to do) when it does not. A value
    /// that does not fit is never cut or rounded to fit.
    pub fn check(self, column: &TargetColumn, value: &Value) -> Result<(), String> {
        match self {
            Capacity::Postgres => Ok(()),
            Capacity::Redshift => redshift_check(column, value),
        }
    }
}

fn redshift_check(column: &TargetColumn, value: &Value) -> Result<(), String> {
    let too_long = |what: &str, len: usize, limit: u32| -> Result<(), String> {
        if len <= limit as usize {
            return Ok(());
        }
        Err(format!(
            "{what} of {len} bytes does not fit Redshift's {limit}-byte column (Redshift counts \
             VARCHAR lengths in bytes); widen the column (ALTER TABLE … ALTER COLUMN … TYPE \
             VARCHAR(n)) and restart, or exclude the field"
        ))
    };
    match value {
        Value::Text(s) => too_long("a string", s.len(), redshift_text_bytes(column)),
        Value::Json(s) => too_long(
            "a JSON document",
            s.len(),
            REDSHIFT_MAX_VARCHAR_BYTES, // staged as VARCHAR, parsed by JSON_PARSE
        ),
        Value::Bytes(b) => {
            let declared = match column.type_modifiers().as_slice() {
                [n, ..] => *n,
                [] => REDSHIFT_MAX_VARBYTE_BYTES,
            };
            let limit = declared.min(REDSHIFT_MAX_STAGED_BYTES);
            if b.len() <= limit as usize {
                return Ok(());
            }
            Err(format!(
                "a binary value of {} bytes exceeds the {limit} bytes tidemark can stage into \
                 Redshift (hexadecimal text in a VARCHAR(65535)); exclude the field",
                b.len()
            ))
        }
        Value::Decimal(d) => {
            let Some((precision, scale)) = redshift_decimal(column) else {
                return Err(format!(
                    "the column's precision exceeds Redshift's {REDSHIFT_MAX_DECIMAL_PRECISION} \
                     digits"
                ));
            };
            let (int, frac) = d.parts();
            let int_digits = int.trim_start_matches('0').len() as u32;
            let frac = frac.trim_end_matches('0');
            if frac.len() as u32 > scale || int_digits > precision - scale {
                return Err(format!(
                    "the decimal {} does not fit DECIMAL({precision},{scale}) (at most {} digits \
                     before the point and {scale} after; Redshift holds at most \
                     {REDSHIFT_MAX_DECIMAL_PRECISION}); store such values as strings \
                     (decimal_handling = \"string\") or exclude the field",
                    d.as_str(),
                    precision - scale
                ));
            }
            Ok(())
        }
        Value::Interval(i) if i.months != 0 => Err(format!(
            "an interval of {} months: Redshift's INTERVAL DAY TO SECOND holds days and time \
             only; exclude the field",
            i.months
        )),
        // Staged as JSON text, parsed by JSON_PARSE into SUPER.
        Value::Array(_) => too_long(
            "an array (as JSON)",
            value.to_redshift_text().map_or(0, |t| t.len()),
            REDSHIFT_MAX_VARCHAR_BYTES,
        ),
        Value::Unavailable => Err(
            "the source did not send this unchanged TOASTed value, and the Redshift dialect \
             cannot keep the target's value for it; set REPLICA IDENTITY FULL on the source \
             table so that every change carries every column"
                .to_string(),
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decimal, Interval};

    fn col(ty: ColumnType, sql_type: &str) -> TargetColumn {
        TargetColumn {
            name: "c".into(),
            source_field: "c".into(),
            ty,
            sql_type: sql_type.into(),
        }
    }

    #[test]
    fn strings_are_measured_in_bytes_against_the_declared_length() {
        let c = col(ColumnType::Text, "character varying(4)");
        let r = Capacity::Redshift;
        assert!(r.check(&c, &Value::Text("abcd".into())).is_ok());
        // Two characters, four bytes: fits; three characters, six bytes: does not.
        assert!(r.check(&c, &Value::Text("éé".into())).is_ok());
        let err = r.check(&c, &Value::Text("ééé".into())).unwrap_err();
        assert!(err.contains("6 bytes") && err.contains("4-byte"), "{err}");
        // PostgreSQL checks in its COPY.
        assert!(Capacity::Postgres
            .check(&c, &Value::Text("ééé".into()))
            .is_ok());
        let text = col(ColumnType::Text, "text");
        let big = "x".repeat(65_536);
        assert!(r.check(&text, &Value::Text(big)).is_err());
        assert!(r.check(&text, &Value::Text("x".repeat(65_535))).is_ok());
    }

    #[test]
    fn decimals_fit_their_precision_and_scale_or_are_refused() {
        let r = Capacity::Redshift;
        let d = |s: &str| Value::Decimal(Decimal::parse(s).unwrap());
        let money = col(ColumnType::Numeric, "numeric(5,2)");
        assert!(r.check(&money, &d("999.99")).is_ok());
        assert!(r.check(&money, &d("-0.5")).is_ok());
        assert!(r.check(&money, &d("1000.00")).is_err());
        assert!(r.check(&money, &d("1.005")).is_err(), "would round");
        let any = col(ColumnType::Numeric, "numeric");
        assert!(r
            .check(&any, &d("1234567890123456789012345678.1234567891"))
            .is_ok());
        let err = r
            .check(&any, &d("12345678901234567890123456789"))
            .unwrap_err();
        assert!(err.contains("DECIMAL(38,10)"), "{err}");
        assert!(r.check(&any, &d("0.12345678901")).is_err());
        let wide = col(ColumnType::Numeric, "numeric(40,2)");
        assert!(r.check(&wide, &d("1")).is_err());
    }

    #[test]
    fn bytes_json_intervals_and_unsent_values() {
        let r = Capacity::Redshift;
        let bytes = col(ColumnType::Bytes, "bytea");
        assert!(r.check(&bytes, &Value::Bytes(vec![0; 32_767])).is_ok());
        assert!(r.check(&bytes, &Value::Bytes(vec![0; 32_768])).is_err());
        let doc = col(ColumnType::Jsonb, "jsonb");
        let long = format!("\"{}\"", "x".repeat(65_534));
        assert!(r.check(&doc, &Value::Json(long)).is_err());
        let took = col(ColumnType::Interval, "interval");
        let months = Value::Interval(Box::new(Interval {
            months: 1,
            days: 0,
            micros: 0,
        }));
        assert!(r.check(&took, &months).is_err());
        let days = Value::Interval(Box::new(Interval {
            months: 0,
            days: 3,
            micros: 5,
        }));
        assert!(r.check(&took, &days).is_ok());
        assert!(r.check(&doc, &Value::Unavailable).is_err());
        assert!(r.check(&doc, &Value::Null).is_ok());
        let tags = col(ColumnType::Array(crate::ElementType::Text), "text[]");
        let many = Value::Array(vec![Value::Text("x".repeat(1000)); 66]);
        assert!(r.check(&tags, &many).is_err());
        let few = Value::Array(vec![Value::Text("x".repeat(1000)); 65]);
        assert!(r.check(&tags, &few).is_ok());
    }

    #[test]
    fn redshift_text_of_bytes_intervals_and_arrays() {
        assert_eq!(
            Value::Bytes(vec![0, 0xab]).to_redshift_text().as_deref(),
            Some("00ab")
        );
        let i = Value::Interval(Box::new(Interval {
            months: 0,
            days: 2,
            micros: -3_723_000_001,
        }));
        assert_eq!(
            i.to_redshift_text().as_deref(),
            Some("2 days -01:02:03.000001")
        );
        let a = Value::Array(vec![
            Value::Int(1),
            Value::Null,
            Value::Text("a\"b\\\n".into()),
            Value::Json("{\"k\":1}".into()),
            Value::Float(f64::NAN),
        ]);
        assert_eq!(
            a.to_redshift_text().as_deref(),
            Some(r#"[1,null,"a\"b\\\u000a",{"k":1},"NaN"]"#)
        );
        assert_eq!(Value::Null.to_redshift_text(), None);
    }
}
