//! Producing records and reading partitions back, against the mock cluster or tansu.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::error::TestkitError;

/// Most delivery reports awaited at once: bounds memory while keeping the pipe full.
const MAX_OUTSTANDING: usize = 10_000;
/// Timeout of one metadata / watermark request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One record to produce to an explicit partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceRecord {
    /// Topic to write to.
    pub topic: String,
    /// Partition to write to (explicit: tests decide the layout, not a partitioner).
    pub partition: i32,
    /// Message key (`None`: no key).
    pub key: Option<Vec<u8>>,
    /// Message value (`None`: a tombstone).
    pub value: Option<Vec<u8>>,
    /// Message headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// One record read back from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// Its offset in the partition.
    pub offset: i64,
    /// Message key.
    pub key: Option<Vec<u8>>,
    /// Message value (`None`: a tombstone).
    pub value: Option<Vec<u8>>,
}

/// The producer configuration: ordered per partition on both brokers.
///
/// `max.in.flight.requests.per.connection=1` keeps per-partition order through retries
/// without idempotence (which needs broker support for producer ids).
fn producer_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "false")
        .set("max.in.flight.requests.per.connection", "1")
        .set("linger.ms", "5")
        .set("compression.type", "none")
        .set("batch.size", "1000000")
        // Tests produce records of up to 10 MB (a record too big to be a row).
        .set("message.max.bytes", "16000000")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "100000")
        .set("message.timeout.ms", "120000")
        .set("log_level", "3");
    config
}

/// Produces `records` in order (each to its explicit partition) and waits for every delivery.
///
/// Records are pulled from the iterator as the producer accepts them: at most 10,000
/// deliveries are outstanding, so any number of records can be produced with flat memory.
/// Returns the number of records delivered; the first failed delivery is returned as an error.
pub async fn produce(
    bootstrap: &str,
    records: impl IntoIterator<Item = ProduceRecord>,
) -> Result<u64, TestkitError> {
    produce_with(bootstrap, &[], records).await
}

/// [`produce`] with more client properties (a secured broker's security settings).
pub async fn produce_with(
    bootstrap: &str,
    client: &[(String, String)],
    records: impl IntoIterator<Item = ProduceRecord>,
) -> Result<u64, TestkitError> {
    let mut config = producer_config(bootstrap);
    for (key, value) in client {
        config.set(key, value);
    }
    let producer: FutureProducer = config
        .create()
        .map_err(|e| TestkitError::kafka(format!("creating a producer for {bootstrap}"), e))?;
    // (delivery, topic, partition) of records sent but not yet acknowledged, oldest first.
    let mut pending: VecDeque<(DeliveryFuture, Arc<str>, i32)> = VecDeque::new();
    let mut topic: Arc<str> = Arc::from("");
    let mut delivered = 0u64;
    for rec in records {
        if *topic != *rec.topic {
            topic = Arc::from(rec.topic.as_str());
        }
        let mut future_record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&rec.topic).partition(rec.partition);
        if let Some(key) = rec.key.as_deref() {
            future_record = future_record.key(key);
        }
        if let Some(value) = rec.value.as_deref() {
            future_record = future_record.payload(value);
        }
        if !rec.headers.is_empty() {
            let mut headers = rdkafka::message::OwnedHeaders::new();
            for (key, value) in &rec.headers {
                headers = headers.insert(rdkafka::message::Header {
                    key,
                    value: Some(value),
                });
            }
            future_record = future_record.headers(headers);
        }
        loop {
            match producer.send_result(future_record) {
                Ok(delivery) => {
                    pending.push_back((delivery, topic.clone(), rec.partition));
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    future_record = back;
                    match pending.pop_front() {
                        Some(oldest) => delivered += await_delivery(oldest).await?,
                        None => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
                Err((e, _)) => {
                    return Err(TestkitError::Delivery {
                        topic: rec.topic.clone(),
                        partition: rec.partition,
                        source: e,
                    })
                }
            }
        }
        while pending.len() >= MAX_OUTSTANDING {
            if let Some(oldest) = pending.pop_front() {
                delivered += await_delivery(oldest).await?;
            }
        }
    }
    while let Some(oldest) = pending.pop_front() {
        delivered += await_delivery(oldest).await?;
    }
    Ok(delivered)
}

async fn await_delivery(
    (delivery, topic, partition): (DeliveryFuture, Arc<str>, i32),
) -> Result<u64, TestkitError> {
    match delivery.await {
        Ok(Ok(_)) => Ok(1),
        Ok(Err((e, _))) => Err(TestkitError::Delivery {
            topic: topic.to_string(),
            partition,
            source: e,
        }),
        Err(_) => Err(TestkitError::DeliveryCanceled {
            topic: topic.to_string(),
            partition,
        }),
    }
}

fn base_consumer(bootstrap: &str) -> Result<BaseConsumer, TestkitError> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "tidemark-testkit-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest")
        .set("log_level", "3")
        .create()
        .map_err(|e| TestkitError::kafka(format!("creating a consumer for {bootstrap}"), e))
}

/// Partitions of a topic from metadata, sorted.
pub fn partitions(bootstrap: &str, topic: &str) -> Result<Vec<i32>, TestkitError> {
    let consumer = base_consumer(bootstrap)?;
    partitions_with(&consumer, topic)
}

fn partitions_with(consumer: &BaseConsumer, topic: &str) -> Result<Vec<i32>, TestkitError> {
    let md = consumer
        .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
        .map_err(|e| TestkitError::kafka(format!("metadata of topic {topic}"), e))?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Err(TestkitError::TopicMismatch {
            topic: topic.to_string(),
            expected: -1,
            found: "missing".to_string(),
        });
    };
    if let Some(e) = t.error() {
        return Err(TestkitError::kafka(
            format!("metadata of topic {topic}"),
            KafkaError::MetadataFetch(e.into()),
        ));
    }
    let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    Ok(ids)
}

/// `(partition, low, high)` watermarks of every partition of `topic`, sorted by partition.
pub fn high_watermarks(bootstrap: &str, topic: &str) -> Result<Vec<(i32, i64, i64)>, TestkitError> {
    let consumer = base_consumer(bootstrap)?;
    let mut out = Vec::new();
    for p in partitions_with(&consumer, topic)? {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, REQUEST_TIMEOUT)
            .map_err(|e| TestkitError::kafka(format!("watermarks of {topic}[{p}]"), e))?;
        out.push((p, low, high));
    }
    Ok(out)
}

/// Reads `topic[partition]` from offset `from` (inclusive) to `to` (exclusive) with a manually
/// assigned consumer; fails if the records are not all there within `timeout`.
pub fn consume_range(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    from: i64,
    to: i64,
    timeout: Duration,
) -> Result<Vec<ConsumedRecord>, TestkitError> {
    let consumer = base_consumer(bootstrap)?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(from))
        .map_err(|e| TestkitError::kafka(format!("assigning {topic}[{partition}]"), e))?;
    consumer
        .assign(&tpl)
        .map_err(|e| TestkitError::kafka(format!("assigning {topic}[{partition}]"), e))?;
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut next = from;
    while next < to {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(TestkitError::kafka(
                format!("reading {topic}[{partition}] {from}..{to}: stuck at offset {next}"),
                KafkaError::NoMessageReceived,
            ));
        }
        let Some(msg) = consumer.poll(remaining.min(Duration::from_millis(500))) else {
            continue;
        };
        let msg =
            msg.map_err(|e| TestkitError::kafka(format!("reading {topic}[{partition}]"), e))?;
        next = msg.offset() + 1;
        if msg.offset() >= to {
            break;
        }
        out.push(ConsumedRecord {
            offset: msg.offset(),
            key: msg.key().map(<[u8]>::to_vec),
            value: msg.payload().map(<[u8]>::to_vec),
        });
    }
    Ok(out)
}
