use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// tidemark applies Debezium change-data-capture streams from Kafka to PostgreSQL, exactly
/// once, latest change wins.
#[derive(Debug, Parser)]
#[command(name = "tidemark", version)]
pub struct Cli {
    /// More log output (or set TIDEMARK_LOG, e.g. TIDEMARK_LOG=debug).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply continuously until SIGINT/SIGTERM (then finish the in-flight merges and exit 0).
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Apply everything up to the high-water marks seen at start, print a summary, exit.
    Refresh {
        #[arg(long, short)]
        config: PathBuf,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a config file without touching the network.
    Validate {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the SQL tidemark would run (each table's DDL and merge, its own tables'), in the
    /// configured dialect, for review; reads the targets' columns, writes nothing.
    Sql {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Show stored progress and lag per partition.
    Status {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Run an embedded demo: in-process Kafka (librdkafka's mock cluster), a throwaway
    /// PostgreSQL, a generated Debezium history for salesdb.CUSTOMER; prints the table beside
    /// the state expected from the history.
    Demo {
        /// Use this PostgreSQL instead of starting a throwaway one.
        #[arg(long)]
        warehouse_url: Option<String>,
        /// Change events to generate.
        #[arg(long, default_value_t = 12_000)]
        events: u64,
        /// Random seed of the generated history.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Partitions of the demo topic.
        #[arg(long, default_value_t = 8)]
        partitions: i32,
    },
}
