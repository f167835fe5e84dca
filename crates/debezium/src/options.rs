//! How to read values that the record itself does not describe: the connector settings a
//! table's messages were produced with. They matter without the schema envelope (where the
//! target column's type says what a field is) and for bytes sent as text.

/// Debezium's `decimal.handling.mode`: how DECIMAL/NUMERIC values were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecimalHandling {
    /// Kafka Connect `Decimal`: base64 of the unscaled value's big-endian two's-complement
    /// bytes; the scale is in the schema, or (without one) the target column's declared scale.
    #[default]
    Precise,
    /// A decimal string (`"12.50"`).
    String,
    /// A JSON double. Read from its text, never through a float, so what was sent lands.
    Double,
}

/// Debezium's `time.precision.mode`: the unit of integer times and timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimePrecision {
    /// `adaptive`: milliseconds for a column of precision 0–3, microseconds for 4–6 (read off
    /// the target column's declared precision; 6 when it declares none).
    #[default]
    Adaptive,
    /// `adaptive_time_microseconds`: TIME always in microseconds, the rest adaptive.
    Micro,
    /// `connect`: Kafka Connect's own types, milliseconds throughout.
    Connect,
}

/// Debezium's `binary.handling.mode`: how bytes were written as JSON text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BinaryHandling {
    /// Standard base64 (Kafka Connect's JSON converter for `bytes`).
    #[default]
    Base64,
    /// URL-safe base64 (`base64-url-safe`).
    #[serde(rename = "base64-url-safe")]
    Base64UrlSafe,
    /// Hexadecimal.
    Hex,
}

/// The connector settings that say how to read a table's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecodeOptions {
    /// See [`DecimalHandling`].
    pub decimal_handling: DecimalHandling,
    /// See [`TimePrecision`].
    pub time_precision: TimePrecision,
    /// See [`BinaryHandling`].
    pub binary_handling: BinaryHandling,
    /// The limits of the warehouse's columns every value is checked against (Redshift's
    /// byte-counted VARCHARs, 38-digit decimals); a value that does not fit is an error
    /// naming its column, never cut to fit.
    pub capacity: tidemark_model::Capacity,
}
