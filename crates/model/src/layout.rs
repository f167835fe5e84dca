use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::evolve::ColumnChange;

/// A schema-qualified table name, exactly as written in config (`schema.table`, or `table`
/// meaning schema `public`). Quoting for SQL is the warehouse adapter's job.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub schema: String,
    pub name: String,
}

impl TableName {
    /// Parses `schema.table` or `table`. Returns `None` for empty parts or more than one dot.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split('.');
        let (schema, name) = match (parts.next(), parts.next(), parts.next()) {
            (Some(n), None, None) => ("public", n),
            (Some(s), Some(n), None) => (s, n),
            _ => return None,
        };
        if schema.is_empty() || name.is_empty() {
            return None;
        }
        Some(Self {
            schema: schema.to_string(),
            name: name.to_string(),
        })
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// How tidemark encodes a column when staging it: every type PostgreSQL has a binary encoding
/// for that tidemark writes natively; the rest (enums, domains, xml, geometry types, …) are
/// staged as text and cast by the warehouse with the column's own type (`Other`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    Bool,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Numeric,
    Text,
    Bytes,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    Uuid,
    Json,
    Jsonb,
    /// `bit(n)` and `bit varying(n)`.
    Bits,
    /// A one-dimensional array of a natively encoded element type.
    Array(ElementType),
    Other,
}

/// The element types of arrays tidemark encodes natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElementType {
    Bool,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Numeric,
    Text,
    Uuid,
    Date,
    Timestamp,
    TimestampTz,
    Jsonb,
}

impl ElementType {
    /// The column type of one element.
    pub fn column_type(self) -> ColumnType {
        match self {
            ElementType::Bool => ColumnType::Bool,
            ElementType::Int16 => ColumnType::Int16,
            ElementType::Int32 => ColumnType::Int32,
            ElementType::Int64 => ColumnType::Int64,
            ElementType::Float32 => ColumnType::Float32,
            ElementType::Float64 => ColumnType::Float64,
            ElementType::Numeric => ColumnType::Numeric,
            ElementType::Text => ColumnType::Text,
            ElementType::Uuid => ColumnType::Uuid,
            ElementType::Date => ColumnType::Date,
            ElementType::Timestamp => ColumnType::Timestamp,
            ElementType::TimestampTz => ColumnType::TimestampTz,
            ElementType::Jsonb => ColumnType::Jsonb,
        }
    }
}

/// One column of a target table that tidemark writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetColumn {
    /// The column's name in the target table.
    pub name: String,
    /// The Debezium field that feeds it (the same name unless renamed in config).
    pub source_field: String,
    pub ty: ColumnType,
    /// The column's full SQL type as the warehouse spells it (`format_type`), used for casts.
    pub sql_type: String,
}

impl TargetColumn {
    /// The type's modifiers as declared (`numeric(10,2)` → `[10, 2]`, `timestamp(3) without
    /// time zone` → `[3]`, `text` → `[]`).
    pub fn type_modifiers(&self) -> Vec<u32> {
        let Some(open) = self.sql_type.find('(') else {
            return Vec::new();
        };
        let Some(close) = self.sql_type[open..].find(')') else {
            return Vec::new();
        };
        self.sql_type[open + 1..open + close]
            .split(',')
            .filter_map(|m| m.trim().parse().ok())
            .collect()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LayoutError {
    #[error("table {table}: column rename {source_field} = {target:?} names a column the table does not have")]
    UnknownRenameTarget {
        table: TableName,
        source_field: String,
        target: String,
    },
    #[error("table {table}: key field {field:?} maps to no column of the table")]
    UnknownKeyField { table: TableName, field: String },
    #[error("table {table}: unmanaged column {column:?} is not a column of the table")]
    UnknownUnmanagedColumn { table: TableName, column: String },
    #[error("table {table}: delete_mode = \"soft\" needs the column {column:?}; add it: ALTER TABLE … ADD COLUMN \"__deleted\" boolean NOT NULL DEFAULT false, ADD COLUMN \"__deleted_at\" timestamptz")]
    SoftDeleteColumnMissing { table: TableName, column: String },
    #[error("table {table} does not exist: create it, or set auto_create = true to have tidemark create it from the records' schema")]
    MissingTable { table: TableName },
    #[error("table {table}: no columns left to write")]
    NoColumns { table: TableName },
    /// The key an earlier merge recorded names a column the target no longer has (or that is
    /// now unmanaged).
    #[error("table {table}: its recorded key column {column:?} is not a written column of the table; restore the column, or delete the table's row from tidemark's table_keys table to re-key it")]
    RecordedKeyColumnMissing { table: TableName, column: String },
}

/// The columns tidemark writes in one target table, in a fixed order that every decoded row
/// follows, the map from Debezium field names to those columns, and the table's key.
///
/// The key is decided once per table and held here, so every owner decoding the table and its
/// merger agree on it: from the configured key fields when the decoder is built at start, else
/// from the key recorded by an earlier merge (the warehouse keeps it for every replica), else
/// from the field names of the first message key any owner of the table decodes. A record whose
/// key fields differ from the decided key is a decode error, never a second key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLayout {
    pub table: TableName,
    pub columns: Vec<TargetColumn>,
    by_source: HashMap<String, usize>,
    /// Key column indices, ascending, once decided. Shared by every version of the layout
    /// (an evolved layout only appends columns, so the indices stay valid).
    key: Arc<OnceLock<Vec<usize>>>,
    /// Counts the schema changes applied to the layout since start (see [`crate::LayoutCell`]).
    pub version: u64,
    /// Deletes mark rows (`__deleted`, `__deleted_at`) instead of removing them.
    pub soft_delete: bool,
}

/// The source field that feeds a target column: the one renamed to it (`renames` maps source
/// field → target column), else the field of the column's own name.
pub fn source_field<'a>(renames: &'a BTreeMap<String, String>, column: &'a str) -> &'a str {
    renames
        .iter()
        .find(|(_, target)| target.as_str() == column)
        .map_or(column, |(source, _)| source.as_str())
}

/// The columns that mark a soft-deleted row (`delete_mode = "soft"`).
pub const SOFT_DELETE_COLUMNS: [&str; 2] = ["__deleted", "__deleted_at"];

impl TableLayout {
    /// Builds the layout from the target's columns `(name, type, sql_type)`, the configured
    /// renames (source field → target column) and the columns tidemark must leave alone (their
    /// DEFAULT applies on insert).
    pub fn from_target(
        table: TableName,
        target_columns: Vec<(String, ColumnType, String)>,
        renames: &BTreeMap<String, String>,
        unmanaged: &[String],
    ) -> Result<Self, LayoutError> {
        for column in unmanaged {
            if !target_columns.iter().any(|(n, _, _)| n == column) {
                return Err(LayoutError::UnknownUnmanagedColumn {
                    table,
                    column: column.clone(),
                });
            }
        }
        for (source, target) in renames {
            if !target_columns.iter().any(|(n, _, _)| n == target) {
                return Err(LayoutError::UnknownRenameTarget {
                    table,
                    source_field: source.clone(),
                    target: target.clone(),
                });
            }
        }
        let columns: Vec<TargetColumn> = target_columns
            .into_iter()
            .filter(|(name, _, _)| !unmanaged.contains(name))
            .map(|(name, ty, sql_type)| {
                let source_field = source_field(renames, &name).to_string();
                TargetColumn {
                    name,
                    source_field,
                    ty,
                    sql_type,
                }
            })
            .collect();
        if columns.is_empty() {
            return Err(LayoutError::NoColumns { table });
        }
        let by_source = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.source_field.clone(), i))
            .collect();
        Ok(Self {
            table,
            columns,
            by_source,
            key: Arc::default(),
            version: 0,
            soft_delete: false,
        })
    }

    /// The layout of a target that does not exist yet (`auto_create`): no columns until the
    /// first record's schema gives them.
    pub fn pending(table: TableName) -> Self {
        Self {
            table,
            columns: Vec::new(),
            by_source: HashMap::new(),
            key: Arc::default(),
            version: 0,
            soft_delete: false,
        }
    }

    /// Whether the target is still to be created (no columns yet).
    pub fn is_pending(&self) -> bool {
        self.columns.is_empty()
    }

    /// The next version of the layout: `changes` applied (columns appended or retyped, never
    /// removed or reordered), the key decision shared.
    pub fn with_changes(&self, changes: &[ColumnChange]) -> Self {
        let mut next = self.clone();
        for change in changes {
            match change {
                ColumnChange::Add(column) => {
                    next.by_source
                        .insert(column.source_field.clone(), next.columns.len());
                    next.columns.push(column.clone());
                }
                ColumnChange::Retype {
                    column,
                    ty,
                    sql_type,
                } => {
                    if let Some(c) = next.columns.get_mut(*column) {
                        c.ty = *ty;
                        c.sql_type.clone_from(sql_type);
                    }
                }
            }
        }
        next.version += 1;
        next
    }

    /// The key columns (indices into `columns`, ascending), once decided.
    pub fn key(&self) -> Option<&[usize]> {
        self.key.get().map(Vec::as_slice)
    }

    /// Decides the key if it is not decided yet, and returns the decided key: `columns` (sorted)
    /// if this call decided, else the earlier decision, which the caller compares with its own.
    pub fn decide_key(&self, mut columns: Vec<usize>) -> &[usize] {
        columns.sort_unstable();
        self.key.get_or_init(|| columns)
    }

    /// The indices of these target columns (a recorded key), in the given order.
    pub fn columns_named(&self, names: &[String]) -> Result<Vec<usize>, LayoutError> {
        names
            .iter()
            .map(|n| {
                self.columns
                    .iter()
                    .position(|c| &c.name == n)
                    .ok_or_else(|| LayoutError::RecordedKeyColumnMissing {
                        table: self.table.clone(),
                        column: n.clone(),
                    })
            })
            .collect()
    }

    /// The column fed by a Debezium field, if the table has one.
    pub fn column_for_field(&self, field: &str) -> Option<usize> {
        self.by_source.get(field).copied()
    }

    /// Resolves key field names (source names) to column indices.
    pub fn key_columns<S: AsRef<str>>(&self, fields: &[S]) -> Result<Vec<usize>, LayoutError> {
        fields
            .iter()
            .map(|f| {
                self.column_for_field(f.as_ref())
                    .ok_or_else(|| LayoutError::UnknownKeyField {
                        table: self.table.clone(),
                        field: f.as_ref().to_string(),
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Vec<(String, ColumnType, String)> {
        vec![
            ("customer_id".into(), ColumnType::Text, "text".into()),
            ("customer_name".into(), ColumnType::Text, "text".into()),
            ("refresh_time".into(), ColumnType::Other, "timestamp".into()),
        ]
    }

    #[test]
    fn renames_map_source_fields_and_unmanaged_columns_are_left_out() {
        let renames = BTreeMap::from([("CUST_ID".to_string(), "customer_id".to_string())]);
        let table = TableName::parse("public.customer_target").unwrap();
        let layout =
            TableLayout::from_target(table, cols(), &renames, &["refresh_time".into()]).unwrap();
        assert_eq!(layout.columns.len(), 2);
        assert_eq!(layout.column_for_field("CUST_ID"), Some(0));
        assert_eq!(layout.column_for_field("customer_id"), None);
        assert_eq!(layout.column_for_field("customer_name"), Some(1));
        assert_eq!(layout.key_columns(&["CUST_ID"]).unwrap(), vec![0]);
        assert!(layout.key_columns(&["NOPE"]).is_err());
    }

    #[test]
    fn rename_to_missing_column_is_an_error() {
        let renames = BTreeMap::from([("X".to_string(), "missing".to_string())]);
        let table = TableName::parse("t").unwrap();
        assert_eq!(table.schema, "public");
        let err = TableLayout::from_target(table, cols(), &renames, &[]).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn table_name_parsing() {
        assert!(TableName::parse("a.b.c").is_none());
        assert!(TableName::parse(".b").is_none());
        assert_eq!(TableName::parse("s.t").unwrap().to_string(), "s.t");
    }
}
