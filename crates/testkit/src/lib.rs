//! Test support for tidemark: real services, owned by the test and killed by PID on drop.
//!
//! - [`LocalPostgres`]: a throwaway PostgreSQL (re-exported from `tidemark-localpg`).
//! - [`MockKafka`]: librdkafka's mock cluster in its own process (fault injection).
//! - [`Tansu`]: a real standalone Kafka-protocol broker (`tansu`, SQLite storage).
//! - [`produce`], [`high_watermarks`], [`consume_range`]: talk to either broker.
//! - [`table_as_text`], [`duplicate_keys`]: read warehouse tables for oracle comparisons.

mod error;
mod etcd;
mod mock_kafka;
mod process;
mod produce;
mod signal;
mod table;
mod tansu;
mod tls;

pub use error::TestkitError;
pub use etcd::Etcd;
pub use mock_kafka::{MockKafka, MOCK_KAFKA_BIN};
pub use process::{free_port, workspace_bin};
pub use produce::{
    consume_range, high_watermarks, partitions, produce, produce_with, ConsumedRecord,
    ProduceRecord,
};
pub use signal::signal;
pub use table::{
    connect, duplicate_keys, quote_ident, quote_table, table_as_text, REDSHIFT_ON_POSTGRES,
};
pub use tansu::{ScramUser, Tansu};
/// The random Debezium history generator and its independent oracle (also used by `demo`).
pub use tidemark_cdcgen as cdcgen;
pub use tidemark_localpg::{LocalPgError, LocalPostgres};
pub use tls::{Certificates, TlsProxy};
