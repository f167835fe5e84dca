//! Where partitions resume: the configured topics' partitions, and the stored next offsets
//! checked against what the log still has.

use std::sync::Arc;
use std::time::Duration;

use tidemark_model::TopicPartition;
use tidemark_ports::{Broker, BrokerError, StartOffset};

use crate::spec::TableSpec;
use crate::PipelineError;

/// Bound of one metadata round trip to the broker.
pub(crate) const METADATA_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs a blocking broker call off the actor and runtime threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BrokerError> + Send + 'static,
) -> Result<T, PipelineError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(PipelineError::BlockingTask)?
        .map_err(PipelineError::from)
}

/// Every partition of the configured topics, sorted.
pub(crate) async fn all_partitions(
    tables: &[TableSpec],
    broker: &Arc<dyn Broker>,
) -> Result<Vec<TopicPartition>, PipelineError> {
    let mut tps = Vec::new();
    for t in tables {
        let b = broker.clone();
        let topic = t.topic.clone();
        let ids = blocking(move || b.partitions(&topic, METADATA_TIMEOUT)).await?;
        tps.extend(
            ids.into_iter()
                .map(|p| TopicPartition::new(t.topic.as_str(), p)),
        );
    }
    tps.sort();
    Ok(tps)
}

/// Where a partition resumes, checked against the log.
#[derive(Clone)]
pub(crate) struct Resume {
    pub tp: TopicPartition,
    pub start: StartOffset,
    /// The next offset in the log's terms (stored offset, or the log start).
    pub position: i64,
    pub high: i64,
}

/// Turns stored next offsets into resume points, refusing offsets the log no longer has
/// (deleted by retention: never jump) or never had (topic recreated: never guess).
pub(crate) async fn resume_points(
    tps: &[TopicPartition],
    stored: Vec<Option<i64>>,
    broker: &Arc<dyn Broker>,
) -> Result<Vec<Resume>, PipelineError> {
    let mut resume = Vec::with_capacity(tps.len());
    for (tp, stored) in tps.iter().zip(stored) {
        let b = broker.clone();
        let t = tp.clone();
        let (low, high) = blocking(move || b.watermarks(&t, METADATA_TIMEOUT)).await?;
        tracing::debug!(%tp, low, high, ?stored, "resume point");
        let (start, position) = match stored {
            Some(next) if next < low => {
                return Err(BrokerError::OffsetOutOfRange {
                    tp: tp.clone(),
                    requested: next,
                    log_start: low,
                }
                .into())
            }
            Some(next) if next > high => {
                return Err(PipelineError::OffsetPastEnd {
                    tp: tp.clone(),
                    stored: next,
                    high,
                })
            }
            Some(next) => (StartOffset::Offset(next), next),
            None => {
                if low > 0 {
                    tracing::info!(%tp, log_start = low, "nothing applied yet; starting at the log start (older records were removed by retention before tidemark first ran)");
                }
                (StartOffset::Beginning, low)
            }
        };
        resume.push(Resume {
            tp: tp.clone(),
            start,
            position,
            high,
        });
    }
    Ok(resume)
}
