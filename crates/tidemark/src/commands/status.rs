use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use tidemark_config::Config;
use tidemark_model::TopicPartition;
use tidemark_ports::Broker;

use crate::commands::run::stored_offsets;
use crate::error::CliError;
use crate::wiring;

/// Prints per partition: the stored next offset, the log's high-water mark and the lag.
pub fn status(path: &Path, json: bool) -> Result<ExitCode, CliError> {
    let config = Config::load(path)?;
    let offsets = stored_offsets(&config)?;
    let broker = wiring::broker(&config)?;
    let mut rows = Vec::new();
    for t in &config.tables {
        for p in broker.partitions(&t.topic, Duration::from_secs(30))? {
            let tp = TopicPartition::new(t.topic.as_str(), p);
            let (low, high) = broker.watermarks(&tp, Duration::from_secs(30))?;
            let next = offsets.get(&t.topic).and_then(|o| o.get(&p)).copied();
            let lag = high - next.unwrap_or(low);
            rows.push((t.topic.clone(), p, next, low, high, lag));
        }
    }
    if json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(topic, p, next, low, high, lag)| {
                serde_json::json!({"topic": topic, "partition": p, "next_offset": next,
                    "log_start": low, "high_watermark": high, "lag": lag})
            })
            .collect();
        println!("{}", serde_json::json!({ "partitions": v }));
    } else {
        println!(
            "{:<40} {:>9} {:>12} {:>12} {:>12} {:>10}",
            "topic", "partition", "next", "log start", "high", "lag"
        );
        for (topic, p, next, low, high, lag) in rows {
            let next = next.map_or("-".to_string(), |n| n.to_string());
            println!("{topic:<40} {p:>9} {next:>12} {low:>12} {high:>12} {lag:>10}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
