use std::sync::Arc;
use std::time::Duration;

use tidemark_model::TopicPartition;

/// One Kafka record, copied out of the client's buffers.
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    /// `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    /// The record's Kafka timestamp (create or log-append time), ms since the epoch.
    pub timestamp_ms: Option<i64>,
    /// The record's headers, in order (empty for most records: no allocation then).
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl RawRecord {
    /// Bytes held by the record's payloads, for memory accounting.
    pub fn payload_len(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len)
            + self.value.as_ref().map_or(0, Vec::len)
            + headers_len(&self.headers)
    }
}

/// Bytes held by a record's headers, for memory accounting.
pub fn headers_len(headers: &[(String, Option<Vec<u8>>)]) -> usize {
    headers
        .iter()
        .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
        .sum()
}

/// What a reader reports.
#[derive(Debug, Clone)]
pub enum ReadEvent {
    Record(RawRecord),
    /// The reader's position in a partition moved past the last record it delivered (end of
    /// log, transaction markers): every offset below `next_offset` has been consumed.
    PartitionEof {
        tp: TopicPartition,
        next_offset: i64,
    },
}

/// Where to start reading a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOffset {
    /// The first offset still in the log (no progress stored yet).
    Beginning,
    /// Exactly this offset; if the log no longer has it, reading fails (never jumps).
    Offset(i64),
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("{tp}: offset {requested} is no longer in the log (records {requested}..{log_start} were deleted by retention before they were applied)")]
    OffsetOutOfRange {
        tp: TopicPartition,
        requested: i64,
        /// The first offset the log still has, when known.
        log_start: i64,
    },
    /// The broker reported an offset out of range without naming the partition, and no
    /// assigned partition could be shown to be below its log start.
    #[error("an offset is out of range in one of: {candidates} (the broker did not say which; log starts could not confirm it): {message}")]
    OffsetOutOfRangeUnknownPartition { candidates: String, message: String },
    #[error("topic {topic:?} does not exist")]
    UnknownTopic { topic: String },
    #[error("kafka client configuration: {0}")]
    Config(String),
    /// The broker refused the connection for a security reason (SASL authentication failed,
    /// the broker's certificate is not trusted): not retried.
    #[error("kafka: {context}: refused: {reason} (check kafka.properties: security.protocol, sasl.mechanisms, sasl.username and the password, ssl.ca.location)")]
    Refused { context: String, reason: String },
    #[error("kafka: {context}: {message}")]
    Client {
        context: String,
        /// librdkafka's error code (`RD_KAFKA_RESP_ERR_…` name), when the client gave one.
        code: Option<String>,
        message: String,
    },
}

/// A blocking reader over an assigned set of partitions. It runs on a thread of its own, never
/// on an actor's thread.
pub trait RecordReader: Send {
    /// Appends up to `max` events to `out`, waiting at most `timeout` for the first one.
    fn poll(
        &mut self,
        max: usize,
        timeout: Duration,
        out: &mut Vec<ReadEvent>,
    ) -> Result<(), BrokerError>;
}

/// A Kafka-protocol broker. Calls block (they are metadata round trips); call them off the
/// actor threads.
pub trait Broker: Send + Sync {
    /// The names of the broker's topics, sorted.
    fn topics(&self, timeout: Duration) -> Result<Vec<String>, BrokerError>;
    /// The partition ids of a topic.
    fn partitions(&self, topic: &str, timeout: Duration) -> Result<Vec<i32>, BrokerError>;
    /// The (log start, high-water mark) of a partition.
    fn watermarks(&self, tp: &TopicPartition, timeout: Duration)
        -> Result<(i64, i64), BrokerError>;
    /// Opens a reader over these partitions (manual assignment, never a consumer group).
    fn open_reader(
        &self,
        assignment: &[(TopicPartition, StartOffset)],
    ) -> Result<Box<dyn RecordReader>, BrokerError>;
    /// A reporter of applied offsets to the broker's consumer-group offsets (see
    /// [`OffsetReporter`]).
    fn offset_reporter(&self) -> Result<Arc<dyn OffsetReporter>, BrokerError>;
}

/// Reports applied offsets to Kafka as a consumer group's committed offsets, so the usual lag
/// tools (`kafka-consumer-groups`, Burrow, exporters) see tidemark's progress. Advisory only:
/// tidemark never reads them back; the warehouse is the source of truth. Commits lag the
/// warehouse by up to a second and may be lost in a crash, which only delays what lag tools show.
pub trait OffsetReporter: Send + Sync {
    /// Notes that every offset below `next_offset` of `tp` is applied. Never blocks.
    fn applied(&self, tp: &TopicPartition, next_offset: i64);
    /// Commits what is noted and stops, waiting at most `timeout` (blocking: call it off the
    /// actor and runtime threads).
    fn close(&self, timeout: Duration);
}
