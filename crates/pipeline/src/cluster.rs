//! Cluster mode: replicas coordinated through a [`Coordinator`] (etcd).
//!
//! Each replica joins under a lease. The oldest member publishes the assignment of
//! partitions to the slices of live members (balanced and sticky: `assignment::assign`);
//! every replica runs the slices assigned to it. Starting a slice: claim each partition's
//! ownership key (compare-and-create under the lease; its revision orders owners), raise the
//! stored epoch in the warehouse (fencing any previous owner, which may still be alive), and
//! only then read where to resume. A slice whose partitions change is drained (flushed,
//! merges done) before its keys are released. Losing the lease, or being fenced, stops every
//! owner at once; the replica then rejoins with a new lease.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tidemark_model::assignment::{assign, Assignment};
use tidemark_model::{TableLayout, TopicPartition};
use tidemark_ports::{
    Broker, CoordError, Coordinator, MemberInfo, Membership, Warehouse, WarehouseError,
};

use crate::messages::SupervisorEvent;
use crate::runtime::{
    all_partitions, layouts, resume_points, BatchLimits, Runtime, SliceHandle, TableSpec,
};
use crate::summary::RunSummary;
use crate::PipelineError;

/// How often partition counts are re-read (topics that grow are picked up without restart).
const PARTITION_REFRESH: Duration = Duration::from_secs(10);
/// Longest wait between two reconciliations when nothing changes.
const RECONCILE_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub tables: Vec<TableSpec>,
    pub slices: usize,
    pub limits: BatchLimits,
    pub member: MemberInfo,
    pub lease_ttl: Duration,
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
    Shutdown,
    /// Lease lost or fenced: rejoin.
    Rejoin,
}

type Shutdown<'a> = Pin<&'a mut (dyn Future<Output = ()> + 'a)>;

/// Runs a cluster replica until `shutdown` resolves (then drains, releases and leaves) or a
/// fatal error. Must be called inside an actix `System`.
pub async fn run_cluster(
    spec: ClusterSpec,
    broker: Arc<dyn Broker>,
    warehouse: Arc<dyn Warehouse>,
    coordinator: Arc<dyn Coordinator>,
    shutdown: impl Future<Output = ()>,
    summary: Arc<Mutex<RunSummary>>,
) -> Result<RunSummary, PipelineError> {
    let layouts = layouts(&spec.tables, &*warehouse).await?;
    let shutdown = std::pin::pin!(shutdown);
    let mut shutdown: Shutdown<'_> = shutdown;
    let mut backoff = Duration::from_millis(200);
    loop {
        let joined = tokio::select! {
            j = coordinator.join(&spec.member, spec.lease_ttl) => j,
            _ = &mut shutdown => return Ok(snapshot(&summary)),
        };
        let membership = match joined {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "cannot join the cluster");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        let session =
            Session::new(&spec, &broker, &warehouse, membership, &layouts, &summary).await?;
        match session.run(&mut shutdown).await? {
            SessionEnd::Shutdown => return Ok(snapshot(&summary)),
            SessionEnd::Rejoin => tracing::warn!("stepped down; rejoining with a new lease"),
        }
    }
}

fn snapshot(summary: &Arc<Mutex<RunSummary>>) -> RunSummary {
    summary.lock().map(|s| s.clone()).unwrap_or_default()
}

struct Session<'a> {
    spec: &'a ClusterSpec,
    broker: &'a Arc<dyn Broker>,
    warehouse: &'a Arc<dyn Warehouse>,
    membership: Box<dyn Membership>,
    runtime: Runtime,
    slots: Vec<Slot>,
    partitions: Vec<TopicPartition>,
    partitions_read: Option<Instant>,
}

impl<'a> Session<'a> {
    async fn new(
        spec: &'a ClusterSpec,
        broker: &'a Arc<dyn Broker>,
        warehouse: &'a Arc<dyn Warehouse>,
        membership: Box<dyn Membership>,
        layouts: &HashMap<String, Arc<TableLayout>>,
        summary: &Arc<Mutex<RunSummary>>,
    ) -> Result<Session<'a>, PipelineError> {
        let runtime = Runtime::new(
            spec.tables.clone(),
            layouts.clone(),
            spec.limits,
            &**warehouse,
            summary.clone(),
        )
        .await?;
        Ok(Session {
            spec,
            broker,
            warehouse,
            membership,
            runtime,
            slots: (0..spec.slices)
                .map(|_| Slot {
                    state: SliceState::Idle,
                    held: BTreeSet::new(),
                })
                .collect(),
            partitions: Vec::new(),
            partitions_read: None,
        })
    }

    async fn run(mut self, shutdown: &mut Shutdown<'_>) -> Result<SessionEnd, PipelineError> {
        loop {
            match self.reconcile().await {
                Ok(()) => {}
                Err(PipelineError::Coordination(CoordError::LeaseLost(why))) => {
                    tracing::warn!(%why, "lease lost");
                    return self.end(SessionEnd::Rejoin, None).await;
                }
                Err(e) if transient(&e) => tracing::warn!(error = %e, "reconcile failed; retrying"),
                Err(e) => return self.end(SessionEnd::Shutdown, Some(e)).await,
            }
            let membership = &self.membership;
            let events = &mut self.runtime.events;
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
                    return self.end(SessionEnd::Rejoin, None).await;
                }
                Woke::Shutdown => {
                    tracing::info!("shutdown requested: draining, releasing, leaving");
                    return self.end(SessionEnd::Shutdown, None).await;
                }
                Woke::Event(Some(event)) => match event {
                    SupervisorEvent::SliceFinished {
                        slice,
                        result: Ok(()),
                    } => {
                        self.slice_stopped(slice).await;
                    }
                    SupervisorEvent::SliceFinished {
                        slice,
                        result: Err(e),
                    } => {
                        self.slice_stopped(slice).await;
                        return self.end(SessionEnd::Shutdown, Some(e)).await;
                    }
                    SupervisorEvent::MergeFailed(e) if fenced(&e) => {
                        tracing::warn!(error = %e, "fenced by a newer owner: stepping down");
                        return self.end(SessionEnd::Rejoin, None).await;
                    }
                    SupervisorEvent::MergeFailed(e) => {
                        return self.end(SessionEnd::Shutdown, Some(e)).await;
                    }
                },
            }
        }
    }

    /// A slice's owner has reported: close it and give its keys back (the ones still assigned
    /// to it are claimed again by the next reconcile).
    async fn slice_stopped(&mut self, slice: usize) {
        let Some(slot) = self.slots.get_mut(slice) else {
            return;
        };
        let state = std::mem::replace(&mut slot.state, SliceState::Idle);
        if let SliceState::Running { handle, .. } | SliceState::Draining { handle } = state {
            handle.close().await;
        }
        let held: Vec<TopicPartition> = std::mem::take(&mut slot.held).into_iter().collect();
        if let Err(e) = self.membership.release(&held).await {
            tracing::warn!(error = %e, "releasing partitions failed (they expire with the lease)");
        }
    }

    async fn reconcile(&mut self) -> Result<(), PipelineError> {
        if self
            .partitions_read
            .is_none_or(|t| t.elapsed() >= PARTITION_REFRESH)
        {
            let tps = all_partitions(&self.spec.tables, self.broker).await?;
            if tps != self.partitions {
                tracing::info!(partitions = tps.len(), "partitions changed");
            }
            self.partitions = tps;
            self.partitions_read = Some(Instant::now());
        }
        let view = self.membership.view().await?;
        let me = &self.spec.member.id;
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
            SliceState::Draining { .. } => Ok(()),
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
                        if self.membership.claim(tp, slice as u32).await?.is_some() {
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
                    if self.membership.claim(tp, slice as u32).await?.is_some() {
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
                let handle = self
                    .runtime
                    .start_slice(slice, &resume, epoch, false, self.broker)
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

    /// Stops every slice (draining on shutdown or error, aborting when the lease is gone),
    /// waits for them, releases, leaves.
    async fn end(
        mut self,
        end: SessionEnd,
        error: Option<PipelineError>,
    ) -> Result<SessionEnd, PipelineError> {
        let abort = matches!(end, SessionEnd::Rejoin);
        if error.is_some() || abort {
            self.runtime
                .stopping
                .store(true, std::sync::atomic::Ordering::Relaxed);
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
                SliceState::Idle => SliceState::Idle,
            };
        }
        self.runtime
            .stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let mut first_error = error;
        while self
            .slots
            .iter()
            .any(|s| !matches!(s.state, SliceState::Idle))
        {
            match self.runtime.events.recv().await {
                Some(SupervisorEvent::SliceFinished { slice, result }) => {
                    if let Err(e) = result {
                        first_error.get_or_insert(e);
                    }
                    self.slice_stopped(slice).await;
                }
                Some(SupervisorEvent::MergeFailed(e)) => {
                    if fenced(&e) {
                        tracing::warn!(error = %e, "commit rejected: fenced by a newer owner");
                    } else if !abort {
                        first_error.get_or_insert(e);
                    }
                }
                None => break,
            }
        }
        if let Err(e) = self.membership.leave().await {
            tracing::warn!(error = %e, "leaving failed (the lease will expire)");
        }
        self.runtime.stop();
        match first_error {
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
        PipelineError::Broker(tidemark_ports::BrokerError::Client { .. }) => true,
        _ => false,
    }
}
