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
//!
//! With topic patterns the tables are the routes of the broker's topics: resolved at start and,
//! in `run`, checked every [`TOPIC_REFRESH`]; when the routed topics change the sessions drain
//! as for a shutdown (every batch merged, partitions released) and start again with the new
//! tables, like a consumer group rebalancing on a subscription change.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidemark_ports::{Broker, Coordinator, MemberInfo, Warehouse};

use crate::layouts::layouts;
use crate::resume::blocking;
use crate::session::{run_sessions, Lifecycle, OnFence};
use crate::spec::{Mode, ReplicaSpec, Role, TableRoutes, TableSpec};
use crate::standalone::{StaticCoordinator, STANDALONE};
use crate::summary::{RunSummary, TableSummary};
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
    let mut shutdown = std::pin::pin!(shutdown);
    let routes = spec.tables.clone();
    let refresh = matches!(
        spec.role,
        Role::Standalone {
            mode: Mode::Refresh
        }
    );
    loop {
        let tables = resolve(&*routes, &broker).await?;
        if routes.follows_topics() {
            // Here, not in `resolve`: the topic watch resolves every period.
            tracing::info!(
                tables = tables.len(),
                "routed the broker's topics to tables"
            );
        }
        let routed: Vec<String> = tables.iter().map(|t| t.topic.clone()).collect();
        let topics_changed = AtomicBool::new(false);
        let stop = async {
            tokio::select! {
                () = &mut shutdown => tidemark_telemetry::health().set_draining(true),
                () = watch_topics(&*routes, &broker, &routed, refresh) => {
                    topics_changed.store(true, Ordering::Relaxed);
                }
            }
        };
        let result = run_tables(
            &spec,
            tables,
            broker.clone(),
            warehouse.clone(),
            stop,
            summary.clone(),
        )
        .await?;
        if !topics_changed.load(Ordering::Relaxed) {
            return Ok(result);
        }
        tracing::info!("the routed topics changed: starting again with the new tables");
    }
}

/// How often the broker's topics are listed for pattern routes.
pub const TOPIC_REFRESH: Duration = Duration::from_secs(10);

/// The tables the routes give for the broker's topics now.
async fn resolve(
    routes: &dyn TableRoutes,
    broker: &Arc<dyn Broker>,
) -> Result<Vec<TableSpec>, PipelineError> {
    let topics = if routes.follows_topics() {
        let b = broker.clone();
        blocking(move || b.topics(crate::resume::METADATA_TIMEOUT)).await?
    } else {
        Vec::new()
    };
    let tables = routes
        .tables(&topics)
        .map_err(|source| PipelineError::Routes { source })?;
    if tables.is_empty() {
        return Err(PipelineError::NoTables {
            topics: topics.len(),
        });
    }
    Ok(tables)
}

/// Resolves when the routes give other topics than `routed` (never for fixed routes or
/// a refresh). A listing that fails is retried at the next period.
async fn watch_topics(
    routes: &dyn TableRoutes,
    broker: &Arc<dyn Broker>,
    routed: &[String],
    refresh: bool,
) {
    if refresh || !routes.follows_topics() {
        return std::future::pending().await;
    }
    loop {
        tokio::time::sleep(TOPIC_REFRESH).await;
        match resolve(routes, broker).await {
            Ok(now) => {
                if !now.iter().map(|t| &t.topic).eq(routed) {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %tidemark_model::ErrorChain(&e), "re-reading the routed topics failed; keeping the current tables")
            }
        }
    }
}

/// Runs the sessions of one set of tables until `shutdown` resolves.
async fn run_tables(
    spec: &ReplicaSpec,
    tables: Vec<TableSpec>,
    broker: Arc<dyn Broker>,
    warehouse: Arc<dyn Warehouse>,
    shutdown: impl Future<Output = ()>,
    summary: Arc<Mutex<RunSummary>>,
) -> Result<RunSummary, PipelineError> {
    let layouts = layouts(&tables, &*warehouse).await?;
    if let Ok(mut summary) = summary.lock() {
        // Every table shows in the summary, those with nothing to apply too.
        for t in &tables {
            summary
                .tables
                .entry(t.topic.clone())
                .or_insert_with(|| TableSummary {
                    target: t.target.clone(),
                    stats: Default::default(),
                    offsets: Default::default(),
                    merges: 0,
                });
        }
    }
    let (coordinator, member, lease_ttl, refresh, on_fence): (Arc<dyn Coordinator>, _, _, _, _) =
        match spec.role.clone() {
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
        tables,
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
