//! The one lifecycle of a replica, for both modes: join → (publish the assignment if leader)
//! → for each slice: claim its partitions, raise their stored epoch, read where to resume,
//! start its owner → supervise → drain or abort → release → leave.
//!
//! Cluster mode joins through etcd; standalone mode joins a static membership of one member
//! (see `standalone.rs`). What differs between them is only what [`Lifecycle`] says.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tidemark_model::assignment::{assign, Assignment};
use tidemark_model::{ErrorChain, LayoutCell, TopicPartition};
use tidemark_ports::{
    Broker, BrokerError, CoordError, Coordinator, MemberInfo, Membership, Warehouse, WarehouseError,
};

use crate::messages::SupervisorEvent;
use crate::resume::{all_partitions, resume_points};
use crate::slice::{SliceHandle, Workers};
use crate::spec::{BatchLimits, TableSpec};
use crate::summary::RunSummary;
use crate::PipelineError;

/// How often partition counts are re-read (topics that grow are picked up without restart).
const PARTITION_REFRESH: Duration = Duration::from_secs(10);
/// Longest wait between two reconciliations when nothing changes.
const RECONCILE_EVERY: Duration = Duration::from_millis(500);

/// What a replica's sessions run, and how they end.
pub(crate) struct Lifecycle {
    pub tables: Vec<TableSpec>,
    pub slices: usize,
    pub limits: BatchLimits,
    pub member: MemberInfo,
    pub lease_ttl: Duration,
    /// Stop each partition at the high-water mark seen when its slice started; the run ends
    /// when every slice has reached them. Partitions are read once.
    pub refresh: bool,
    /// What a fenced commit means: in a cluster, another replica took over and this one
    /// rejoins; standalone, a second process claimed the partitions, which is an error.
    pub on_fence: OnFence,
    /// Report applied offsets to Kafka for lag tools.
    pub commit_offsets: bool,
}

impl Lifecycle {
    /// Whether this failure is a newer owner taking over, which a cluster member answers by
    /// stepping down and rejoining (standalone: never, a fence there is an error).
    fn hands_over(&self, e: &PipelineError) -> bool {
        self.on_fence == OnFence::Rejoin && fenced(e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnFence {
    Rejoin,
    Fail,
}

enum SliceState {
    Idle,
    Running {
        handle: SliceHandle,
        tps: BTreeSet<TopicPartition>,
    },
    Draining {
        handle: SliceHandle,
    },
    /// Refresh only: reached its targets; never restarted.
    Done,
}

struct Slot {
    state: SliceState,
    /// Ownership keys this slice holds.
    held: BTreeSet<TopicPartition>,
}

/// What woke the session loop.
enum Woke {
    LeaseLost,
    Event(Option<SupervisorEvent>),
    Tick,
    Shutdown,
}

/// How a membership ended.
enum SessionEnd {
    /// Shutdown requested, refresh complete, or a fatal error (returned beside it).
    Finished,
    /// Lease lost or fenced in a cluster: rejoin.
    Rejoin,
}

type Shutdown<'a> = Pin<&'a mut (dyn Future<Output = ()> + 'a)>;

/// Runs sessions (memberships) until `shutdown` resolves, the refresh completes, or a fatal
/// error. Must be called inside an actix `System`.
pub(crate) async fn run_sessions(
    lifecycle: Lifecycle,
    layouts: HashMap<String, Arc<LayoutCell>>,
    broker: Arc<dyn Broker>,
    warehouse: Arc<dyn Warehouse>,
    coordinator: Arc<dyn Coordinator>,
    shutdown: impl Future<Output = ()>,
    summary: Arc<Mutex<RunSummary>>,
) -> Result<RunSummary, PipelineError> {
    let shutdown = std::pin::pin!(shutdown);
    let mut shutdown: Shutdown<'_> = shutdown;
    let mut backoff = Duration::from_millis(200);
    loop {
        // Above every epoch stored so far: the membership's epochs start over it if the
        // coordination service has no memory of this pipeline (new, or rebuilt from empty).
        let floor = match warehouse.next_epoch().await {
            Ok(floor) => floor,
            Err(e) if e.is_retriable() => {
                tracing::warn!(error = %ErrorChain(&e), retry_in = ?backoff, "cannot read the stored epochs");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let joined = tokio::select! {
            j = coordinator.join(&lifecycle.member, lifecycle.lease_ttl, floor) => j,
            _ = &mut shutdown => return Ok(snapshot(&summary)),
        };
        let health = tidemark_telemetry::health();
        // The static membership of a standalone replica never expires.
        health.set_needs_lease(lifecycle.lease_ttl != Duration::MAX);
        let membership = match joined {
            Ok(m) => {
                health.set_lease_held(true);
                m
            }
            Err(e) => {
                tracing::warn!(error = %ErrorChain(&e), retry_in = ?backoff, "cannot join the cluster");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        let workers = Workers::new(
            lifecycle.tables.clone(),
            layouts.clone(),
            lifecycle.limits,
            &*warehouse,
            lifecycle.commit_offsets.then_some(&broker),
            summary.clone(),
        )
        .await?;
        let session = Session {
            lifecycle: &lifecycle,
            broker: &broker,
            warehouse: &warehouse,
            membership,
            workers,
            slots: (0..lifecycle.slices)
                .map(|_| Slot {
                    state: SliceState::Idle,
                    held: BTreeSet::new(),
                })
                .collect(),
            partitions: Vec::new(),
            partitions_read: None,
        };
        health.set_running(true);
        let end = session.run(&mut shutdown).await;
        health.set_running(false);
        tidemark_telemetry::metrics().set_owned(Default::default());
        match end? {
            SessionEnd::Finished => return Ok(snapshot(&summary)),
            SessionEnd::Rejoin => {
                health.set_lease_held(false);
                tracing::warn!("stepped down; rejoining with a new lease")
            }
        }
    }
}

fn snapshot(summary: &Arc<Mutex<RunSummary>>) -> RunSummary {
    summary.lock().map(|s| s.clone()).unwrap_or_default()
}

struct Session<'a> {
    lifecycle: &'a Lifecycle,
    broker: &'a Arc<dyn Broker>,
    warehouse: &'a Arc<dyn Warehouse>,
    membership: Box<dyn Membership>,
    workers: Workers,
    slots: Vec<Slot>,
    partitions: Vec<TopicPartition>,
    partitions_read: Option<Instant>,
}

impl Session<'_> {
    async fn run(mut self, shutdown: &mut Shutdown<'_>) -> Result<SessionEnd, PipelineError> {
        loop {
            match self.reconcile().await {
                Ok(()) => {}
                Err(PipelineError::Coordination(CoordError::LeaseLost(why))) => {
                    tracing::warn!(%why, "lease lost");
                    tidemark_telemetry::metrics().lease_losses.inc();
                    return self.end(SessionEnd::Rejoin, None).await;
                }
                Err(e) if transient(&e) => {
                    tracing::warn!(error = %ErrorChain(&e), "reconcile failed; retrying")
                }
                Err(e) => return self.end(SessionEnd::Finished, Some(e)).await,
            }
            if self.lifecycle.refresh && self.refresh_complete() {
                return self.end(SessionEnd::Finished, None).await;
            }
            let m = tidemark_telemetry::metrics();
            m.set_owned(
                self.slots
                    .iter()
                    .flat_map(|s| s.held.iter())
                    .map(|tp| (tp.topic.to_string(), tp.partition))
                    .collect(),
            );
            m.in_flight_bytes
                .set(i64::try_from(self.workers.budget.in_use()).unwrap_or(i64::MAX));
            let membership = &self.membership;
            let events = &mut self.workers.events;
            let woke = tokio::select! {
                _ = membership.lost() => Woke::LeaseLost,
                event = events.recv() => Woke::Event(event),
                _ = membership.changed(RECONCILE_EVERY) => Woke::Tick,
                _ = shutdown.as_mut() => Woke::Shutdown,
            };
            match woke {
                Woke::Tick | Woke::Event(None) => {}
                Woke::LeaseLost => {
                    tracing::warn!("lease lost: stopping every owner");
                    tidemark_telemetry::metrics().lease_losses.inc();
                    return self.end(SessionEnd::Rejoin, None).await;
                }
                Woke::Shutdown => {
                    tracing::info!("shutdown requested: draining, releasing, leaving");
                    return self.end(SessionEnd::Finished, None).await;
                }
                Woke::Event(Some(SupervisorEvent::SliceFinished { slice, result })) => {
                    let done = self.lifecycle.refresh && result.is_ok();
                    self.slice_stopped(slice, done).await;
                    if let Err(e) = result {
                        return self.end(SessionEnd::Finished, Some(e)).await;
                    }
                }
                Woke::Event(Some(SupervisorEvent::MergeFailed(e))) => {
                    if self.lifecycle.hands_over(&e) {
                        tracing::warn!(error = %ErrorChain(&e), "fenced by a newer owner: stepping down");
                        return self.end(SessionEnd::Rejoin, None).await;
                    }
                    return self.end(SessionEnd::Finished, Some(e)).await;
                }
            }
        }
    }

    /// While ending: a merge failure is the session's error unless it is the expected end of an
    /// ownership (a handover fence in a cluster) or the session is aborting anyway.
    fn keep_merge_failure(
        &self,
        e: PipelineError,
        abort: bool,
        first_error: &mut Option<PipelineError>,
    ) {
        if self.lifecycle.hands_over(&e) {
            tracing::warn!(error = %ErrorChain(&e), "commit rejected: fenced by a newer owner");
        } else if !abort {
            first_error.get_or_insert(e);
        }
    }

    /// Refresh: every slot has reached its targets or has nothing to do.
    fn refresh_complete(&self) -> bool {
        // Before the partitions were ever read (the broker unreachable so far), nothing was
        // started and nothing is done.
        self.partitions_read.is_some()
            && self.slots.iter().all(|s| match s.state {
                SliceState::Done => true,
                SliceState::Idle => s.held.is_empty(),
                SliceState::Running { .. } | SliceState::Draining { .. } => false,
            })
    }

    /// A slice's owner has reported: close it and give its keys back (the ones still assigned
    /// to it are claimed again by the next reconcile, unless the slice is `done`).
    async fn slice_stopped(&mut self, slice: usize, done: bool) {
        let Some(slot) = self.slots.get_mut(slice) else {
            return;
        };
        let state = std::mem::replace(
            &mut slot.state,
            if done {
                SliceState::Done
            } else {
                SliceState::Idle
            },
        );
        if let SliceState::Running { handle, .. } | SliceState::Draining { handle } = state {
            handle.close().await;
        }
        let held: Vec<TopicPartition> = std::mem::take(&mut slot.held).into_iter().collect();
        if let Err(e) = self.membership.release(&held).await {
            tracing::warn!(error = %ErrorChain(&e), "releasing partitions failed (they expire with the lease)");
        }
    }

    async fn reconcile(&mut self) -> Result<(), PipelineError> {
        // A refresh applies the partitions that existed when it started.
        let reread = match self.partitions_read {
            None => true,
            Some(t) => !self.lifecycle.refresh && t.elapsed() >= PARTITION_REFRESH,
        };
        if reread {
            let tps = all_partitions(&self.lifecycle.tables, self.broker).await?;
            if self.partitions_read.is_none() {
                tracing::info!(
                    partitions = tps.len(),
                    "partitions of the configured topics"
                );
            } else if tps != self.partitions {
                tracing::info!(partitions = tps.len(), "partitions changed");
            }
            self.partitions = tps;
            self.partitions_read = Some(Instant::now());
        }
        let view = self.membership.view().await?;
        let me = &self.lifecycle.member.id;
        let mut assignment = view.assignment.clone();
        if view.leader().is_some_and(|l| &l.info.id == me) {
            let desired = assign(&self.partitions, &view.slices(), &view.assignment);
            if desired != view.assignment
                && self
                    .membership
                    .publish(&desired, view.assignment_revision)
                    .await?
            {
                tracing::info!(
                    partitions = desired.len(),
                    slices = view.slices().len(),
                    "published assignment"
                );
                assignment = desired;
            }
        }
        for slice in 0..self.slots.len() {
            let target = targets(&assignment, me, slice);
            self.reconcile_slice(slice, target).await?;
        }
        Ok(())
    }

    async fn reconcile_slice(
        &mut self,
        slice: usize,
        target: BTreeSet<TopicPartition>,
    ) -> Result<(), PipelineError> {
        let slot = &mut self.slots[slice];
        match &slot.state {
            SliceState::Draining { .. } | SliceState::Done => Ok(()),
            SliceState::Running { tps, .. } => {
                if *tps == target {
                    return Ok(());
                }
                // Restart with the new set once drained; if only claims are missing, restart
                // only when one of them can be claimed now.
                let only_missing = tps.is_subset(&target);
                let mut gained = false;
                if only_missing {
                    for tp in target.difference(tps) {
                        if self.membership.claim(tp, slice as u32).await? {
                            slot.held.insert(tp.clone());
                            gained = true;
                        }
                    }
                }
                if !only_missing || gained {
                    if let SliceState::Running { handle, .. } =
                        std::mem::replace(&mut slot.state, SliceState::Idle)
                    {
                        tracing::info!(slice, "assignment changed: draining slice");
                        handle.drain();
                        slot.state = SliceState::Draining { handle };
                    }
                }
                Ok(())
            }
            SliceState::Idle => {
                for tp in target.difference(&slot.held.clone()) {
                    if self.membership.claim(tp, slice as u32).await? {
                        slot.held.insert(tp.clone());
                    }
                }
                let stray: Vec<TopicPartition> = slot.held.difference(&target).cloned().collect();
                if !stray.is_empty() {
                    self.membership.release(&stray).await?;
                    stray.iter().for_each(|tp| {
                        slot.held.remove(tp);
                    });
                }
                if slot.held.is_empty() {
                    return Ok(());
                }
                let tps: Vec<TopicPartition> = slot.held.iter().cloned().collect();
                // The epoch is read after every claim, so it is newer than any epoch a previous
                // owner of these partitions had; raise the stored epochs, then read offsets.
                let epoch = self.membership.current_revision().await?;
                let stored = self.warehouse.claim(&tps, epoch).await?;
                let resume = resume_points(&tps, stored, self.broker).await?;
                for r in &resume {
                    tidemark_telemetry::metrics().note_resumed(
                        &r.tp.topic,
                        r.tp.partition,
                        r.position,
                    );
                }
                let handle = self
                    .workers
                    .start_slice(slice, &resume, epoch, self.lifecycle.refresh, self.broker)
                    .await?;
                tracing::info!(slice, %epoch, partitions = tps.len(), "slice started");
                self.slots[slice].state = SliceState::Running {
                    handle,
                    tps: tps.into_iter().collect(),
                };
                Ok(())
            }
        }
    }

    /// Stops every slice — draining on shutdown, refresh end or error, aborting when the lease
    /// is gone — waits for them, releases, leaves. The first error wins.
    async fn end(
        mut self,
        end: SessionEnd,
        error: Option<PipelineError>,
    ) -> Result<SessionEnd, PipelineError> {
        let abort = matches!(end, SessionEnd::Rejoin);
        // A graceful drain lets merges retry to success; giving up stops the retries.
        if error.is_some() || abort {
            self.workers.stop_retrying();
        }
        for slot in &mut self.slots {
            let state = std::mem::replace(&mut slot.state, SliceState::Idle);
            slot.state = match state {
                SliceState::Running { handle, .. } | SliceState::Draining { handle } => {
                    if abort {
                        handle.abort();
                    } else {
                        handle.drain();
                    }
                    SliceState::Draining { handle }
                }
                SliceState::Idle | SliceState::Done => SliceState::Idle,
            };
        }
        let mut first_error = error;
        while self
            .slots
            .iter()
            .any(|s| matches!(s.state, SliceState::Draining { .. }))
        {
            match self.workers.events.recv().await {
                Some(SupervisorEvent::SliceFinished { slice, result }) => {
                    if let Err(e) = result {
                        self.workers.stop_retrying();
                        first_error.get_or_insert(e);
                    }
                    self.slice_stopped(slice, false).await;
                }
                Some(SupervisorEvent::MergeFailed(e)) => {
                    self.workers.stop_retrying();
                    self.keep_merge_failure(e, abort, &mut first_error);
                }
                None => break,
            }
        }
        // A merger may still report a failure of a batch that an owner sent before it stopped.
        while let Ok(event) = self.workers.events.try_recv() {
            if let SupervisorEvent::MergeFailed(e) = event {
                self.keep_merge_failure(e, abort, &mut first_error);
            }
        }
        if let Err(e) = self.membership.leave().await {
            tracing::warn!(error = %ErrorChain(&e), "leaving failed (the lease will expire)");
        }
        self.workers.stop().await;
        match first_error {
            // Not logged here: the caller reports it, once, with its causes.
            Some(e) => Err(e),
            None => Ok(end),
        }
    }
}

fn targets(assignment: &Assignment, me: &str, slice: usize) -> BTreeSet<TopicPartition> {
    assignment
        .iter()
        .filter(|(_, s)| s.member == me && s.slice as usize == slice)
        .map(|(tp, _)| tp.clone())
        .collect()
}

fn fenced(e: &PipelineError) -> bool {
    matches!(
        e,
        PipelineError::Merge { source, .. } if matches!(**source, WarehouseError::Fenced { .. })
    )
}

/// Failures a later reconcile may get past: etcd or the warehouse unreachable for a moment.
fn transient(e: &PipelineError) -> bool {
    match e {
        PipelineError::Coordination(CoordError::Unavailable { .. }) => true,
        PipelineError::Warehouse(w) => w.is_retriable(),
        PipelineError::Broker(BrokerError::Client { .. }) => true,
        _ => false,
    }
}
