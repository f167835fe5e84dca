use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use tidemark_config::{Config, CoordinationMode};
use tidemark_model::TopicPartition;
use tidemark_ports::{Broker, ClusterView, Coordinator};

use crate::commands::run::stored_marks;
use crate::error::CliError;
use crate::wiring;

/// One partition's row: (partition, stored next offset, log start, high-water mark, lag,
/// (owner, stored epoch)).
type Row = (
    TopicPartition,
    Option<i64>,
    i64,
    i64,
    i64,
    (Option<String>, Option<i64>),
);

/// Members and ownership (etcd mode), and per routed partition its stored progress and log.
fn gather(config: &Config) -> Result<(Option<ClusterView>, Vec<Row>), CliError> {
    let marks = stored_marks(config)?;
    let view = match config.coordination.mode {
        CoordinationMode::Etcd => Some(cluster_view(config)?),
        CoordinationMode::Standalone => None,
    };
    let broker = wiring::broker(config)?;
    let mut rows = Vec::new();
    for topic in wiring::routed_topics(config, &*broker)? {
        for p in broker.partitions(&topic, Duration::from_secs(30))? {
            let tp = TopicPartition::new(topic.as_str(), p);
            let (low, high) = broker.watermarks(&tp, Duration::from_secs(30))?;
            let mark = marks.get(&topic).and_then(|o| o.get(&p)).copied();
            let next = mark.map(|(next, _)| next);
            let epoch = mark.map(|(_, epoch)| epoch);
            let lag = high - next.unwrap_or(low);
            let owner = view
                .as_ref()
                .and_then(|v| v.owners.get(&tp))
                .map(|s| format!("{}/{}", s.member, s.slice));
            rows.push((tp, next, low, high, lag, (owner, epoch)));
        }
    }
    Ok((view, rows))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What `status --json` prints (and the HTTP `/status` serves).
pub fn status_json(config: &Config) -> Result<serde_json::Value, CliError> {
    let (view, rows) = gather(config)?;
    let now_ms = now_ms();
    let members: Vec<serde_json::Value> = view
        .iter()
        .flat_map(|v| v.members.iter())
        .map(|m| {
            serde_json::json!({"id": m.info.id, "address": m.info.address, "slices": m.info.slices,
                "lease_age_ms": now_ms - m.info.joined_at_ms})
        })
        .collect();
    let parts: Vec<serde_json::Value> = rows
        .iter()
        .map(|(tp, next, low, high, lag, owner)| {
            serde_json::json!({"topic": &*tp.topic, "partition": tp.partition, "next_offset": next,
                "log_start": low, "high_watermark": high, "lag": lag,
                "owner": owner.0, "epoch": owner.1})
        })
        .collect();
    Ok(serde_json::json!({ "members": members, "partitions": parts }))
}

/// Prints members and ownership (etcd mode), and per partition: the stored next offset and
/// fencing epoch (the epoch of the owner that last claimed or committed it), the log's start
/// and high-water mark, and the lag.
pub fn status(path: &Path, json: bool) -> Result<ExitCode, CliError> {
    let config = Config::load(path)?;
    if json {
        println!("{}", status_json(&config)?);
        return Ok(ExitCode::SUCCESS);
    }
    let (view, rows) = gather(&config)?;
    let now_ms = now_ms();
    if let Some(v) = &view {
        println!("members ({}):", v.members.len());
        for m in &v.members {
            let age = Duration::from_millis((now_ms - m.info.joined_at_ms).max(0) as u64);
            println!(
                "  {:<40} {:<24} slices {:>3}  member for {}",
                m.info.id,
                m.info.address,
                m.info.slices,
                humanize(age)
            );
        }
        println!();
    }
    println!(
        "{:<40} {:>9} {:>12} {:>12} {:>12} {:>10}  owner (epoch)",
        "topic", "partition", "next", "log start", "high", "lag"
    );
    let mut total_lag = 0;
    for (tp, next, low, high, lag, owner) in &rows {
        let next = next.map_or("-".to_string(), |n| n.to_string());
        let owner = format!(
            "{} ({})",
            owner.0.as_deref().unwrap_or("-"),
            owner.1.map_or("-".to_string(), |e| e.to_string())
        );
        println!(
            "{:<40} {:>9} {next:>12} {low:>12} {high:>12} {lag:>10}  {owner}",
            tp.topic, tp.partition
        );
        total_lag += lag;
    }
    println!("total lag: {total_lag}");
    Ok(ExitCode::SUCCESS)
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

fn cluster_view(config: &Config) -> Result<ClusterView, CliError> {
    let coordinator = wiring::coordinator(config)?;
    wiring::block_on(coordinator.view())?.map_err(|e| CliError::Pipeline(e.into()))
}
