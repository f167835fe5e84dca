use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use tidemark_debezium::{KeySource, TableDecoder};
use tidemark_model::{TableLayout, TableName, TopicPartition};
use tidemark_ports::{Broker, BrokerError, StartOffset, Warehouse};
use tokio::sync::mpsc;

use crate::assign::assign_round_robin;
use crate::budget::MemoryBudget;
use crate::fetcher::spawn_fetcher;
use crate::merger::TableMerger;
use crate::messages::{Drain, SupervisorEvent};
use crate::owner::{PartitionOwner, Route};
use crate::summary::RunSummary;
use crate::PipelineError;

const METADATA_TIMEOUT: Duration = Duration::from_secs(30);

/// `run` keeps going until told to stop; `refresh` stops at the high-water marks seen at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Run,
    Refresh,
}

/// Micro-batch and memory limits (from `[batch]`).
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub max_rows: usize,
    pub max_bytes: usize,
    pub linger: Duration,
    pub max_in_flight: usize,
    pub max_in_flight_bytes: u64,
}

/// One topic → table route (from `[[tables]]`).
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub topic: String,
    pub target: TableName,
    pub renames: BTreeMap<String, String>,
    pub unmanaged: Vec<String>,
    pub key: KeySource,
}

#[derive(Debug, Clone)]
pub struct PipelineSpec {
    pub tables: Vec<TableSpec>,
    pub slices: usize,
    pub limits: BatchLimits,
    pub mode: Mode,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BrokerError> + Send + 'static,
) -> Result<T, PipelineError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PipelineError::Internal(format!("blocking task failed: {e}")))?
        .map_err(PipelineError::from)
}

/// Where each partition resumes, checked against the log.
struct Resume {
    tp: TopicPartition,
    start: StartOffset,
    /// The next offset in the log's terms (stored offset, or the log start).
    position: i64,
    high: i64,
}

/// Runs the pipeline of one (standalone) replica until `shutdown` resolves (`Run`) or every
/// partition reached its start-time high-water mark (`Refresh`). Must be called inside an
/// actix `System`. `summary` is updated after every commit, so callers can show progress.
pub async fn run_pipeline(
    spec: PipelineSpec,
    broker: Arc<dyn Broker>,
    warehouse: Arc<dyn Warehouse>,
    shutdown: impl Future<Output = ()>,
    summary: Arc<Mutex<RunSummary>>,
) -> Result<RunSummary, PipelineError> {
    warehouse.prepare().await?;

    // Layouts of the target tables; key settings checked before anything is read.
    let mut layouts: HashMap<String, Arc<TableLayout>> = HashMap::new();
    for t in &spec.tables {
        let columns = warehouse.describe(&t.target).await?;
        let layout = Arc::new(TableLayout::from_target(
            t.target.clone(),
            columns,
            &t.renames,
            &t.unmanaged,
        )?);
        TableDecoder::new(layout.clone(), t.key.clone()).map_err(|source| {
            PipelineError::KeySetup {
                topic: t.topic.clone(),
                source: Box::new(source),
            }
        })?;
        layouts.insert(t.topic.clone(), layout);
    }

    // Partitions, then claim them (raising the stored epoch) before reading where to resume.
    let mut tps = Vec::new();
    for t in &spec.tables {
        let b = broker.clone();
        let topic = t.topic.clone();
        let ids = blocking(move || b.partitions(&topic, METADATA_TIMEOUT)).await?;
        tps.extend(
            ids.into_iter()
                .map(|p| TopicPartition::new(t.topic.as_str(), p)),
        );
    }
    let epoch = warehouse.next_epoch().await?;
    let stored = warehouse.claim(&tps, epoch).await?;
    tracing::info!(%epoch, partitions = tps.len(), "claimed partitions");

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
                return Err(PipelineError::Internal(format!(
                    "{tp}: the stored next offset {next} is past the end of the log ({high}); \
                     was the topic deleted and recreated? Refusing to guess where to resume"
                )))
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

    let (events_tx, mut events_rx) = mpsc::unbounded_channel();
    let stopping = Arc::new(AtomicBool::new(false));
    let budget = MemoryBudget::new(spec.limits.max_in_flight_bytes);
    let mut arbiters = Vec::new();

    // One merger per table, each on an arbiter of its own.
    let mut mergers: HashMap<String, Addr<TableMerger>> = HashMap::new();
    for t in &spec.tables {
        let layout = layouts[&t.topic].clone();
        let writer = warehouse.writer(layout).await?;
        let arbiter = Arbiter::new();
        let merger = TableMerger {
            table: t.target.clone(),
            topic: t.topic.clone(),
            writer: Some(writer),
            poisoned: false,
            stopping: stopping.clone(),
            summary: summary.clone(),
            supervisor: events_tx.clone(),
        };
        let addr = TableMerger::start_in_arbiter(&arbiter.handle(), move |_| merger);
        mergers.insert(t.topic.clone(), addr);
        arbiters.push(arbiter);
    }

    // One owner per non-empty slice, each with a fetch thread and an arbiter of its own.
    let by_tp: HashMap<TopicPartition, &Resume> =
        resume.iter().map(|r| (r.tp.clone(), r)).collect();
    let mut owners = Vec::new();
    let mut fetch_threads = Vec::new();
    let mut stop_flags = Vec::new();
    for (slice, slice_tps) in assign_round_robin(tps.clone(), spec.slices)
        .into_iter()
        .enumerate()
    {
        if slice_tps.is_empty() {
            continue;
        }
        let assignment: Vec<(TopicPartition, StartOffset)> = slice_tps
            .iter()
            .map(|tp| (tp.clone(), by_tp[tp].start))
            .collect();
        let positions = slice_tps
            .iter()
            .map(|tp| (tp.clone(), by_tp[tp].position))
            .collect();
        let targets = (spec.mode == Mode::Refresh).then(|| {
            slice_tps
                .iter()
                .map(|tp| (tp.clone(), by_tp[tp].high))
                .collect()
        });
        let mut routes = HashMap::new();
        for t in &spec.tables {
            if !slice_tps.iter().any(|tp| *tp.topic == *t.topic) {
                continue;
            }
            let decoder =
                TableDecoder::new(layouts[&t.topic].clone(), t.key.clone()).map_err(|source| {
                    PipelineError::KeySetup {
                        topic: t.topic.clone(),
                        source: Box::new(source),
                    }
                })?;
            routes.insert(
                Arc::<str>::from(t.topic.as_str()),
                Route {
                    merger: mergers[&t.topic].clone(),
                    decoder,
                },
            );
        }
        let b = broker.clone();
        let reader = blocking(move || b.open_reader(&assignment)).await?;
        let (chunk_tx, chunk_rx) = mpsc::channel(2);
        let stop = Arc::new(AtomicBool::new(false));
        let handle = spawn_fetcher(
            format!("tidemark-fetch-{slice}"),
            reader,
            chunk_tx,
            budget.clone(),
            stop.clone(),
        )
        .map_err(|e| PipelineError::Internal(format!("cannot start fetch thread: {e}")))?;
        fetch_threads.push(handle);
        stop_flags.push(stop.clone());
        let owner = PartitionOwner::new(
            slice,
            epoch,
            spec.limits,
            routes,
            positions,
            targets,
            stop,
            chunk_rx,
            events_tx.clone(),
        );
        let arbiter = Arbiter::new();
        owners.push(PartitionOwner::start_in_arbiter(
            &arbiter.handle(),
            move |_| owner,
        ));
        arbiters.push(arbiter);
    }
    drop(events_tx);

    // Supervise: the first error or the shutdown signal drains every owner; the run ends when
    // every owner has reported.
    let mut first_error: Option<PipelineError> = None;
    let mut remaining = owners.len();
    let mut draining = false;
    tokio::pin!(shutdown);
    while remaining > 0 {
        tokio::select! {
            event = events_rx.recv() => {
                let Some(event) = event else { break };
                let failure = match event {
                    SupervisorEvent::SliceFinished { slice, result } => {
                        remaining -= 1;
                        tracing::debug!(slice, ok = result.is_ok(), "slice finished");
                        result.err()
                    }
                    SupervisorEvent::MergeFailed(e) => Some(e),
                };
                if let Some(e) = failure {
                    tracing::error!(error = %e, "pipeline failed; draining");
                    first_error.get_or_insert(e);
                    if !draining {
                        draining = true;
                        stopping.store(true, Ordering::Relaxed);
                        owners.iter().for_each(|o| o.do_send(Drain));
                    }
                }
            }
            _ = &mut shutdown, if !draining => {
                tracing::info!("shutdown requested; finishing in-flight merges");
                draining = true;
                stopping.store(true, Ordering::Relaxed);
                owners.iter().for_each(|o| o.do_send(Drain));
            }
        }
    }

    stopping.store(true, Ordering::Relaxed);
    for stop in &stop_flags {
        stop.store(true, Ordering::Relaxed);
    }
    // Mergers may still be finishing a batch another owner sent; give the event channel a
    // moment to report a last failure, then stop the arbiters.
    while let Ok(SupervisorEvent::MergeFailed(e)) = events_rx.try_recv() {
        first_error.get_or_insert(e);
    }
    for arbiter in &arbiters {
        arbiter.stop();
    }
    let _ = tokio::task::spawn_blocking(move || {
        for t in fetch_threads {
            let _ = t.join();
        }
    })
    .await;

    match first_error {
        Some(e) => Err(e),
        None => Ok(summary.lock().map(|s| s.clone()).unwrap_or_default()),
    }
}
