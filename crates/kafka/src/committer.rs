//! Advisory offset commits: applied offsets, coalesced per partition, committed about once a
//! second by a thread of their own as the consumer group's offsets (never read back).

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tidemark_model::TopicPartition;
use tidemark_ports::OffsetReporter;

/// How often noted offsets are committed: enough for lag tools, cheap for the broker.
const COMMIT_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
struct State {
    /// Highest applied next offset per partition not committed yet.
    noted: BTreeMap<TopicPartition, i64>,
    closing: bool,
    closed: bool,
}

/// The Kafka [`OffsetReporter`].
pub struct KafkaOffsetReporter {
    state: Arc<(Mutex<State>, Condvar)>,
}

impl KafkaOffsetReporter {
    pub(crate) fn start(consumer: BaseConsumer, group: String) -> std::io::Result<Self> {
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let shared = state.clone();
        std::thread::Builder::new()
            .name("tidemark-commit".into())
            .spawn(move || run(consumer, group, shared))?;
        Ok(Self { state })
    }
}

fn run(consumer: BaseConsumer, group: String, state: Arc<(Mutex<State>, Condvar)>) {
    let (lock, wake) = &*state;
    let mut failures = 0u32;
    loop {
        let (batch, closing) = {
            let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
            if !s.closing {
                s = wake
                    .wait_timeout(s, COMMIT_EVERY)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            (std::mem::take(&mut s.noted), s.closing)
        };
        if !batch.is_empty() {
            let mut list = TopicPartitionList::new();
            for (tp, next) in &batch {
                let _ = list.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(*next));
            }
            match consumer.commit(&list, CommitMode::Sync) {
                Ok(()) => failures = 0,
                Err(e) => {
                    failures += 1;
                    // Advisory: the next commit carries newer offsets anyway.
                    if failures == 1 || failures.is_multiple_of(60) {
                        tracing::warn!(%group, error = %e, failures, "advisory offset commit failed (lag tools show older offsets; nothing else is affected)");
                    }
                    let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
                    for (tp, next) in batch {
                        let slot = s.noted.entry(tp).or_insert(next);
                        *slot = (*slot).max(next);
                    }
                }
            }
        }
        if closing {
            let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
            s.closed = true;
            wake.notify_all();
            return;
        }
    }
}

impl OffsetReporter for KafkaOffsetReporter {
    fn applied(&self, tp: &TopicPartition, next_offset: i64) {
        let mut s = self.state.0.lock().unwrap_or_else(|p| p.into_inner());
        let slot = s.noted.entry(tp.clone()).or_insert(next_offset);
        *slot = (*slot).max(next_offset);
    }

    fn close(&self, timeout: Duration) {
        let (lock, wake) = &*self.state;
        let deadline = Instant::now() + timeout;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        s.closing = true;
        wake.notify_all();
        while !s.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!("advisory offset commit did not finish before shutdown");
                return;
            }
            s = wake
                .wait_timeout(s, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}
