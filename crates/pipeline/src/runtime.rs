//! The parts of a replica that standalone and cluster modes share: table layouts, one merger
//! per table, and starting/stopping partition-owner slices.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use tidemark_debezium::{KeySource, TableDecoder};
use tidemark_model::{Epoch, TableLayout, TableName, TopicPartition};
use tidemark_ports::{Broker, BrokerError, StartOffset, Warehouse};
use tokio::sync::mpsc;

use crate::budget::MemoryBudget;
use crate::fetcher::spawn_fetcher;
use crate::merger::TableMerger;
use crate::messages::{Abort, Drain, SupervisorEvent};
use crate::owner::{PartitionOwner, Route};
use crate::summary::RunSummary;
use crate::PipelineError;

pub(crate) const METADATA_TIMEOUT: Duration = Duration::from_secs(30);

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

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BrokerError> + Send + 'static,
) -> Result<T, PipelineError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PipelineError::Internal(format!("blocking task failed: {e}")))?
        .map_err(PipelineError::from)
}

/// Describes the targets and checks key settings before anything is read.
pub(crate) async fn layouts(
    tables: &[TableSpec],
    warehouse: &dyn Warehouse,
) -> Result<HashMap<String, Arc<TableLayout>>, PipelineError> {
    warehouse.prepare().await?;
    let mut layouts = HashMap::new();
    for t in tables {
        let columns = warehouse.describe(&t.target).await?;
        let layout = Arc::new(TableLayout::from_target(
            t.target.clone(),
            columns,
            &t.renames,
            &t.unmanaged,
        )?);
        decoder(t, &layout)?;
        layouts.insert(t.topic.clone(), layout);
    }
    Ok(layouts)
}

fn decoder(t: &TableSpec, layout: &Arc<TableLayout>) -> Result<TableDecoder, PipelineError> {
    TableDecoder::new(layout.clone(), t.key.clone()).map_err(|source| PipelineError::KeySetup {
        topic: t.topic.clone(),
        source: Box::new(source),
    })
}

/// Every partition of the configured topics.
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
    Ok(resume)
}

/// A running slice: its owner actor, arbiter and fetch thread.
pub(crate) struct SliceHandle {
    pub owner: Addr<PartitionOwner>,
    arbiter: Arbiter,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SliceHandle {
    /// Stop fetching, flush what is held, wait for its merges, report `SliceFinished`.
    pub fn drain(&self) {
        self.owner.do_send(Drain);
    }

    /// Stop at once, without flushing (the lease is gone: nothing more may be committed).
    pub fn abort(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.owner.do_send(Abort);
    }

    /// After `SliceFinished`: stops the arbiter and joins the fetch thread.
    pub async fn close(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.arbiter.stop();
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

/// Mergers and shared limits of one replica (one membership in cluster mode).
pub(crate) struct Runtime {
    tables: Vec<TableSpec>,
    layouts: HashMap<String, Arc<TableLayout>>,
    limits: BatchLimits,
    mergers: HashMap<String, (Addr<TableMerger>, Arbiter)>,
    budget: MemoryBudget,
    /// Set when stopping: mergers stop retrying retriable failures.
    pub stopping: Arc<AtomicBool>,
    pub events_tx: mpsc::UnboundedSender<SupervisorEvent>,
    pub events: mpsc::UnboundedReceiver<SupervisorEvent>,
}

impl Runtime {
    pub async fn new(
        tables: Vec<TableSpec>,
        layouts: HashMap<String, Arc<TableLayout>>,
        limits: BatchLimits,
        warehouse: &dyn Warehouse,
        summary: Arc<Mutex<RunSummary>>,
    ) -> Result<Self, PipelineError> {
        let (events_tx, events) = mpsc::unbounded_channel();
        let stopping = Arc::new(AtomicBool::new(false));
        let mut mergers = HashMap::new();
        for t in &tables {
            let writer = warehouse.writer(layouts[&t.topic].clone()).await?;
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
            mergers.insert(t.topic.clone(), (addr, arbiter));
        }
        Ok(Self {
            tables,
            layouts,
            budget: MemoryBudget::new(limits.max_in_flight_bytes),
            limits,
            mergers,
            stopping,
            events_tx,
            events,
        })
    }

    /// Starts an owner for these partitions, on an arbiter and a fetch thread of its own.
    pub async fn start_slice(
        &self,
        slice: usize,
        resume: &[Resume],
        epoch: Epoch,
        refresh: bool,
        broker: &Arc<dyn Broker>,
    ) -> Result<SliceHandle, PipelineError> {
        let assignment: Vec<(TopicPartition, StartOffset)> =
            resume.iter().map(|r| (r.tp.clone(), r.start)).collect();
        let positions = resume.iter().map(|r| (r.tp.clone(), r.position)).collect();
        let targets = refresh.then(|| resume.iter().map(|r| (r.tp.clone(), r.high)).collect());
        let mut routes = HashMap::new();
        for t in &self.tables {
            if !resume.iter().any(|r| *r.tp.topic == *t.topic) {
                continue;
            }
            routes.insert(
                Arc::<str>::from(t.topic.as_str()),
                Route {
                    merger: self.mergers[&t.topic].0.clone(),
                    decoder: decoder(t, &self.layouts[&t.topic])?,
                },
            );
        }
        let b = broker.clone();
        let reader = blocking(move || b.open_reader(&assignment)).await?;
        let (chunk_tx, chunk_rx) = mpsc::channel(2);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = spawn_fetcher(
            format!("tidemark-fetch-{slice}"),
            reader,
            chunk_tx,
            self.budget.clone(),
            stop.clone(),
        )
        .map_err(|e| PipelineError::Internal(format!("cannot start fetch thread: {e}")))?;
        let owner = PartitionOwner::new(
            slice,
            epoch,
            self.limits,
            routes,
            positions,
            targets,
            stop.clone(),
            chunk_rx,
            self.events_tx.clone(),
        );
        let arbiter = Arbiter::new();
        let owner = PartitionOwner::start_in_arbiter(&arbiter.handle(), move |_| owner);
        Ok(SliceHandle {
            owner,
            arbiter,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the mergers' arbiters. Call after every slice has finished.
    pub fn stop(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        for (_, (_, arbiter)) in self.mergers.drain() {
            arbiter.stop();
        }
    }
}
