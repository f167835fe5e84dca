//! Standalone mode: one replica owns every partition.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tidemark_model::assignment::{assign, Assignment, SliceId};
use tidemark_model::TopicPartition;
use tidemark_ports::{Broker, Warehouse};

use crate::messages::SupervisorEvent;
use crate::runtime::{
    all_partitions, layouts, resume_points, BatchLimits, Resume, Runtime, TableSpec,
};
use crate::summary::RunSummary;
use crate::PipelineError;

/// `run` keeps going until told to stop; `refresh` stops at the high-water marks seen at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Run,
    Refresh,
}

#[derive(Debug, Clone)]
pub struct PipelineSpec {
    pub tables: Vec<TableSpec>,
    pub slices: usize,
    pub limits: BatchLimits,
    pub mode: Mode,
}

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
    // Claim every partition (raising the stored epoch, which fences any older process) before
    // reading where to resume.
    let tps = all_partitions(&spec.tables, &broker).await?;
    let epoch = warehouse.next_epoch().await?;
    let stored = warehouse.claim(&tps, epoch).await?;
    tracing::info!(%epoch, partitions = tps.len(), "claimed partitions");
    let resume = resume_points(&tps, stored, &broker).await?;
    let by_tp: HashMap<TopicPartition, Resume> =
        resume.into_iter().map(|r| (r.tp.clone(), r)).collect();

    let mut runtime = Runtime::new(
        spec.tables.clone(),
        layouts,
        spec.limits,
        &*warehouse,
        summary.clone(),
    )
    .await?;
    let mut slices = Vec::new();
    // The same balanced assignment the cluster uses, over this replica's slices alone.
    let own: Vec<SliceId> = (0..spec.slices as u32)
        .map(|slice| SliceId {
            member: "standalone".into(),
            slice,
        })
        .collect();
    let assignment = assign(&tps, &own, &Assignment::new());
    for (slice, id) in own.iter().enumerate() {
        let resume: Vec<Resume> = assignment
            .iter()
            .filter(|(_, s)| *s == id)
            .map(|(tp, _)| by_tp[tp].clone())
            .collect();
        if resume.is_empty() {
            continue;
        }
        slices.push(
            runtime
                .start_slice(slice, &resume, epoch, spec.mode == Mode::Refresh, &broker)
                .await?,
        );
    }

    // Supervise: the first error or the shutdown signal drains every owner; the run ends when
    // every owner has reported.
    let mut first_error: Option<PipelineError> = None;
    let mut remaining = slices.len();
    let mut draining = false;
    tokio::pin!(shutdown);
    while remaining > 0 {
        tokio::select! {
            event = runtime.events.recv() => {
                let Some(event) = event else { break };
                let failure = match event {
                    SupervisorEvent::SliceFinished { slice, result } => {
                        remaining -= 1;
                        tracing::debug!(slice, ok = result.is_ok(), "slice finished");
                        result.err()
                    }
                    SupervisorEvent::MergeFailed(e) => Some(e),
                };
                if let Some(e) = failure {
                    tracing::error!(error = %e, "pipeline failed; draining");
                    first_error.get_or_insert(e);
                    if !draining {
                        draining = true;
                        runtime.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
                        slices.iter().for_each(|s| s.drain());
                    }
                }
            }
            _ = &mut shutdown, if !draining => {
                tracing::info!("shutdown requested; finishing in-flight merges");
                draining = true;
                runtime.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
                slices.iter().for_each(|s| s.drain());
            }
        }
    }
    // A merger may still report a failure of a batch another owner sent.
    while let Ok(SupervisorEvent::MergeFailed(e)) = runtime.events.try_recv() {
        first_error.get_or_insert(e);
    }
    for s in slices {
        s.close().await;
    }
    runtime.stop();
    match first_error {
        Some(e) => Err(e),
        None => Ok(summary.lock().map(|s| s.clone()).unwrap_or_default()),
    }
}
