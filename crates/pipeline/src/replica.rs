//! How a replica's role becomes a session lifecycle, and the one entry point for both roles.
//!
//! Cluster mode: replicas coordinated through a [`Coordinator`] (etcd). Each replica joins
//! under a lease. The oldest member publishes the assignment of partitions to the slices of live
//! members (balanced and sticky: `assignment::assign`); every replica runs the slices assigned
//! to it. Starting a slice: claim each partition's ownership key (compare-and-create under the
//! lease), raise the stored epoch in the warehouse (fencing any previous owner, which may still
//! be alive), and only then read where to resume. A slice whose partitions change is drained
//! (flushed, merges done) before its keys are released. Losing the lease, or being fenced, stops
//! every owner at once; the replica then rejoins with a new lease.
//!
//! Standalone mode runs the same lifecycle with a static membership (`standalone.rs`).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidemark_ports::{Broker, Coordinator, MemberInfo, Warehouse};

use crate::layouts::layouts;
use crate::session::{run_sessions, Lifecycle, OnFence};
use crate::spec::{Mode, ReplicaSpec, Role};
use crate::standalone::{StaticCoordinator, STANDALONE};
use crate::summary::RunSummary;
use crate::PipelineError;

/// Runs one replica until `shutdown` resolves (then drains, releases and leaves), a standalone
/// refresh reaches its high-water marks, or a fatal error. Must be called inside an actix
/// `System`. `summary` is updated after every commit, so callers can show progress.
pub async fn run_replica(
    spec: ReplicaSpec,
    broker: Arc<dyn Broker>,
    warehouse: Arc<dyn Warehouse>,
    shutdown: impl Future<Output = ()>,
    summary: Arc<Mutex<RunSummary>>,
) -> Result<RunSummary, PipelineError> {
    let layouts = layouts(&spec.tables, &*warehouse).await?;
    let (coordinator, member, lease_ttl, refresh, on_fence): (Arc<dyn Coordinator>, _, _, _, _) =
        match spec.role {
            Role::Standalone { mode } => (
                Arc::new(StaticCoordinator),
                MemberInfo {
                    id: STANDALONE.into(),
                    address: String::new(),
                    slices: u32::try_from(spec.slices).unwrap_or(u32::MAX),
                    joined_at_ms: 0,
                },
                // Never expires: the static membership has no lease.
                Duration::MAX,
                mode == Mode::Refresh,
                // A second process claimed the partitions: an error, not a handover.
                OnFence::Fail,
            ),
            Role::Cluster {
                coordinator,
                member,
                lease_ttl,
            } => (coordinator, member, lease_ttl, false, OnFence::Rejoin),
        };
    let lifecycle = Lifecycle {
        tables: spec.tables,
        slices: spec.slices,
        limits: spec.limits,
        member,
        lease_ttl,
        refresh,
        on_fence,
        commit_offsets: spec.commit_offsets,
    };
    run_sessions(
        lifecycle,
        layouts,
        broker,
        warehouse,
        coordinator,
        shutdown,
        summary,
    )
    .await
}
