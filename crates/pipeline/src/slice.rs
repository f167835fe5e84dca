//! A replica's workers: one merger per table, and the partition-owner slices started and
//! stopped by the session (each slice: an owner actor on an arbiter of its own, and a fetch
//! thread).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use tidemark_model::{Epoch, LayoutCell, TopicPartition};
use tidemark_ports::{Broker, OffsetReporter, StartOffset, Warehouse};
use tokio::sync::mpsc;

use crate::budget::MemoryBudget;
use crate::fetcher::spawn_fetcher;
use crate::layouts::decoder;
use crate::merger::TableMerger;
use crate::messages::{Abort, Drain, SupervisorEvent};
use crate::owner::{OwnerConfig, PartitionOwner, Route};
use crate::resume::{blocking, Resume};
use crate::spec::{BatchLimits, TableSpec};
use crate::summary::RunSummary;
use crate::PipelineError;

/// How long a stopping replica waits for its last advisory offset commit.
const REPORTER_CLOSE: Duration = Duration::from_secs(5);

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

/// The mergers and shared limits of one session of a replica.
pub(crate) struct Workers {
    tables: Vec<TableSpec>,
    layouts: HashMap<String, Arc<LayoutCell>>,
    limits: BatchLimits,
    mergers: HashMap<String, (Addr<TableMerger>, Arbiter)>,
    pub(crate) budget: MemoryBudget,
    /// Set when the session gives up (an error elsewhere, or the lease is gone): mergers stop
    /// retrying. Not set by a graceful drain, whose merges still retry to success.
    stopping: Arc<AtomicBool>,
    /// Advisory offset commits to Kafka (`kafka.commit_offsets`), closed by `stop`.
    reporter: Option<Arc<dyn OffsetReporter>>,
    pub events_tx: mpsc::UnboundedSender<SupervisorEvent>,
    pub events: mpsc::UnboundedReceiver<SupervisorEvent>,
}

impl Workers {
    pub async fn new(
        tables: Vec<TableSpec>,
        layouts: HashMap<String, Arc<LayoutCell>>,
        limits: BatchLimits,
        warehouse: &dyn Warehouse,
        // The broker to report applied offsets to, if `kafka.commit_offsets`.
        report_to: Option<&Arc<dyn Broker>>,
        summary: Arc<Mutex<RunSummary>>,
    ) -> Result<Self, PipelineError> {
        let (events_tx, events) = mpsc::unbounded_channel();
        let reporter = match report_to {
            Some(broker) => {
                let b = broker.clone();
                Some(blocking(move || b.offset_reporter()).await?)
            }
            None => None,
        };
        let stopping = Arc::new(AtomicBool::new(false));
        let mut mergers = HashMap::new();
        for t in &tables {
            tidemark_telemetry::metrics().touch_table(&t.topic, &t.target.to_string());
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
                reporter: reporter.clone(),
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
            reporter,
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
                    apply_truncates: t.apply_truncates,
                    dead_letters: t.dead_letters,
                    raw_table: t.raw_table.clone(),
                    events: tidemark_telemetry::metrics()
                        .events_read
                        .with_label_values(&[&t.topic]),
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
        .map_err(PipelineError::FetchThread)?;
        let owner = PartitionOwner::new(OwnerConfig {
            slice,
            epoch,
            limits: self.limits,
            routes,
            positions,
            targets,
            stop_fetch: stop.clone(),
            chunks: chunk_rx,
            supervisor: self.events_tx.clone(),
            in_flight: Arc::default(),
        });
        let arbiter = Arbiter::new();
        let owner = PartitionOwner::start_in_arbiter(&arbiter.handle(), move |_| owner);
        Ok(SliceHandle {
            owner,
            arbiter,
            stop,
            thread: Some(thread),
        })
    }

    /// Mergers stop retrying failed merges: nothing more is worth committing.
    pub fn stop_retrying(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Stops the mergers' arbiters and commits the last advisory offsets. Call after every
    /// slice has finished.
    pub async fn stop(&mut self) {
        self.stop_retrying();
        for (_, (_, arbiter)) in self.mergers.drain() {
            arbiter.stop();
        }
        if let Some(reporter) = self.reporter.take() {
            let _ = tokio::task::spawn_blocking(move || reporter.close(REPORTER_CLOSE)).await;
        }
    }
}
