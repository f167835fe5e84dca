//! The errors of decoding one Kafka record. They say what is wrong with the record; the caller
//! adds where the record came from (topic, partition, offset).

use tidemark_model::TableName;

use crate::Op;

/// Why a Kafka record could not be decoded into row changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The record's key or value is not valid JSON, or has the wrong JSON type somewhere.
    #[error("the record {part} is not a valid Debezium JSON document: {reason}")]
    InvalidJson {
        /// `"key"` or `"value"`.
        part: &'static str,
        /// What the JSON parser (or the shape check) found, with its position.
        reason: String,
    },
    /// The record's key or value is JSON but not a JSON object (nor null).
    #[error("the record {part} must be a JSON object (or null), found {found}")]
    NotAnObject {
        /// `"key"` or `"value"`.
        part: &'static str,
        /// The JSON type that was found, in words (`"a string"`, `"an array"`, ...).
        found: &'static str,
    },
    /// A value does not fit its column in the warehouse (Redshift: a string longer in bytes
    /// than its VARCHAR, a decimal beyond 38 digits); it is never cut to fit.
    #[error("column {column:?}: {reason}")]
    DoesNotFit {
        /// The target column.
        column: String,
        /// What does not fit, and what to do.
        reason: String,
    },
    /// The change event has no `op` field, or it is null.
    #[error(
        "the record value has no \"op\" field (or it is null): not a Debezium change event \
         (with the Kafka Connect envelope, \"op\" is inside \"payload\")"
    )]
    MissingOp,
    /// The change event's `op` is not one that tidemark applies.
    #[error(
        "unsupported Debezium op {0:?}: the known ops are \"c\" (create), \"u\" (update), \
         \"d\" (delete), \"r\" (snapshot read), \"t\" (truncate) and \"m\" (message)"
    )]
    UnsupportedOp(String),
    /// The change event lacks the row image its op needs (`after` for c/r/u).
    #[error("{op} event has no {image:?} row image (it is null or absent)")]
    MissingImage {
        /// The event's op.
        op: Op,
        /// `"before"` or `"after"`.
        image: &'static str,
    },
    /// The row's key cannot be determined from the record.
    #[error("cannot determine the row key: {reason}")]
    MissingKey {
        /// Which key source was missing what.
        reason: String,
    },
    /// With `auto_evolve`, the record's schema changed in a way tidemark does not apply by
    /// itself (a type that is not a widening, a field that is gone).
    #[error("table {table}: the source's schema changed: {change}; to go on, {fix}")]
    SchemaChange {
        /// The target table.
        table: TableName,
        /// What changed, naming the field and column.
        change: String,
        /// What the operator can do.
        fix: &'static str,
    },
    /// With `auto_create`, the target does not exist yet and the record has no schema to make
    /// it from.
    #[error("table {table} does not exist yet and is to be created from the records' schema (auto_create), but this record has none: enable the schemas of Kafka Connect's JSON converter (value.converter.schemas.enable=true) or create the table")]
    NoSchemaToCreate {
        /// The target table.
        table: TableName,
    },
    /// A key column's value is NULL.
    #[error("key field {field:?} is NULL in the {from}")]
    NullKeyValue {
        /// The source (Debezium) field name of the key column.
        field: String,
        /// Where the NULL was read: `"message key"`, `"after image"` or `"before image"`.
        from: &'static str,
    },
    /// A message key field maps to no column of the target table.
    #[error(
        "message key field {field:?} maps to no column of table {table} (the column is missing, \
         unmanaged, or renamed without a rename entry for this field)"
    )]
    UnknownKeyField {
        /// The key field name as found in the message key.
        field: String,
        /// The target table.
        table: TableName,
    },
    /// A message key's field set differs from the one the key columns were resolved from.
    #[error(
        "message key fields changed: the key columns were resolved from fields [{}] but this key \
         has fields [{}]",
        .expected.join(", "),
        .found.join(", ")
    )]
    KeyFieldsChanged {
        /// The key fields resolved from the first record, in key column order.
        expected: Vec<String>,
        /// The fields of this record's message key, in message order.
        found: Vec<String>,
    },
    /// A configured key field (`KeySource::Fields`) maps to no column of the target table.
    #[error("configured key field {field:?} maps to no column of table {table}")]
    UnknownConfiguredKeyField {
        /// The configured source field name.
        field: String,
        /// The target table.
        table: TableName,
    },
    /// The configured key fields (`KeySource::Fields`) are empty or name one column twice.
    #[error("configured key fields for table {table} are invalid: {reason}")]
    InvalidKeyConfig {
        /// The target table.
        table: TableName,
        /// What is wrong with them.
        reason: String,
    },
    /// An integer does not fit the 64-bit signed range of a column value.
    #[error("field {field:?}: integer {value} is out of the 64-bit signed integer range")]
    IntegerOutOfRange {
        /// The source field name.
        field: String,
        /// The integer as found.
        value: u64,
    },
    /// A field's value cannot be read as what its schema (or target column) says it is.
    #[error("field {field:?}: {reason}")]
    InvalidValue {
        /// The source field name.
        field: String,
        /// What was found and what was expected.
        reason: String,
    },
}
