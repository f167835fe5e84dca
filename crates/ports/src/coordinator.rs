use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use tidemark_model::assignment::{Assignment, SliceId};
use tidemark_model::{Epoch, TopicPartition};

#[derive(Debug, thiserror::Error)]
pub enum CoordError {
    /// The coordination service could not be reached or answered with an error; retry.
    #[error("coordination service: {context}: {message}")]
    Unavailable { context: String, message: String },
    /// The coordination service refused our credentials: not retried (fix the config).
    #[error("coordination service: {context}: refused: {reason} (check coordination.username and coordination.password_file)")]
    Refused { context: String, reason: String },
    /// This replica's lease is gone: it no longer owns anything and must rejoin.
    #[error("lease lost: {0}")]
    LeaseLost(String),
    /// Stored coordination data could not be read.
    #[error("coordination data at {key}: {message}")]
    Corrupt { key: String, message: String },
}

/// A live replica as published under its lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    pub id: String,
    /// Where it can be reached (host name / pod address), for operators.
    pub address: String,
    /// Partition-owner slices it runs.
    pub slices: u32,
    /// Wall-clock start of its membership, for "lease age".
    pub joined_at_ms: i64,
}

/// A member and the revision that created its key: the oldest member (lowest revision) is
/// the one that publishes the assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub info: MemberInfo,
    pub created_revision: i64,
}

/// What is stored about the cluster at one revision.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    pub members: Vec<Member>,
    /// The published assignment and the revision it was written at (0 if none yet).
    pub assignment: Assignment,
    pub assignment_revision: i64,
    /// Who holds each ownership key. (The fencing epoch of an ownership is the one stored with
    /// the partition's watermark in the warehouse: `Membership::current_revision` at the start
    /// of the owner.)
    pub owners: BTreeMap<TopicPartition, SliceId>,
}

impl ClusterView {
    /// Every slice of every live member.
    pub fn slices(&self) -> Vec<SliceId> {
        self.members
            .iter()
            .flat_map(|m| {
                (0..m.info.slices).map(|slice| SliceId {
                    member: m.info.id.clone(),
                    slice,
                })
            })
            .collect()
    }

    /// The member that publishes assignments: the one that joined first.
    pub fn leader(&self) -> Option<&Member> {
        self.members.iter().min_by_key(|m| m.created_revision)
    }
}

/// A coordination service (etcd): where replicas meet.
#[async_trait]
pub trait Coordinator: Send + Sync {
    /// Joins the cluster under a new lease kept alive in the background.
    ///
    /// `floor` is an epoch greater than every epoch stored in the warehouse for this pipeline
    /// (`Warehouse::next_epoch`). Every epoch the membership hands out is an *incarnation base*
    /// plus a revision of the coordination service; the base is fixed when the service first
    /// sees the pipeline, to the `floor` of that join. So when the service is rebuilt from empty
    /// (its revisions start again from 1), epochs still rise above every stored one instead of
    /// being fenced forever.
    async fn join(
        &self,
        me: &MemberInfo,
        ttl: Duration,
        floor: Epoch,
    ) -> Result<Box<dyn Membership>, CoordError>;
    /// Reads the cluster state (for `status`).
    async fn view(&self) -> Result<ClusterView, CoordError>;
}

/// One membership: a lease and what is held under it. Dropping it without `leave` lets the
/// lease expire.
#[async_trait]
pub trait Membership: Send + Sync {
    /// Resolves when the lease is lost (keep-alive failed for longer than the TTL, or the
    /// lease expired or was revoked).
    async fn lost(&self);
    /// Resolves at the next change under the cluster's keys (or after `max_wait`).
    async fn changed(&self, max_wait: Duration);
    async fn view(&self) -> Result<ClusterView, CoordError>;
    /// Publishes an assignment if the stored one is still at `expected_revision` and this
    /// member is still live. Returns whether it was written.
    async fn publish(
        &self,
        assignment: &Assignment,
        expected_revision: i64,
    ) -> Result<bool, CoordError>;
    /// Claims a partition for one of this member's slices with a compare-and-create bound to
    /// the lease. `false`: someone else holds it.
    async fn claim(&self, tp: &TopicPartition, slice: u32) -> Result<bool, CoordError>;
    /// The epoch of the current revision, after every claim made so far: the fencing epoch of
    /// an owner that starts now (greater than that of any owner that held one of its
    /// partitions before, in this incarnation of the service or an earlier one).
    async fn current_revision(&self) -> Result<Epoch, CoordError>;
    /// Deletes ownership keys this member holds.
    async fn release(&self, tps: &[TopicPartition]) -> Result<(), CoordError>;
    /// Revokes the lease: everything held is released at once.
    async fn leave(&self) -> Result<(), CoordError>;
}
