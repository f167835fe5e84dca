//! The rdkafka adapter of [`tidemark_ports::Broker`].
//!
//! Partitions are always assigned by hand (`assign`), never through a consumer group:
//! ownership is tidemark's business (standalone or etcd), and the next offset comes from the
//! warehouse. `auto.offset.reset=error` makes a missing offset an error instead of a jump.

mod committer;
mod reader;
mod watch;

pub use committer::KafkaOffsetReporter;
pub use reader::KafkaReader;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, DefaultConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use tidemark_model::TopicPartition;
use tidemark_ports::{Broker, BrokerError, OffsetReporter, RecordReader, StartOffset};

/// Properties tidemark relies on; applied after the user's so they cannot be overridden.
const FIXED: &[(&str, &str)] = &[
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("auto.offset.reset", "error"),
    ("enable.partition.eof", "false"),
];

/// Defaults that keep librdkafka's prefetch bounded; the user may override them.
const DEFAULTS: &[(&str, &str)] = &[
    ("queued.max.messages.kbytes", "8192"),
    ("socket.keepalive.enable", "true"),
];

/// `fetch.wait.max.ms` unless the user sets it: how long a broker may hold a fetch that found
/// no new records. Kafka answers as soon as a record is there, so on Kafka this only sets how
/// often an idle partition's broker is asked; brokers that hold every fetch for the whole
/// wait (tansu) add up to this much to every change's latency. Measured on tansu at 1,000
/// inserts/s (`cargo bench -p tidemark-e2e --bench freshness`): 100 ms gave a change visible
/// p99 196 ms after a plain consumer saw it, 20 ms gave 50 ms; on Kafka 20 ms costs at most 50
/// empty fetches a second per broker an idle replica fetches from.
pub const FETCH_WAIT_MAX_MS: u64 = 20;

/// A Kafka-protocol cluster reached through librdkafka.
pub struct KafkaBroker {
    /// Client properties for every consumer we create.
    properties: BTreeMap<String, String>,
    /// A consumer used only for metadata and watermark queries, created on first use.
    metadata: Mutex<Option<watch::MetadataClient>>,
}

impl KafkaBroker {
    /// Builds the client configuration (no network yet).
    pub fn new(
        brokers: &str,
        user_properties: &BTreeMap<String, String>,
        pipeline: &str,
    ) -> Result<Self, BrokerError> {
        let mut properties: BTreeMap<String, String> = DEFAULTS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([(
                "fetch.wait.max.ms".to_string(),
                FETCH_WAIT_MAX_MS.to_string(),
            )])
            .collect();
        properties.extend(user_properties.clone());
        properties.insert("bootstrap.servers".into(), brokers.to_string());
        // Only used for advisory offset commits (lag tools, `kafka.commit_offsets`); never
        // joins a group.
        properties
            .entry("group.id".into())
            .or_insert_with(|| format!("tidemark-{pipeline}"));
        for (k, v) in FIXED {
            properties.insert(k.to_string(), v.to_string());
        }
        let broker = Self {
            properties,
            metadata: Mutex::new(None),
        };
        // Fail early on invalid properties.
        broker.consumer("validating kafka properties")?;
        Ok(broker)
    }

    fn consumer(&self, context: &str) -> Result<BaseConsumer, BrokerError> {
        self.consumer_with(context, DefaultConsumerContext)
    }

    fn consumer_with<C: ConsumerContext + 'static>(
        &self,
        context: &str,
        client_context: C,
    ) -> Result<BaseConsumer<C>, BrokerError> {
        let mut config = ClientConfig::new();
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        config
            .create_with_context(client_context)
            .map_err(|e| match e {
                KafkaError::ClientConfig(..) => BrokerError::Config(e.to_string()),
                other => client_error(context, other),
            })
    }

    fn with_metadata<T>(
        &self,
        context: &str,
        f: impl FnOnce(&watch::MetadataClient) -> Result<T, BrokerError>,
    ) -> Result<T, BrokerError> {
        let mut guard = self.metadata.lock().map_err(|_| BrokerError::Client {
            context: context.into(),
            code: None,
            message: "metadata client lock poisoned".into(),
        })?;
        if guard.is_none() {
            *guard = Some(self.consumer_with(context, watch::SecurityWatch::default())?);
        }
        match guard.as_ref() {
            Some(c) => f(c).map_err(|e| watch::classify(c, e)),
            None => Err(BrokerError::Client {
                context: context.into(),
                code: None,
                message: "metadata client unavailable".into(),
            }),
        }
    }
}

pub(crate) fn client_error(context: &str, e: KafkaError) -> BrokerError {
    BrokerError::Client {
        context: context.to_string(),
        code: e.rdkafka_error_code().map(|c| format!("{c:?}")),
        message: e.to_string(),
    }
}

impl Broker for KafkaBroker {
    fn topics(&self, timeout: Duration) -> Result<Vec<String>, BrokerError> {
        self.with_metadata("listing topics", |c| {
            let md = c
                .fetch_metadata(None, timeout)
                .map_err(|e| client_error("listing topics", e))?;
            let mut names: Vec<String> = md
                .topics()
                .iter()
                .filter(|t| t.error().is_none())
                .map(|t| t.name().to_string())
                .collect();
            names.sort_unstable();
            Ok(names)
        })
    }

    fn partitions(&self, topic: &str, timeout: Duration) -> Result<Vec<i32>, BrokerError> {
        self.with_metadata("fetching topic metadata", |c| {
            let md = c
                .fetch_metadata(Some(topic), timeout)
                .map_err(|e| client_error(&format!("fetching metadata of {topic:?}"), e))?;
            let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
                return Err(BrokerError::UnknownTopic {
                    topic: topic.to_string(),
                });
            };
            if let Some(err) = t.error() {
                let code = RDKafkaErrorCode::from(err);
                if code == RDKafkaErrorCode::UnknownTopicOrPartition {
                    return Err(BrokerError::UnknownTopic {
                        topic: topic.to_string(),
                    });
                }
                return Err(BrokerError::Client {
                    context: format!("metadata of {topic:?}"),
                    code: Some(format!("{code:?}")),
                    message: code.to_string(),
                });
            }
            let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
            ids.sort_unstable();
            if ids.is_empty() {
                return Err(BrokerError::UnknownTopic {
                    topic: topic.to_string(),
                });
            }
            Ok(ids)
        })
    }

    fn watermarks(
        &self,
        tp: &TopicPartition,
        timeout: Duration,
    ) -> Result<(i64, i64), BrokerError> {
        self.with_metadata("fetching watermarks", |c| {
            c.fetch_watermarks(&tp.topic, tp.partition, timeout)
                .map_err(|e| client_error(&format!("fetching watermarks of {tp}"), e))
        })
    }

    fn open_reader(
        &self,
        assignment: &[(TopicPartition, StartOffset)],
    ) -> Result<Box<dyn RecordReader>, BrokerError> {
        let consumer = self.consumer("creating reader")?;
        let mut list = TopicPartitionList::new();
        for (tp, start) in assignment {
            let offset = match start {
                StartOffset::Beginning => Offset::Beginning,
                StartOffset::Offset(o) => Offset::Offset(*o),
            };
            list.add_partition_offset(&tp.topic, tp.partition, offset)
                .map_err(|e| client_error(&format!("assigning {tp}"), e))?;
        }
        consumer
            .assign(&list)
            .map_err(|e| client_error("assigning partitions", e))?;
        Ok(Box::new(KafkaReader::new(consumer, assignment)))
    }

    fn offset_reporter(&self) -> Result<Arc<dyn OffsetReporter>, BrokerError> {
        let consumer = self.consumer("creating the offset committer")?;
        let group = self.properties.get("group.id").cloned().unwrap_or_default();
        let reporter =
            KafkaOffsetReporter::start(consumer, group).map_err(|e| BrokerError::Client {
                context: "starting the offset commit thread".into(),
                code: None,
                message: e.to_string(),
            })?;
        Ok(Arc::new(reporter))
    }
}
