//! The boundaries of tidemark's core: what it needs from a Kafka-protocol broker ([`Broker`],
//! [`RecordReader`]) and from a warehouse ([`Warehouse`], [`TableWriter`]). The actors in
//! `tidemark-pipeline` depend only on these traits; `tidemark-kafka` and `tidemark-warehouse`
//! implement them; the `tidemark` binary wires the real ones.

mod broker;
mod coordinator;
mod warehouse;

pub use broker::{
    Broker, BrokerError, OffsetReporter, RawRecord, ReadEvent, RecordReader, StartOffset,
};
pub use coordinator::{ClusterView, CoordError, Coordinator, Member, MemberInfo, Membership};
pub use warehouse::{
    DeadLetter, LandedRecord, Landing, MergeRequest, TableWriter, Warehouse, WarehouseError,
};
