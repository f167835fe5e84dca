//! Deterministic random CDC histories for tidemark's tests, demo and benchmarks.
//!
//! [`Generator`] streams Kafka records exactly as the Debezium MySQL connector (2.5, JSON
//! converter, schema or bare envelopes) would produce them for a random history of
//! snapshot reads, inserts, updates, deletes, tombstones and primary-key changes, with
//! hostile strings and hostile timestamps (ties, clock skew). Besides plain integer, double,
//! boolean, string and bytes columns, tables may hold Debezium logical types: Connect
//! `Decimal` (MySQL `DECIMAL(p,s)`), `MicroTimestamp` (`DATETIME(6)`), `ZonedTimestamp`
//! (`TIMESTAMP(6)`) and `Date` (`DATE`), with edge values (zero, negatives, full width,
//! pre-1970, year 9999). Its [`Oracle`] is the state every target table must have once the
//! records emitted so far are applied with latest-wins semantics, rendered as PostgreSQL's
//! `::text` would print the target columns (in a session with `TimeZone=UTC` and
//! `DateStyle=ISO` when timestamps or dates are involved).
//!
//! Ordering contract: a key is always routed to the same partition
//! ([`partition_for_key`]), and the records of one partition are in oracle order, so
//! applying each partition in offset order (partitions in any interleaving) yields the
//! oracle. A single-event primary-key change (`u` with different before/after keys) is sent
//! with the NEW key as message key, and the generator always picks the new key on the old
//! key's partition; applying it means deleting the before key and upserting the after key.
//!
//! Pure: no IO, no async; memory is O(live keys).

#![warn(missing_docs)]

mod config;
mod generator;
mod oracle;
mod render;
mod table;
mod value;

pub use config::{Envelope, GenConfig, GenError};
pub use generator::{Generator, Record};
pub use oracle::{Oracle, OracleStats};
pub use table::{quote_ident, ColumnDef, ColumnKind, TableDef, MAX_DECIMAL_PRECISION};
pub use value::partition_for_key;

/// The Debezium version the rendered records claim in `source.version`.
pub const DEBEZIUM_VERSION: &str = render::DEBEZIUM_VERSION;
