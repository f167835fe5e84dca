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
use etcd_client::{Certificate, Client, ConnectOptions, GetOptions, Identity, TlsOptions};
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

/// How to reach a secured etcd: TLS and user authentication, each optional.
#[derive(Clone, Default)]
pub struct EtcdSecurity {
    /// PEM of the CA certificates that sign etcd's server certificate; TLS is on when set
    /// (the endpoints are then `https://`).
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate and key (PEM) for an etcd started with `--client-cert-auth`.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    /// etcd user and password (etcd's `auth enable`).
    pub user: Option<(String, String)>,
}

impl std::fmt::Debug for EtcdSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdSecurity")
            .field("tls", &self.ca_pem.is_some())
            .field("client_certificate", &self.identity.is_some())
            .field("user", &self.user.as_ref().map(|(name, _)| name))
            .finish()
    }
}

/// An etcd cluster, reached through its endpoints.
pub struct EtcdCoordinator {
    endpoints: Vec<String>,
    security: EtcdSecurity,
    keys: Keys,
}

impl EtcdCoordinator {
    pub fn new(endpoints: Vec<String>, cluster: &str, security: EtcdSecurity) -> Self {
        Self {
            endpoints,
            security,
            keys: Keys::new(cluster),
        }
    }

    pub(crate) async fn connect(&self) -> Result<Client, CoordError> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(REQUEST_TIMEOUT)
            .with_timeout(REQUEST_TIMEOUT)
            .with_keep_alive(Duration::from_secs(2), REQUEST_TIMEOUT);
        if let Some(ca) = &self.security.ca_pem {
            let mut tls = TlsOptions::new().ca_certificate(Certificate::from_pem(ca));
            if let Some((cert, key)) = &self.security.identity {
                tls = tls.identity(Identity::from_pem(cert, key));
            }
            options = options.with_tls(tls);
        }
        if let Some((name, password)) = &self.security.user {
            options = options.with_user(name.clone(), password.clone());
        }
        Client::connect(&self.endpoints, Some(options))
            .await
            .map_err(|e| match refusal(&e) {
                Some(reason) => CoordError::Refused {
                    context: "connecting to etcd".into(),
                    reason,
                },
                None => unavailable("connecting to etcd", e),
            })
    }
}

/// etcd refused our credentials (a wrong user or password, or authentication required and
/// none given): retrying cannot help.
fn refusal(e: &etcd_client::Error) -> Option<String> {
    match e {
        etcd_client::Error::GRpcStatus(status)
            if matches!(
                status.code(),
                tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
            ) || status.message().contains("authentication failed") =>
        {
            Some(status.message().to_string())
        }
        _ => None,
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
        let client = self.connect().await?;
        let membership =
            EtcdMembership::join(client, self.keys.clone(), me.clone(), ttl, floor).await?;
        Ok(Box::new(membership))
    }

    async fn view(&self) -> Result<ClusterView, CoordError> {
        let mut client = self.connect().await?;
        read_view(&mut client, &self.keys).await
    }
}

#[cfg(test)]
mod tests;
