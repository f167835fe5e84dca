//! The etcd adapter of [`tidemark_ports::Coordinator`].
//!
//! Keys, under `tidemark/<cluster>/`:
//! - `members/<id>`: a live replica (JSON), bound to its lease;
//! - `assignment`: the partition → slice map (JSON), written by the oldest member only,
//!   guarded by its own revision and by the writer's membership;
//! - `owners/<topic>/<partition>`: who owns a partition (JSON), bound to the owner's lease and
//!   created with compare-and-create; its create revision is the fencing epoch;
//! - `incarnation`: the epoch base of this etcd's lifetime, created once (compare-and-create)
//!   by the first replica that joins, from the warehouse's next epoch. Every epoch is the base
//!   plus an etcd revision, so a rebuilt etcd (revisions from 1 again) still yields epochs above
//!   every stored one.

mod keys;
mod membership;

pub use membership::EtcdMembership;

use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{Client, ConnectOptions, GetOptions};
use tidemark_model::Epoch;
use tidemark_ports::{ClusterView, CoordError, Coordinator, MemberInfo, Membership};

use crate::keys::Keys;

/// Time limit of one etcd request; a replica must notice an unreachable etcd well within a
/// lease TTL.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) fn unavailable(context: &str, e: impl std::fmt::Display) -> CoordError {
    CoordError::Unavailable {
        context: context.to_string(),
        message: e.to_string(),
    }
}

/// An etcd cluster, reached through its endpoints.
pub struct EtcdCoordinator {
    endpoints: Vec<String>,
    keys: Keys,
}

impl EtcdCoordinator {
    pub fn new(endpoints: Vec<String>, cluster: &str) -> Self {
        Self {
            endpoints,
            keys: Keys::new(cluster),
        }
    }

    pub(crate) async fn connect(endpoints: &[String]) -> Result<Client, CoordError> {
        let options = ConnectOptions::new()
            .with_connect_timeout(REQUEST_TIMEOUT)
            .with_timeout(REQUEST_TIMEOUT)
            .with_keep_alive(Duration::from_secs(2), REQUEST_TIMEOUT);
        Client::connect(endpoints, Some(options))
            .await
            .map_err(|e| unavailable("connecting to etcd", e))
    }
}

/// Reads every key of the cluster into a view.
pub(crate) async fn read_view(client: &mut Client, keys: &Keys) -> Result<ClusterView, CoordError> {
    let resp = client
        .get(keys.root(), Some(GetOptions::new().with_prefix()))
        .await
        .map_err(|e| unavailable("reading cluster state", e))?;
    keys.parse_view(resp.kvs())
}

#[async_trait]
impl Coordinator for EtcdCoordinator {
    async fn join(
        &self,
        me: &MemberInfo,
        ttl: Duration,
        floor: Epoch,
    ) -> Result<Box<dyn Membership>, CoordError> {
        let client = Self::connect(&self.endpoints).await?;
        let membership =
            EtcdMembership::join(client, self.keys.clone(), me.clone(), ttl, floor).await?;
        Ok(Box::new(membership))
    }

    async fn view(&self) -> Result<ClusterView, CoordError> {
        let mut client = Self::connect(&self.endpoints).await?;
        read_view(&mut client, &self.keys).await
    }
}

#[cfg(test)]
mod tests;
