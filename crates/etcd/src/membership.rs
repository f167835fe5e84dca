use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use etcd_client::{Client, Compare, CompareOp, PutOptions, Txn, TxnOp, WatchOptions};
use tidemark_model::assignment::Assignment;
use tidemark_model::{Epoch, TopicPartition};
use tidemark_ports::{ClusterView, CoordError, MemberInfo, Membership};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::keys::Keys;
use crate::{read_view, unavailable};

/// A replica's membership: its lease (kept alive by a background task), its member key, and
/// a watch on the cluster's keys.
pub struct EtcdMembership {
    client: Client,
    keys: Keys,
    me: MemberInfo,
    lease: i64,
    /// This etcd incarnation's epoch base: epochs are `base + revision`.
    base: i64,
    /// Becomes true once the lease is lost; never goes back.
    lost: watch::Receiver<bool>,
    /// Signalled on every change under the cluster's keys.
    changes: Arc<Notify>,
    /// Keep-alive and watch tasks, aborted when the membership is dropped.
    tasks: Vec<JoinHandle<()>>,
}

impl EtcdMembership {
    pub(crate) async fn join(
        mut client: Client,
        keys: Keys,
        me: MemberInfo,
        ttl: Duration,
        floor: Epoch,
    ) -> Result<Self, CoordError> {
        let base = incarnation(&mut client, &keys, floor).await?;
        let ttl_secs = i64::try_from(ttl.as_secs().max(2)).unwrap_or(i64::MAX);
        let lease = client
            .lease_grant(ttl_secs, None)
            .await
            .map_err(|e| unavailable("granting a lease", e))?
            .id();
        client
            .put(
                keys.member(&me.id),
                Keys::member_value(&me),
                Some(PutOptions::new().with_lease(lease)),
            )
            .await
            .map_err(|e| unavailable("registering member", e))?;
        let (lost_tx, lost) = watch::channel(false);
        let changes = Arc::new(Notify::new());
        let keeper = tokio::spawn(keep_alive(client.clone(), lease, ttl, lost_tx));
        let watcher = tokio::spawn(watch_changes(
            client.clone(),
            keys.root().to_string(),
            changes.clone(),
        ));
        tracing::info!(member = %me.id, lease, epoch_base = base, "joined the cluster");
        Ok(Self {
            client,
            keys,
            me,
            lease,
            base,
            lost,
            changes,
            tasks: vec![keeper, watcher],
        })
    }

    fn epoch(&self, revision: i64) -> Epoch {
        Epoch(self.base.saturating_add(revision))
    }

    fn check_live(&self) -> Result<(), CoordError> {
        if *self.lost.borrow() {
            return Err(CoordError::LeaseLost("the lease is gone".into()));
        }
        Ok(())
    }
}

impl Drop for EtcdMembership {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The epoch base of this etcd's lifetime: created from `floor` if absent (the first join after
/// etcd was created or rebuilt), else the stored one.
async fn incarnation(client: &mut Client, keys: &Keys, floor: Epoch) -> Result<i64, CoordError> {
    let key = keys.incarnation();
    let txn = Txn::new()
        .when(vec![Compare::create_revision(
            key.clone(),
            CompareOp::Equal,
            0,
        )])
        .and_then(vec![TxnOp::put(key.clone(), floor.0.to_string(), None)]);
    let created = client
        .txn(txn)
        .await
        .map_err(|e| unavailable("creating the incarnation key", e))?
        .succeeded();
    if created {
        tracing::info!(
            epoch_base = floor.0,
            "new etcd incarnation: epochs start above every stored epoch"
        );
    }
    let resp = client
        .get(key.clone(), None)
        .await
        .map_err(|e| unavailable("reading the incarnation key", e))?;
    let kv = resp
        .kvs()
        .first()
        .ok_or_else(|| unavailable("reading the incarnation key", "it vanished"))?;
    Keys::parse_incarnation(&key, kv)
}

/// Keeps the lease alive every TTL/3. Declares it lost when etcd says it expired, or when no
/// keep-alive succeeded for a whole TTL (etcd unreachable: by then it may have expired and
/// another replica may own our partitions).
async fn keep_alive(client: Client, lease: i64, ttl: Duration, lost: watch::Sender<bool>) {
    let period = (ttl / 3).max(Duration::from_millis(200));
    let mut last_ok = Instant::now();
    let mut stream = None;
    loop {
        if last_ok.elapsed() >= ttl {
            tracing::warn!(
                lease,
                "lease keep-alive failed for longer than the TTL; lease lost"
            );
            let _ = lost.send(true);
            return;
        }
        if stream.is_none() {
            let mut c = client.clone();
            match tokio::time::timeout(crate::REQUEST_TIMEOUT, c.lease_keep_alive(lease)).await {
                Ok(Ok(pair)) => stream = Some(pair),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "lease keep-alive stream failed; retrying")
                }
                Err(_) => tracing::warn!("lease keep-alive stream timed out; retrying"),
            }
        }
        if let Some((keeper, responses)) = stream.as_mut() {
            let round = async {
                keeper.keep_alive().await?;
                responses.message().await
            };
            match tokio::time::timeout(crate::REQUEST_TIMEOUT, round).await {
                Ok(Ok(Some(resp))) if resp.ttl() > 0 => last_ok = Instant::now(),
                Ok(Ok(Some(_))) => {
                    tracing::warn!(lease, "lease expired");
                    let _ = lost.send(true);
                    return;
                }
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => {
                    tracing::warn!(lease, "lease keep-alive failed; reconnecting");
                    stream = None;
                }
            }
        }
        tokio::time::sleep(if stream.is_some() {
            period
        } else {
            Duration::from_millis(200)
        })
        .await;
    }
}

/// Signals every change under the cluster's keys; re-creates the watch when it breaks.
async fn watch_changes(client: Client, prefix: String, changes: Arc<Notify>) {
    loop {
        let mut c = client.clone();
        match c
            .watch(prefix.clone(), Some(WatchOptions::new().with_prefix()))
            .await
        {
            Ok(mut stream) => {
                while let Ok(Some(_)) = stream.message().await {
                    changes.notify_waiters();
                }
            }
            Err(e) => tracing::debug!(error = %e, "watch failed; retrying"),
        }
        changes.notify_waiters();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[async_trait]
impl Membership for EtcdMembership {
    async fn lost(&self) {
        let mut lost = self.lost.clone();
        let _ = lost.wait_for(|l| *l).await;
    }

    async fn changed(&self, max_wait: Duration) {
        let _ = tokio::time::timeout(max_wait, self.changes.notified()).await;
    }

    async fn view(&self) -> Result<ClusterView, CoordError> {
        self.check_live()?;
        let mut c = self.client.clone();
        read_view(&mut c, &self.keys).await
    }

    async fn publish(
        &self,
        assignment: &Assignment,
        expected_revision: i64,
    ) -> Result<bool, CoordError> {
        self.check_live()?;
        let key = self.keys.assignment();
        let txn = Txn::new()
            .when(vec![
                Compare::mod_revision(key.clone(), CompareOp::Equal, expected_revision),
                Compare::version(self.keys.member(&self.me.id), CompareOp::Greater, 0),
            ])
            .and_then(vec![TxnOp::put(
                key,
                Keys::assignment_value(assignment),
                None,
            )]);
        let mut c = self.client.clone();
        let resp = c
            .txn(txn)
            .await
            .map_err(|e| unavailable("publishing assignment", e))?;
        Ok(resp.succeeded())
    }

    async fn claim(&self, tp: &TopicPartition, slice: u32) -> Result<bool, CoordError> {
        self.check_live()?;
        let key = self.keys.owner(tp);
        let txn = Txn::new()
            .when(vec![Compare::create_revision(
                key.clone(),
                CompareOp::Equal,
                0,
            )])
            .and_then(vec![TxnOp::put(
                key,
                Keys::owner_value(&self.me.id, slice),
                Some(PutOptions::new().with_lease(self.lease)),
            )]);
        let mut c = self.client.clone();
        let resp = c
            .txn(txn)
            .await
            .map_err(|e| unavailable("claiming a partition", e))?;
        Ok(resp.succeeded())
    }

    async fn release(&self, tps: &[TopicPartition]) -> Result<(), CoordError> {
        let mut c = self.client.clone();
        for tp in tps {
            let key = self.keys.owner(tp);
            // Only our own key: compare on the lease it is bound to.
            let txn = Txn::new()
                .when(vec![Compare::lease(
                    key.clone(),
                    CompareOp::Equal,
                    self.lease,
                )])
                .and_then(vec![TxnOp::delete(key, None)]);
            c.txn(txn)
                .await
                .map_err(|e| unavailable("releasing a partition", e))?;
        }
        Ok(())
    }

    async fn current_revision(&self) -> Result<Epoch, CoordError> {
        self.check_live()?;
        let mut c = self.client.clone();
        let resp = c
            .get(self.keys.member(&self.me.id), None)
            .await
            .map_err(|e| unavailable("reading the revision", e))?;
        if resp.kvs().is_empty() {
            return Err(CoordError::LeaseLost("member key is gone".into()));
        }
        resp.header()
            .map(|h| self.epoch(h.revision()))
            .ok_or_else(|| unavailable("reading the revision", "response without a header"))
    }

    async fn leave(&self) -> Result<(), CoordError> {
        let mut c = self.client.clone();
        c.lease_revoke(self.lease)
            .await
            .map_err(|e| unavailable("revoking the lease", e))?;
        tracing::info!(member = %self.me.id, "left the cluster");
        Ok(())
    }
}
