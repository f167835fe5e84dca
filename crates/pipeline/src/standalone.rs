//! Standalone mode: one replica owns every partition, without a coordination service.
//!
//! It runs the same session lifecycle as a cluster replica (`session.rs`), joined to a static
//! membership of one member that never loses its lease: the member is its own leader, every
//! claim succeeds, and the fencing epoch is the join's floor, one fresh epoch from the
//! warehouse greater than any stored for the pipeline — so starting a standalone replica fences
//! any older process.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tidemark_model::assignment::Assignment;
use tidemark_model::{Epoch, TopicPartition};
use tidemark_ports::{
    Broker, ClusterView, CoordError, Coordinator, Member, MemberInfo, Membership, Warehouse,
};

use crate::layouts::layouts;
use crate::session::{run_sessions, Lifecycle, OnFence};
use crate::spec::{Mode, PipelineSpec};
use crate::summary::RunSummary;
use crate::PipelineError;

/// The member id of a standalone replica (in logs and in the assignment).
const STANDALONE: &str = "standalone";

/// Runs the pipeline of one standalone replica until `shutdown` resolves (`Run`) or every
/// partition reached its start-time high-water mark (`Refresh`). Must be called inside an
/// actix `System`. `summary` is updated after every commit, so callers can show progress.
pub async fn run_pipeline(
    spec: PipelineSpec,
    broker: Arc<dyn Broker>,
    warehouse: Arc<dyn Warehouse>,
    shutdown: impl Future<Output = ()>,
    summary: Arc<Mutex<RunSummary>>,
) -> Result<RunSummary, PipelineError> {
    let layouts = layouts(&spec.tables, &*warehouse).await?;
    let member = MemberInfo {
        id: STANDALONE.into(),
        address: String::new(),
        slices: u32::try_from(spec.slices).unwrap_or(u32::MAX),
        joined_at_ms: 0,
    };
    let lifecycle = Lifecycle {
        tables: spec.tables,
        slices: spec.slices,
        limits: spec.limits,
        member,
        // Never expires: the static membership has no lease.
        lease_ttl: Duration::MAX,
        refresh: spec.mode == Mode::Refresh,
        on_fence: OnFence::Fail,
        commit_offsets: spec.commit_offsets,
    };
    let coordinator = Arc::new(StaticCoordinator);
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

/// A membership of one, fixed for the life of the process.
struct StaticCoordinator;

#[async_trait]
impl Coordinator for StaticCoordinator {
    async fn join(
        &self,
        me: &MemberInfo,
        _ttl: Duration,
        floor: Epoch,
    ) -> Result<Box<dyn Membership>, CoordError> {
        Ok(Box::new(StaticMembership {
            me: me.clone(),
            epoch: floor,
            assignment: Mutex::new(None),
        }))
    }

    async fn view(&self) -> Result<ClusterView, CoordError> {
        Ok(ClusterView::default())
    }
}

struct StaticMembership {
    me: MemberInfo,
    /// The fencing epoch of every claim of this process.
    epoch: Epoch,
    /// The assignment this member published to itself (the revision is 1 once published).
    assignment: Mutex<Option<Assignment>>,
}

#[async_trait]
impl Membership for StaticMembership {
    async fn lost(&self) {
        std::future::pending::<()>().await;
    }

    async fn changed(&self, max_wait: Duration) {
        tokio::time::sleep(max_wait).await;
    }

    async fn view(&self) -> Result<ClusterView, CoordError> {
        let published = self
            .assignment
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Ok(ClusterView {
            members: vec![Member {
                info: self.me.clone(),
                created_revision: 1,
            }],
            assignment_revision: i64::from(published.is_some()),
            assignment: published.unwrap_or_default(),
            owners: Default::default(),
        })
    }

    async fn publish(&self, assignment: &Assignment, _expected: i64) -> Result<bool, CoordError> {
        *self.assignment.lock().unwrap_or_else(|p| p.into_inner()) = Some(assignment.clone());
        Ok(true)
    }

    async fn claim(&self, _tp: &TopicPartition, _slice: u32) -> Result<bool, CoordError> {
        Ok(true)
    }

    async fn current_revision(&self) -> Result<Epoch, CoordError> {
        Ok(self.epoch)
    }

    async fn release(&self, _tps: &[TopicPartition]) -> Result<(), CoordError> {
        Ok(())
    }

    async fn leave(&self) -> Result<(), CoordError> {
        Ok(())
    }
}
