use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::Offset;
use tidemark_model::TopicPartition;
use tidemark_ports::{BrokerError, RawRecord, ReadEvent, RecordReader, StartOffset};

use crate::client_error;

/// A blocking reader over manually assigned partitions.
pub struct KafkaReader {
    consumer: BaseConsumer,
    /// Interned topic names, so records share one allocation per topic.
    topics: HashMap<String, Arc<str>>,
    /// The next offset expected per partition (`None` = from the beginning): names the
    /// offset that went missing when the broker says "out of range".
    next: HashMap<TopicPartition, Option<i64>>,
}

impl KafkaReader {
    pub(crate) fn new(
        consumer: BaseConsumer,
        assignment: &[(TopicPartition, StartOffset)],
    ) -> Self {
        let topics = assignment
            .iter()
            .map(|(tp, _)| (tp.topic.to_string(), tp.topic.clone()))
            .collect();
        let next = assignment
            .iter()
            .map(|(tp, start)| {
                let o = match start {
                    StartOffset::Beginning => None,
                    StartOffset::Offset(o) => Some(*o),
                };
                (tp.clone(), o)
            })
            .collect();
        Self {
            consumer,
            topics,
            next,
        }
    }

    /// When the reader is idle, reports partitions whose position moved past the last record
    /// delivered (transaction markers, or records compacted away): everything below the
    /// position has been delivered, so progress up to it may be committed.
    fn idle_progress(&mut self, out: &mut Vec<ReadEvent>) -> Result<(), BrokerError> {
        let positions = self
            .consumer
            .position()
            .map_err(|e| client_error("reading positions", e))?;
        for elem in positions.elements() {
            let Offset::Offset(position) = elem.offset() else {
                continue;
            };
            let tp = TopicPartition::new(intern(&mut self.topics, elem.topic()), elem.partition());
            let delivered = self.next.get(&tp).copied().flatten();
            if delivered.is_some_and(|d| position > d) {
                self.next.insert(tp.clone(), Some(position));
                out.push(ReadEvent::PartitionEof {
                    tp,
                    next_offset: position,
                });
            }
        }
        Ok(())
    }

    /// Finds the partition whose offset left the log, comparing each expected offset with
    /// the log start.
    fn out_of_range(&self, message: String) -> BrokerError {
        for (tp, next) in &self.next {
            let Some(requested) = next else { continue };
            if let Ok((low, _high)) =
                self.consumer
                    .fetch_watermarks(&tp.topic, tp.partition, Duration::from_secs(10))
            {
                if *requested < low {
                    return BrokerError::OffsetOutOfRange {
                        tp: tp.clone(),
                        requested: *requested,
                        log_start: low,
                    };
                }
            }
        }
        // The broker's error does not say which partition it was about, and no expected offset
        // is below its log start (or a log start could not be read): name every candidate
        // rather than guess one.
        let candidates: Vec<String> = self
            .next
            .iter()
            .map(|(tp, next)| match next {
                Some(o) => format!("{tp} at {o}"),
                None => format!("{tp} at its start"),
            })
            .collect();
        BrokerError::OffsetOutOfRangeUnknownPartition {
            candidates: candidates.join(", "),
            message,
        }
    }
}

impl RecordReader for KafkaReader {
    fn poll(
        &mut self,
        max: usize,
        timeout: Duration,
        out: &mut Vec<ReadEvent>,
    ) -> Result<(), BrokerError> {
        let mut wait = timeout;
        let mut taken = 0;
        while taken < max {
            let Some(result) = self.consumer.poll(wait) else {
                break;
            };
            wait = Duration::ZERO;
            match result {
                Ok(msg) => {
                    let topic = intern(&mut self.topics, msg.topic());
                    let record = RawRecord {
                        topic,
                        partition: msg.partition(),
                        offset: msg.offset(),
                        key: msg.key().map(<[u8]>::to_vec),
                        value: msg.payload().map(<[u8]>::to_vec),
                        timestamp_ms: msg.timestamp().to_millis(),
                        headers: msg.headers().map_or_else(Vec::new, |headers| {
                            headers
                                .iter()
                                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                                .collect()
                        }),
                    };
                    drop(msg);
                    let tp = TopicPartition::new(record.topic.clone(), record.partition);
                    self.next.insert(tp, Some(record.offset + 1));
                    out.push(ReadEvent::Record(record));
                    taken += 1;
                }
                Err(KafkaError::PartitionEOF(_)) => {}
                Err(KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset))
                | Err(KafkaError::MessageConsumption(RDKafkaErrorCode::OffsetOutOfRange)) => {
                    return Err(self.out_of_range("offset out of range".into()));
                }
                Err(e) => {
                    if let Some((code, reason)) = self.consumer.client().fatal_error() {
                        return Err(BrokerError::Client {
                            context: "consumer fatal error".into(),
                            code: Some(format!("{code:?}")),
                            message: format!("{code}: {reason}"),
                        });
                    }
                    // Transport errors and the like: librdkafka retries by itself.
                    tracing::warn!(error = %e, "kafka consumer error (retrying)");
                }
            }
        }
        if taken == 0 {
            self.idle_progress(out)?;
        }
        Ok(())
    }
}

fn intern(topics: &mut HashMap<String, Arc<str>>, name: &str) -> Arc<str> {
    if let Some(t) = topics.get(name) {
        return t.clone();
    }
    let t: Arc<str> = Arc::from(name);
    topics.insert(name.to_string(), t.clone());
    t
}
