//! Builds the real adapters and the pipeline spec from a config.

use std::sync::Arc;

use tidemark_config::{
    Config, ConfigError, CoordinationMode, DeleteMode, Dialect, MergeStrategy, RedshiftStaging,
    TlsMode, TruncateMode,
};
use tidemark_debezium::KeySource;
use tidemark_kafka::KafkaBroker;
use tidemark_pipeline::{
    BatchLimits, FieldFilter, Mode, ReplicaSpec, Role, TableRoutes, TableSpec,
};
use tidemark_ports::Broker;
use tidemark_warehouse::redshift::{
    RedshiftSettings, S3Settings, Staging, TableOptions, DEFAULT_MAX_FILE_BYTES,
};
use tidemark_warehouse::{PgMerge, PgSettings, PgWarehouse, TlsSetting};

use crate::error::CliError;

/// The replica's tables: the config's routes of the broker's topics.
struct ConfigRoutes(Config);

impl TableRoutes for ConfigRoutes {
    fn follows_topics(&self) -> bool {
        self.0.has_patterns()
    }

    fn tables(
        &self,
        topics: &[String],
    ) -> Result<Vec<TableSpec>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(table_specs(&self.0, topics)?)
    }
}

/// The table specs of the config's routes of `topics` (with no topics: the explicit entries),
/// as the pipeline runs them and `tidemark sql` shows them.
pub fn table_specs(config: &Config, topics: &[String]) -> Result<Vec<TableSpec>, ConfigError> {
    Ok(config
        .routes(topics)?
        .into_iter()
        .map(|route| {
            let t = route.table;
            TableSpec {
                topic: route.topic,
                target: route.target,
                renames: t.columns.clone(),
                unmanaged: t.unmanaged_columns.clone(),
                fields: match &t.include_fields {
                    Some(only) => FieldFilter::Only(only.clone()),
                    None if t.exclude_fields.is_empty() => FieldFilter::All,
                    None => FieldFilter::Except(t.exclude_fields.clone()),
                },
                key: match &t.key {
                    Some(fields) => KeySource::Fields(fields.clone()),
                    None => KeySource::MessageKey,
                },
                apply_truncates: t.truncate == TruncateMode::Apply,
                decode: config.decode_options(t),
                dead_letters: config.dead_letters(t),
                soft_delete: t.delete_mode == DeleteMode::Soft,
                evolution: config.evolution(t),
                raw_table: route.raw_table,
            }
        })
        .collect())
}

/// The topics the config routes, given the broker's topics when it has patterns.
pub fn routed_topics(config: &Config, broker: &dyn Broker) -> Result<Vec<String>, CliError> {
    let topics = if config.has_patterns() {
        broker.topics(std::time::Duration::from_secs(30))?
    } else {
        Vec::new()
    };
    Ok(config
        .routes(&topics)?
        .into_iter()
        .map(|r| r.topic)
        .collect())
}

/// The replica's spec: standalone (`run` or `refresh`) or a cluster member (etcd mode).
pub fn spec(config: &Config, mode: Mode) -> Result<ReplicaSpec, CliError> {
    let tables = Arc::new(ConfigRoutes(config.clone()));
    let role = match config.coordination.mode {
        CoordinationMode::Standalone => Role::Standalone { mode },
        CoordinationMode::Etcd => Role::Cluster {
            coordinator: coordinator(config)?,
            member: member(config),
            lease_ttl: config.coordination.lease_ttl,
        },
    };
    Ok(ReplicaSpec {
        tables,
        slices: config.coordination.slices,
        limits: BatchLimits {
            max_rows: config.batch.max_rows,
            max_bytes: usize::try_from(config.batch.max_bytes.0).unwrap_or(usize::MAX),
            linger: config.batch.linger,
            max_in_flight: config.batch.max_in_flight,
            max_in_flight_bytes: config.batch.max_in_flight_bytes.0,
        },
        commit_offsets: config.kafka.commit_offsets,
        role,
    })
}

/// The warehouse adapter; an unparsable connection string is a config error.
pub fn warehouse(config: &Config) -> Result<Arc<PgWarehouse>, CliError> {
    let password = match &config.warehouse.password_file {
        Some(path) => Some(read_secret(path, "warehouse.password_file")?),
        None => None,
    };
    let tls = match config.warehouse.tls {
        TlsMode::Disable => None,
        TlsMode::Require => Some(TlsSetting::Require),
        TlsMode::VerifyFull => {
            let path = config.warehouse.ca_file.as_deref().unwrap_or_default();
            let ca_pem = std::fs::read(path).map_err(|source| CliError::Io {
                context: format!("reading warehouse.ca_file {path:?}"),
                source,
            })?;
            Some(TlsSetting::VerifyFull { ca_pem })
        }
    };
    let tls = tls
        .map(tidemark_warehouse::client_config)
        .transpose()
        .map_err(|reason| ConfigError::Invalid {
            key: "warehouse.ca_file".into(),
            reason,
        })?;
    let warehouse = PgWarehouse::new(PgSettings {
        url: config.warehouse.url.clone(),
        password,
        tls,
        schema: config.warehouse.schema.clone(),
        pipeline: config.coordination.cluster.clone(),
        statement_timeout: config.warehouse.statement_timeout,
        redshift: redshift_settings(config).map(Arc::new),
        merge: pg_merge(config),
    })
    .map_err(|e| ConfigError::Invalid {
        key: "warehouse.url".into(),
        reason: e.to_string(),
    })?;
    Ok(Arc::new(warehouse))
}

/// How the PostgreSQL dialect applies a batch (`warehouse.merge`).
pub fn pg_merge(config: &Config) -> PgMerge {
    match config.warehouse.merge {
        MergeStrategy::Auto => PgMerge::Auto,
        MergeStrategy::DeleteInsert => PgMerge::DeleteInsert,
        MergeStrategy::Merge => PgMerge::Merge,
    }
}

/// The Redshift dialect's settings (`None`: PostgreSQL): staging and each explicit table's
/// physical options.
pub fn redshift_settings(config: &Config) -> Option<RedshiftSettings> {
    if config.warehouse.dialect != Dialect::Redshift {
        return None;
    }
    let tables = config
        .tables
        .iter()
        .filter_map(|t| {
            let options = Some(&t.redshift).filter(|o| !o.is_empty())?;
            let target = t.target_name()?;
            Some((
                target,
                TableOptions {
                    diststyle: options.diststyle.clone(),
                    distkey: options.distkey.clone(),
                    sortkey: options.sortkey.clone(),
                    encode: options
                        .encode
                        .iter()
                        .map(|(c, e)| (c.clone(), e.clone()))
                        .collect(),
                },
            ))
        })
        .collect();
    let redshift = &config.warehouse.redshift;
    let staging = match (redshift.staging, &redshift.s3) {
        (RedshiftStaging::S3, Some(s3)) => Staging::S3(S3Settings {
            bucket: s3.bucket.clone(),
            prefix: s3
                .prefix
                .clone()
                .unwrap_or_else(|| tidemark_config::DEFAULT_S3_PREFIX.to_string()),
            pipeline: config.coordination.cluster.clone(),
            region: Some(s3.region.clone()),
            endpoint: s3.endpoint.clone(),
            iam_role: s3.iam_role.clone(),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }),
        // `validate` refuses S3 staging without its settings.
        _ => Staging::Insert,
    };
    Some(RedshiftSettings { staging, tables })
}

/// A secret from a mounted file, without its trailing newline. The error names the key and
/// the path, never the content.
fn read_secret(path: &str, key: &str) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
        context: format!("reading {key} {path:?}"),
        source,
    })?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

pub fn broker(config: &Config) -> Result<Arc<KafkaBroker>, CliError> {
    let mut properties = config.kafka.properties.clone();
    for (property, path) in &config.kafka.property_files {
        let value = read_secret(path, &format!("kafka.property_files.{property:?}"))?;
        properties.insert(property.clone(), value);
    }
    Ok(Arc::new(KafkaBroker::new(
        &config.kafka.brokers,
        &properties,
        &config.coordination.cluster,
    )?))
}

/// The etcd coordinator of `mode = "etcd"`, with its TLS files and password read.
pub fn coordinator(config: &Config) -> Result<Arc<tidemark_etcd::EtcdCoordinator>, CliError> {
    let c = &config.coordination;
    let read = |path: &Option<String>, key: &str| -> Result<Option<Vec<u8>>, CliError> {
        path.as_deref()
            .map(|p| {
                std::fs::read(p).map_err(|source| CliError::Io {
                    context: format!("reading {key} {p:?}"),
                    source,
                })
            })
            .transpose()
    };
    let identity = match (
        read(&c.cert_file, "coordination.cert_file")?,
        read(&c.key_file, "coordination.key_file")?,
    ) {
        (Some(cert), Some(key)) => Some((cert, key)),
        _ => None,
    };
    let user = match (&c.username, &c.password_file) {
        (Some(name), Some(path)) => Some((
            name.clone(),
            read_secret(path, "coordination.password_file")?,
        )),
        _ => None,
    };
    let security = tidemark_etcd::EtcdSecurity {
        ca_pem: read(&c.ca_file, "coordination.ca_file")?,
        identity,
        user,
    };
    Ok(Arc::new(tidemark_etcd::EtcdCoordinator::new(
        c.endpoints.clone(),
        &c.cluster,
        security,
    )))
}

/// This replica's identity: `TIDEMARK_MEMBER_ID`, else `<hostname>-<pid>`.
pub fn member(config: &Config) -> tidemark_ports::MemberInfo {
    let host = hostname();
    let id = std::env::var("TIDEMARK_MEMBER_ID")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("{host}-{}", std::process::id()));
    let joined_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    tidemark_ports::MemberInfo {
        id,
        address: host,
        slices: config.coordination.slices as u32,
        joined_at_ms,
    }
}

fn hostname() -> String {
    if let Ok(h) = std::env::var("HOSTNAME") {
        if !h.is_empty() {
            return h;
        }
    }
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if let Ok(s) = std::str::from_utf8(&buf[..end]) {
            return s.to_string();
        }
    }
    "tidemark".to_string()
}

/// Runs one future to completion on a current-thread runtime (for short commands).
pub fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            context: "starting runtime".into(),
            source,
        })?;
    Ok(rt.block_on(future))
}
