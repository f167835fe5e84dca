//! Standalone mode: one replica owns every partition, without a coordination service.
//!
//! It runs the same session lifecycle as a cluster replica (`session.rs`), joined to a static
//! membership of one member that never loses its lease: the member is its own leader, every
//! claim succeeds, and the fencing epoch is the join's floor, one fresh epoch from the
//! warehouse greater than any stored for the pipeline — so starting a standalone replica fences
//! any older process.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tidemark_model::assignment::Assignment;
use tidemark_model::{Epoch, TopicPartition};
use tidemark_ports::{ClusterView, CoordError, Coordinator, Member, MemberInfo, Membership};

/// The member id of a standalone replica (in logs and in the assignment).
pub(crate) const STANDALONE: &str = "standalone";

/// A membership of one, fixed for the life of the process.
pub(crate) struct StaticCoordinator;

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
