#![warn(missing_docs)]
//! Decodes Debezium change events, as written by Kafka Connect's JSON converter (with the
//! `{"schema":…,"payload":…}` envelope or without it), into keyed row changes for one target
//! table. Pure: no IO, no async.
//!
//! - [`TableDecoder`] is the hot path: one pass over each record value that skips the schema
//!   and the `source` block and writes the row images straight into positional
//!   [`tidemark_model::Value`] vectors of the table's [`tidemark_model::TableLayout`].
//! - [`parse_event`] gives a layout-free [`Event`] (op, source position, images as JSON maps)
//!   for tools and tests.
//!
//! JSON → value: null → `Null`, boolean → `Bool`, an integer that fits i64 → `Int` (an
//! unsigned one beyond → [`DecodeError::IntegerOutOfRange`]), other numbers → `Float`,
//! string → `Text` (bytes arrive base64-encoded and stay text here), object or array →
//! `Text` holding its compact JSON. An image field that no layout column takes is ignored; a
//! layout column whose field the image lacks is `Null`.

mod conv;
mod convert;
mod decoder;
mod error;
mod event;
mod evolve;
mod json_text;
mod key;
mod options;
mod wire;

pub use decoder::{Decoded, KeySource, TableDecoder};
pub use error::DecodeError;
pub use event::{parse_event, Event, Op, SourceInfo};
pub use options::{BinaryHandling, DecimalHandling, DecodeOptions, TimePrecision};
pub use wire::Control;
