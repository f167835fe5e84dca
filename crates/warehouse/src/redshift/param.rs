//! Parameters bound in text format, as Redshift's drivers send them: the server reads each
//! with its type's input function (the parameter's type inferred from the statement), exactly
//! as it reads a literal — so one rendering of a value (`Value::to_redshift_text`) serves the
//! multi-row `INSERT`, the fenced watermark statements and the S3 files alike.

use bytes::BytesMut;
use tokio_postgres::types::{to_sql_checked, Format, IsNull, ToSql, Type};

/// A parameter's text, `None` for NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text(pub Option<String>);

impl Text {
    pub(crate) fn of(value: impl ToString) -> Self {
        Self(Some(value.to_string()))
    }
}

impl ToSql for Text {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            None => Ok(IsNull::Yes),
            Some(text) => {
                out.extend_from_slice(text.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    /// Any type: the server parses the text.
    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// `params` as the driver takes them.
pub(crate) fn bind(params: &[Text]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}
