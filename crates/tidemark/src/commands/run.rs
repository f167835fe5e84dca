use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidemark_config::{Config, CoordinationMode};
use tidemark_pipeline::{run_replica, Mode, RunSummary};
use tidemark_ports::{Broker, Warehouse};

use crate::error::CliError;
use crate::status_line::StatusLine;
use crate::wiring;

pub fn run(path: &Path) -> Result<ExitCode, CliError> {
    let config = Config::load(path)?;
    let summary = execute(&config, Mode::Run, Progress::Log)?;
    let totals = summary.totals();
    tracing::info!(
        events = totals.events,
        upserts = totals.upserts,
        deletes = totals.deletes,
        merges = summary.tables.values().map(|t| t.merges).sum::<u64>(),
        "stopped"
    );
    Ok(ExitCode::SUCCESS)
}

pub fn refresh(path: &Path, json: bool) -> Result<ExitCode, CliError> {
    let config = Config::load(path)?;
    if config.coordination.mode == CoordinationMode::Etcd {
        // A standalone claim raises every partition's epoch: it would fence a running cluster.
        return Err(CliError::Config(tidemark_config::ConfigError::Invalid {
            key: "coordination.mode".into(),
            reason: "refresh runs standalone; with mode = \"etcd\" use `run` (a refresh would fence the cluster's owners)".into(),
        }));
    }
    let progress = if json {
        Progress::None
    } else {
        Progress::Stderr
    };
    let summary = execute(&config, Mode::Refresh, progress)?;
    let offsets = stored_offsets(&config)?;
    print_summary(&summary, &offsets, json);
    Ok(ExitCode::SUCCESS)
}

/// How a long run reports progress.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    None,
    /// A progress line at the bottom of stderr, logs above it (see [`StatusLine`]).
    Stderr,
    /// An info log line every 10 seconds.
    Log,
}

/// Runs the pipeline inside an actix system; SIGINT/SIGTERM drain it.
pub fn execute(config: &Config, mode: Mode, progress: Progress) -> Result<RunSummary, CliError> {
    let spec = wiring::spec(config, mode)?;
    let broker: Arc<dyn Broker> = wiring::broker(config)?;
    let warehouse: Arc<dyn Warehouse> = wiring::warehouse(config)?;
    let summary = Arc::new(Mutex::new(RunSummary::default()));
    let system = actix::System::new();
    let config = config.clone();
    let result = system.block_on(async move {
        if mode == Mode::Run {
            crate::http::serve(&config, broker.clone(), summary.clone())?;
        }
        let reporter = tokio::spawn(report_progress(summary.clone(), progress));
        let last = summary.clone();
        let result = run_replica(spec, broker, warehouse, shutdown_signal(), summary).await;
        reporter.abort();
        // The final figures, so the progress line does not stop at the last tick's.
        if progress == Progress::Stderr && StatusLine::get().is_terminal() {
            show_progress(&last, progress);
        }
        StatusLine::get().finish();
        Ok::<_, CliError>(result?)
    });
    result
}

async fn report_progress(summary: Arc<Mutex<RunSummary>>, progress: Progress) {
    let period = match progress {
        Progress::None => return,
        // Redrawn in place on a terminal; off one, every update is a new line of a log.
        Progress::Stderr if StatusLine::get().is_terminal() => Duration::from_millis(250),
        Progress::Stderr => Duration::from_secs(5),
        Progress::Log => Duration::from_secs(10),
    };
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        show_progress(&summary, progress);
    }
}

fn show_progress(summary: &Mutex<RunSummary>, progress: Progress) {
    let totals = summary.lock().unwrap_or_else(|p| p.into_inner()).totals();
    match progress {
        Progress::None => {}
        Progress::Stderr => StatusLine::get().set(format!(
            "applied {} events: {} rows upserted, {} deleted",
            totals.events, totals.upserts, totals.deletes
        )),
        Progress::Log => tracing::info!(
            events = totals.events,
            upserts = totals.upserts,
            deletes = totals.deletes,
            "progress"
        ),
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// The committed next offsets, per topic and partition, read back from the warehouse.
pub fn stored_offsets(config: &Config) -> Result<BTreeMap<String, BTreeMap<i32, i64>>, CliError> {
    Ok(stored_marks(config)?
        .into_iter()
        .map(|(topic, parts)| {
            let parts = parts.into_iter().map(|(p, (next, _))| (p, next)).collect();
            (topic, parts)
        })
        .collect())
}

/// Per topic, per partition: (stored next offset, stored fencing epoch).
pub type StoredMarks = BTreeMap<String, BTreeMap<i32, (i64, i64)>>;

/// Per topic and partition with a committed offset, what the warehouse stores: the next offset
/// and the fencing epoch.
pub fn stored_marks(config: &Config) -> Result<StoredMarks, CliError> {
    let warehouse = wiring::warehouse(config)?;
    let marks = wiring::block_on(warehouse.watermarks())??;
    let mut out = StoredMarks::new();
    for w in marks {
        out.entry(w.tp.topic.to_string())
            .or_default()
            .insert(w.tp.partition, (w.next_offset, w.epoch.0));
    }
    Ok(out)
}

fn print_summary(summary: &RunSummary, offsets: &BTreeMap<String, BTreeMap<i32, i64>>, json: bool) {
    let empty = BTreeMap::new();
    if json {
        let tables: Vec<serde_json::Value> = summary
            .tables
            .iter()
            .map(|(topic, s)| {
                let stats = s.stats;
                let offs: serde_json::Map<String, serde_json::Value> = offsets
                    .get(topic)
                    .unwrap_or(&empty)
                    .iter()
                    .map(|(p, o)| (p.to_string(), (*o).into()))
                    .collect();
                serde_json::json!({
                    "topic": topic,
                    "target": s.target.to_string(),
                    "events": stats.events,
                    "upserts": stats.upserts,
                    "deletes": stats.deletes,
                    "dead_letters": stats.dead_letters,
                    "merges": s.merges,
                    "offsets": offs,
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "tables": tables }));
        return;
    }
    println!(
        "{:<32} {:<40} {:>10} {:>10} {:>10}  final offsets (partition=next)",
        "table", "topic", "events", "upserted", "deleted"
    );
    for (topic, s) in &summary.tables {
        let stats = s.stats;
        let offs: Vec<String> = offsets
            .get(topic)
            .unwrap_or(&empty)
            .iter()
            .map(|(p, o)| format!("{p}={o}"))
            .collect();
        println!(
            "{:<32} {:<40} {:>10} {:>10} {:>10}  {}",
            s.target.to_string(),
            topic,
            stats.events,
            stats.upserts,
            stats.deletes,
            offs.join(" ")
        );
        if stats.dead_letters > 0 {
            println!(
                "{:<32} {} records could not be applied: see the dead_letters table",
                "", stats.dead_letters
            );
        }
    }
}
