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

use std::future::Future;
use std::sync::{Arc, Mutex};

use tidemark_ports::{Broker, Coordinator, Warehouse};

use crate::layouts::layouts;
use crate::session::{run_sessions, Lifecycle, OnFence};
use crate::spec::ClusterSpec;
use crate::summary::RunSummary;
use crate::PipelineError;

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
    let lifecycle = Lifecycle {
        tables: spec.tables,
        slices: spec.slices,
        limits: spec.limits,
        member: spec.member,
        lease_ttl: spec.lease_ttl,
        refresh: false,
        on_fence: OnFence::Rejoin,
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
