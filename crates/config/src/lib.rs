//! tidemark's configuration file.
//!
//! Parsing is strict: unknown keys are errors, every value is validated, and errors name the
//! key and what is wrong. Environment variables `TIDEMARK__SECTION__KEY=value` override keys
//! (array items by index: `TIDEMARK__TABLES__0__TARGET`); values are read as TOML values when
//! they parse as one, else as strings.

mod env;
mod redshift;
mod reference;
mod routes;
mod units;

pub use env::apply_env_overrides;
pub use reference::{config_schema, reference_markdown};
pub use routes::{expand, Route, TEMPLATE_VARIABLES};
pub use units::ByteSize;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tidemark_debezium::{BinaryHandling, DecimalHandling, DecodeOptions, TimePrecision};
use tidemark_model::TableName;

pub use redshift::{
    RedshiftConfig, RedshiftS3Config, RedshiftStaging, RedshiftTableConfig, DEFAULT_S3_PREFIX,
    REDSHIFT_ENCODINGS,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config {origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("config key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

/// The whole configuration of one tidemark deployment.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the Debezium topics are read from.
    pub kafka: KafkaConfig,
    /// Where the tables are written.
    pub warehouse: WarehouseConfig,
    /// How replicas share the partitions.
    #[serde(default)]
    pub coordination: CoordinationConfig,
    /// Micro-batch and memory limits.
    #[serde(default)]
    pub batch: BatchConfig,
    /// How values are read where a record does not say (every table; each may override).
    #[serde(default)]
    pub decoding: DecodingConfig,
    /// What happens to a record that cannot be applied.
    #[serde(default)]
    pub errors: ErrorsConfig,
    /// The HTTP endpoints of `run` (health, metrics, status).
    #[serde(default)]
    pub http: HttpConfig,
    /// Traces over OTLP.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// One entry per Debezium topic: the table it is applied to.
    pub tables: Vec<TableConfig>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port…]`.
    pub brokers: String,
    /// Passed to librdkafka as is (security settings, fetch sizes, …). tidemark sets the
    /// properties it depends on (`enable.auto.commit=false`, `auto.offset.reset=error`, …)
    /// after these, so they cannot be overridden by mistake. Security is librdkafka's (built
    /// with OpenSSL): `security.protocol = "SASL_SSL"` (or `SSL`, `SASL_PLAINTEXT`),
    /// `sasl.mechanisms = "SCRAM-SHA-512"` (or `SCRAM-SHA-256`, `PLAIN`, `OAUTHBEARER`),
    /// `sasl.username`, and `ssl.ca.location` for a private CA; the password belongs in
    /// `property_files` or `TIDEMARK__KAFKA__PROPERTIES__SASL.PASSWORD`. A failed
    /// authentication or an untrusted broker certificate ends the run with an error saying so
    /// (it is not retried).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Also commit the applied offsets to Kafka as the consumer group `group.id` (default
    /// `tidemark-<coordination.cluster>`, settable in `properties`), about once a second, so
    /// the usual lag tools show tidemark's progress. Advisory: never read back; the warehouse's
    /// watermarks are what tidemark resumes from.
    #[serde(default = "default_true")]
    pub commit_offsets: bool,
    /// librdkafka properties whose values are read from files at start (a mounted Secret),
    /// e.g. `"sasl.password" = "/var/run/secrets/kafka/password"`, so credentials need not be
    /// in this file; a trailing newline is ignored. They win over `properties`.
    #[serde(default)]
    pub property_files: BTreeMap<String, String>,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    #[default]
    Disable,
    Require,
    VerifyFull,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    #[default]
    Postgres,
    Redshift,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WarehouseConfig {
    /// libpq-style URL or key=value connection string. Its password may instead come from
    /// `password_file`, and the whole URL from `TIDEMARK__WAREHOUSE__URL`.
    pub url: String,
    /// Read the password from this file at start (a mounted Secret) instead of the URL; a
    /// trailing newline is ignored.
    pub password_file: Option<String>,
    /// TLS to the warehouse: `"disable"` (default), `"require"` (encrypted, the certificate not
    /// checked, like libpq's sslmode=require) or `"verify-full"` (encrypted, the certificate
    /// chain checked against `ca_file` and the host name against the certificate: fails
    /// closed).
    #[serde(default)]
    pub tls: TlsMode,
    /// PEM file of the CA certificates `tls = "verify-full"` trusts.
    pub ca_file: Option<String>,
    /// SQL dialect of the warehouse.
    #[serde(default)]
    pub dialect: Dialect,
    /// Schema holding tidemark's own tables (watermarks). Created if missing.
    #[serde(default = "default_schema")]
    pub schema: String,
    /// How long one SQL statement may run (PostgreSQL's `statement_timeout`, set on every
    /// connection tidemark opens) — not a whole transaction. A merge whose statement exceeds it
    /// is rolled back and retried at once with the batch split into 2, 4, then 8 smaller pieces
    /// in one transaction; if a piece still times out, the table stops with an error naming the
    /// statement and this timeout.
    #[serde(default = "default_statement_timeout", with = "units::duration")]
    #[schemars(with = "reference::DurationText", skip_serializing, extend("default" = "5m"))]
    pub statement_timeout: Duration,
    /// Create a target that does not exist from the first record's Kafka Connect schema (the
    /// JSON converter's `schemas.enable=true`): a column per source field, typed as the
    /// Debezium type says, the key fields as primary key. Each table may override it.
    #[serde(default)]
    pub auto_create: bool,
    /// Follow the source's schema: a new source field adds a nullable column, a wider source
    /// type (int → bigint, a longer varchar, more decimal digits) widens its column, in the
    /// transaction of the first batch that needs it. Any other change (a type that is not a
    /// widening, a field that is gone) stops the table with an error saying what changed and
    /// what to do, or, with `errors.mode = "dead_letter"`, sends its records to the dead-letter
    /// table. Each table may override it.
    #[serde(default)]
    pub auto_evolve: bool,
    /// Amazon Redshift settings (`dialect = "redshift"`): how rows are staged.
    #[serde(default)]
    pub redshift: RedshiftConfig,
    /// How a batch is applied to a PostgreSQL target (`dialect = "postgres"` only). The rows
    /// are the same with each; `tidemark sql` shows the statements chosen for each table.
    #[serde(default)]
    pub merge: MergeStrategy,
}

/// How a batch is applied to a PostgreSQL target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MergeStrategy {
    /// `INSERT … ON CONFLICT (key) DO UPDATE` (an update in place, HOT when no indexed column
    /// changes) plus a `DELETE` of deleted keys, when a unique index or primary key is on
    /// exactly the key columns, with the batch's values bound as one array per column instead
    /// of copied into the stage (the stage still takes a batch with unchanged TOASTed values,
    /// or with soft deletes, or array columns); otherwise `"delete-insert"`.
    #[default]
    Auto,
    /// Delete every row whose key the batch changes, then insert the new versions, whatever
    /// the target's indexes: an update reaches triggers and logical decoding as a DELETE and an
    /// INSERT.
    DeleteInsert,
    /// PostgreSQL 15's `MERGE` (update in place or insert) plus a `DELETE` of deleted keys;
    /// needs no unique index, fails on servers before 15.
    Merge,
}

fn default_schema() -> String {
    "tidemark".to_string()
}

fn default_statement_timeout() -> Duration {
    Duration::from_secs(300)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CoordinationMode {
    /// One replica, no etcd: it owns every partition.
    #[default]
    Standalone,
    /// Several replicas coordinated through etcd leases.
    Etcd,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoordinationConfig {
    /// Whether replicas coordinate: `"standalone"` (default; one replica owns every
    /// partition) or `"etcd"` (several replicas share the partitions through etcd leases).
    #[serde(default)]
    pub mode: CoordinationMode,
    /// Partition-owner actors per replica; each has its own Kafka consumer and thread.
    #[serde(default = "default_slices")]
    pub slices: usize,
    /// Name of this pipeline: namespaces watermarks and etcd keys, so several pipelines can
    /// share one warehouse and one etcd.
    #[serde(default = "default_cluster")]
    pub cluster: String,
    /// etcd endpoints (mode = "etcd").
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// etcd lease time-to-live (mode = "etcd").
    #[serde(default = "default_lease_ttl", with = "units::duration")]
    #[schemars(with = "reference::DurationText", skip_serializing, extend("default" = "10s"))]
    pub lease_ttl: Duration,
    /// PEM file of the CA certificates that sign etcd's server certificate. Setting it turns
    /// TLS on: the endpoints must then be `https://` (and an `https://` endpoint needs it).
    /// The certificate is checked against the CA and the endpoint's host name (fails closed).
    pub ca_file: Option<String>,
    /// Client certificate (PEM) for an etcd started with `--client-cert-auth`; needs
    /// `key_file` and `ca_file`.
    pub cert_file: Option<String>,
    /// Private key (PEM) of `cert_file`.
    pub key_file: Option<String>,
    /// etcd user, for an etcd with authentication enabled (`etcdctl auth enable`); its
    /// password is read from `password_file`. A wrong user or password stops the replica
    /// with an error saying so (not retried).
    pub username: Option<String>,
    /// File holding the password of `username` (a mounted Secret); a trailing newline is
    /// ignored.
    pub password_file: Option<String>,
}

fn default_slices() -> usize {
    1
}
fn default_cluster() -> String {
    "tidemark".to_string()
}
fn default_lease_ttl() -> Duration {
    Duration::from_secs(10)
}

impl Default for CoordinationConfig {
    fn default() -> Self {
        Self {
            mode: CoordinationMode::default(),
            slices: default_slices(),
            cluster: default_cluster(),
            endpoints: Vec::new(),
            lease_ttl: default_lease_ttl(),
            ca_file: None,
            cert_file: None,
            key_file: None,
            username: None,
            password_file: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// A micro-batch is sent to its table's merge once it holds this many ranked rows (or
    /// `max_bytes`, or its oldest record has waited `linger`).
    #[serde(default = "default_max_rows")]
    pub max_rows: usize,
    /// A micro-batch is sent to its table's merge once it holds this many bytes of decoded
    /// rows (or `max_rows`, or its oldest record has waited `linger`).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
    /// How long a partial micro-batch may wait. A table's records go to its merge as soon as
    /// none of the owner's batches of the table is being merged (group commit); behind a
    /// running merge they wait until it ends, `max_rows` or `max_bytes`, or this long.
    #[serde(default = "default_linger", with = "units::duration")]
    #[schemars(with = "reference::DurationText", skip_serializing, extend("default" = "200ms"))]
    pub linger: Duration,
    /// Batches of one owner that may wait for or be in a merge at once; more is backpressure.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Cap on record bytes held by one replica between fetch and commit: memory stays bounded for a backlog of any size.
    #[serde(default = "default_max_in_flight_bytes")]
    pub max_in_flight_bytes: ByteSize,
}

fn default_max_rows() -> usize {
    10_000
}
fn default_max_bytes() -> ByteSize {
    ByteSize(32 << 20)
}
fn default_linger() -> Duration {
    Duration::from_millis(200)
}
fn default_max_in_flight() -> usize {
    2
}
fn default_max_in_flight_bytes() -> ByteSize {
    ByteSize(256 << 20)
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_rows: default_max_rows(),
            max_bytes: default_max_bytes(),
            linger: default_linger(),
            max_in_flight: default_max_in_flight(),
            max_in_flight_bytes: default_max_in_flight_bytes(),
        }
    }
}

/// The Debezium connector settings that the messages were produced with, where the messages
/// themselves do not say: without the schema envelope (`value.converter.schemas.enable=false`)
/// a field is read as its target column's type and these settings say. Same names and values
/// as the connector options.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecodingConfig {
    /// `decimal.handling.mode`: `"precise"` (default; base64 unscaled bytes, the scale from the
    /// schema or the column's `numeric(p,s)`), `"string"` or `"double"`. Numbers are always
    /// read from their JSON text, never through a float.
    #[serde(default)]
    #[schemars(with = "reference::DecimalHandlingValues", extend("default" = "precise"))]
    pub decimal_handling: DecimalHandling,
    /// `time.precision.mode`: `"adaptive"` (default; ms for a column of precision ≤ 3, else
    /// µs), `"micro"` (adaptive_time_microseconds) or `"connect"` (ms throughout).
    #[serde(default)]
    #[schemars(with = "reference::TimePrecisionValues", extend("default" = "adaptive"))]
    pub time_precision: TimePrecision,
    /// `binary.handling.mode`: `"base64"` (default), `"base64-url-safe"` or `"hex"`.
    #[serde(default)]
    #[schemars(with = "reference::BinaryHandlingValues", extend("default" = "base64"))]
    pub binary_handling: BinaryHandling,
}

/// What happens to a record that cannot be applied: one that is not valid JSON or not a
/// Debezium event, has no key, or has a value that cannot be read as its column's type.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorsConfig {
    /// `"fail"` (default): the table stops with an error naming the record (topic, partition,
    /// offset) and what is wrong. `"dead_letter"`: the record goes to
    /// `<warehouse.schema>.dead_letters` (its key and value bytes, the error, where it was
    /// read) in the transaction that advances past it, is counted, and the records around it
    /// still apply.
    #[serde(default)]
    pub mode: ErrorMode,
}

/// The HTTP endpoints `run` serves on one port: `/healthz` (the process is alive), `/readyz`
/// (connected to Kafka and the warehouse, holding its lease in etcd mode, not draining: 200,
/// else 503 with the reasons), `/metrics` (Prometheus text format) and `/status` (the JSON of
/// `tidemark status --json`). `refresh` and the other commands serve none.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Serve the endpoints in `run`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Address to listen on, `host:port`.
    #[serde(default = "default_listen")]
    pub listen: String,
}

fn default_listen() -> String {
    "0.0.0.0:9187".to_string()
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: default_listen(),
        }
    }
}

/// Traces over OTLP, one trace per micro-batch, exported by `run` and `refresh`: off unless an
/// endpoint is set. The standard OpenTelemetry variables win over these keys, each on its own:
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the traces URL as is) or `OTEL_EXPORTER_OTLP_ENDPOINT`
/// over `otlp_endpoint`, `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL`
/// over `otlp_protocol`, `OTEL_SERVICE_NAME` over `service_name`; `OTEL_EXPORTER_OTLP_HEADERS`
/// adds to `otlp_headers` and wins for a header both name; `OTEL_SDK_DISABLED=true` turns traces
/// off. Timeouts and compression are the exporter's `OTEL_EXPORTER_OTLP_*` variables.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The collector's OTLP address, like `OTEL_EXPORTER_OTLP_ENDPOINT`:
    /// `"http://otel-collector:4318"` for http/protobuf (spans are posted to its `/v1/traces`)
    /// or `"http://otel-collector:4317"` for grpc (`https://` for TLS). Absent or empty: no
    /// traces.
    pub otlp_endpoint: Option<String>,
    /// How spans are sent to the collector.
    #[serde(default)]
    pub otlp_protocol: OtlpProtocol,
    /// The `service.name` of the traces' resource.
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// Headers (gRPC metadata) sent with every export, e.g. `authorization = "Bearer …"` for a
    /// collector that wants credentials; better set from the environment
    /// (`TIDEMARK__TELEMETRY__OTLP_HEADERS__AUTHORIZATION`) than written here. Their values are
    /// never logged.
    #[serde(default)]
    pub otlp_headers: BTreeMap<String, Secret>,
}

fn default_service_name() -> String {
    "tidemark".to_string()
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            otlp_protocol: OtlpProtocol::default(),
            service_name: default_service_name(),
            otlp_headers: BTreeMap::new(),
        }
    }
}

/// An OTLP transport, named as `OTEL_EXPORTER_OTLP_PROTOCOL` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, Serialize, JsonSchema)]
pub enum OtlpProtocol {
    /// Protobuf over HTTP (the collector's port 4318).
    #[default]
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// gRPC (the collector's port 4317).
    #[serde(rename = "grpc")]
    Grpc,
}

/// A string that is never shown: its `Debug` is `"<redacted>"`, so a logged config cannot leak
/// it. [`Secret::expose`] is the value.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorMode {
    #[default]
    Fail,
    DeadLetter,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// The Debezium topic of one source table (or `topics`).
    pub topic: Option<String>,
    /// Instead of `topic`: a regular expression (matching whole topic names, e.g.
    /// `'^salesdb\.salesdb\..*'`) that routes every matching topic of the broker to a table
    /// named by the `target` template, with this entry's settings. A topic an explicit
    /// `topic = …` entry names is routed by that entry; otherwise the first matching pattern
    /// entry routes it; names starting with `__` are never matched. Matching topics created
    /// later are picked up within seconds in `run` (the replica drains and restarts its
    /// sessions with the new tables).
    pub topics: Option<String>,
    /// The target table, `schema.table` (or `table` for schema `public`). It must exist, unless
    /// `auto_create` is on. With `topics`, a template: `${table}` is the topic's last
    /// dot-separated part, `${schema}` the one before, `${prefix}` the first, `${topic}` all
    /// of it (`"public.${table}"`, `"${schema}.${table}"`).
    pub target: String,
    /// Source fields forming the row key. Default: the Kafka message key's fields.
    pub key: Option<Vec<String>>,
    /// Renames, source field = target column. Unlisted fields keep their names.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// Target columns tidemark never writes (their DEFAULT applies), e.g. a load timestamp.
    #[serde(default)]
    pub unmanaged_columns: Vec<String>,
    /// Only these source fields are written (default: every field the target has a column
    /// for). Key fields must be among them.
    pub include_fields: Option<Vec<String>>,
    /// Source fields never written (e.g. a PII column), even if the target has a column.
    #[serde(default)]
    pub exclude_fields: Vec<String>,
    /// What a truncate of the source table (Debezium `op = "t"`) does: `"ignore"` (default;
    /// logged with its offset) or `"apply"` (the target is emptied in the merge that passes
    /// the truncate, before the changes that follow it).
    #[serde(default)]
    pub truncate: TruncateMode,
    /// Overrides `decoding.decimal_handling` for this table.
    #[schemars(with = "Option<reference::DecimalHandlingValues>")]
    pub decimal_handling: Option<DecimalHandling>,
    /// Overrides `decoding.time_precision` for this table.
    #[schemars(with = "Option<reference::TimePrecisionValues>")]
    pub time_precision: Option<TimePrecision>,
    /// Overrides `decoding.binary_handling` for this table.
    #[schemars(with = "Option<reference::BinaryHandlingValues>")]
    pub binary_handling: Option<BinaryHandling>,
    /// Overrides `errors.mode` for this table.
    pub errors: Option<ErrorMode>,
    /// Also land every record of the topic as read in this table (created if missing):
    /// topic, partition, offset, Kafka timestamp, key (bytes), value (jsonb), headers (jsonb),
    /// op and the time it was applied — like the landing table of a streaming materialized
    /// view, but written in the transaction that applies the record, exactly once. Records that
    /// go to the dead-letter table are not landed. With `topics`, a template like `target`;
    /// several topics may share one raw table.
    pub raw_table: Option<String>,
    /// Overrides `warehouse.auto_create` for this table.
    pub auto_create: Option<bool>,
    /// Overrides `warehouse.auto_evolve` for this table.
    pub auto_evolve: Option<bool>,
    /// What a source delete does: `"hard"` (default) removes the row; `"soft"` keeps it and
    /// marks it: the target must have the columns `__deleted boolean` and `__deleted_at
    /// timestamptz` (set to true and the merge's time; an upsert of the key sets them to
    /// false and NULL). tidemark writes nothing else of a deleted row.
    #[serde(default)]
    pub delete_mode: DeleteMode,
    /// With `dialect = "redshift"`: the table's `DISTSTYLE`, `DISTKEY`, `SORTKEY` and column
    /// encodings when `auto_create` creates it.
    #[serde(default)]
    pub redshift: RedshiftTableConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeleteMode {
    #[default]
    Hard,
    Soft,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TruncateMode {
    #[default]
    Ignore,
    Apply,
}

impl TableConfig {
    /// The parsed target name of an explicit entry (`None` for a pattern entry, whose target
    /// is a template); validated by [`Config::validate`].
    pub fn target_name(&self) -> Option<TableName> {
        match self.topics {
            Some(_) => None,
            None => TableName::parse(&self.target),
        }
    }
}

impl Config {
    /// Reads, applies `TIDEMARK__…` environment overrides, parses and validates.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml_with_env(&text, &path.display().to_string(), std::env::vars())
    }

    /// Parses TOML text (no environment), then validates.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::from_toml_with_env(text, "text", std::iter::empty())
    }

    pub fn from_toml_with_env(
        text: &str,
        origin: &str,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    origin: origin.to_string(),
                    message: e.to_string(),
                })?;
        apply_env_overrides(&mut table, env)?;
        let config: Config = Config::deserialize(table).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot: non-empty names, sane limits, unique topics/targets.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: &str| ConfigError::Invalid {
            key: key.to_string(),
            reason: reason.to_string(),
        };
        if self.kafka.brokers.trim().is_empty() {
            return Err(invalid("kafka.brokers", "must not be empty"));
        }
        if self.warehouse.url.trim().is_empty() {
            return Err(invalid("warehouse.url", "must not be empty"));
        }
        if self.warehouse.tls == TlsMode::VerifyFull && self.warehouse.ca_file.is_none() {
            return Err(invalid(
                "warehouse.ca_file",
                "tls = \"verify-full\" needs the PEM file of the CA certificates to trust",
            ));
        }
        if self.warehouse.schema.is_empty() {
            return Err(invalid("warehouse.schema", "must not be empty"));
        }
        self.validate_redshift()?;
        if self.http.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                "http.listen",
                "must be `address:port`, e.g. \"0.0.0.0:9187\"",
            ));
        }
        let c = &self.coordination;
        if c.slices == 0 || c.slices > 256 {
            return Err(invalid("coordination.slices", "must be between 1 and 256"));
        }
        if c.cluster.is_empty() {
            return Err(invalid("coordination.cluster", "must not be empty"));
        }
        if c.mode == CoordinationMode::Etcd {
            if c.endpoints.is_empty() || c.endpoints.iter().any(|e| e.trim().is_empty()) {
                return Err(invalid(
                    "coordination.endpoints",
                    "mode = \"etcd\" needs at least one endpoint, e.g. [\"http://127.0.0.1:2379\"]",
                ));
            }
            if c.lease_ttl < Duration::from_secs(2) || c.lease_ttl > Duration::from_secs(300) {
                return Err(invalid(
                    "coordination.lease_ttl",
                    "must be between 2s and 300s",
                ));
            }
            if c.cluster.contains('/') {
                return Err(invalid("coordination.cluster", "must not contain '/'"));
            }
            let tls = c.ca_file.is_some();
            if let Some(e) = c
                .endpoints
                .iter()
                .find(|e| e.starts_with("https://") != tls)
            {
                return Err(invalid(
                    "coordination.endpoints",
                    &if tls {
                        format!("{e:?}: with coordination.ca_file set, endpoints are https://")
                    } else {
                        format!("{e:?}: an https:// endpoint needs coordination.ca_file")
                    },
                ));
            }
            if c.cert_file.is_some() != c.key_file.is_some() {
                return Err(invalid(
                    "coordination.cert_file",
                    "a client certificate needs both cert_file and key_file",
                ));
            }
            if c.cert_file.is_some() && !tls {
                return Err(invalid(
                    "coordination.cert_file",
                    "a client certificate needs TLS: set coordination.ca_file",
                ));
            }
            if c.username.is_some() != c.password_file.is_some() {
                return Err(invalid(
                    "coordination.username",
                    "etcd authentication needs both username and password_file",
                ));
            }
        }
        let b = &self.batch;
        if b.max_rows == 0 {
            return Err(invalid("batch.max_rows", "must be at least 1"));
        }
        if b.max_bytes.0 < 1024 {
            return Err(invalid("batch.max_bytes", "must be at least 1KiB"));
        }
        if b.linger.is_zero() {
            return Err(invalid("batch.linger", "must be greater than zero"));
        }
        if b.max_in_flight == 0 {
            return Err(invalid("batch.max_in_flight", "must be at least 1"));
        }
        if b.max_in_flight_bytes.0 < 1 << 20 {
            return Err(invalid(
                "batch.max_in_flight_bytes",
                "must be at least 1MiB",
            ));
        }
        if self.tables.is_empty() {
            return Err(invalid(
                "tables",
                "at least one [[tables]] entry is required",
            ));
        }
        let mut topics = BTreeSet::new();
        let mut targets = BTreeSet::new();
        for (i, t) in self.tables.iter().enumerate() {
            let key = |k: &str| format!("tables[{i}].{k}");
            match (&t.topic, &t.topics) {
                (Some(topic), None) => {
                    if topic.is_empty() {
                        return Err(invalid(&key("topic"), "must not be empty"));
                    }
                    if !topics.insert(topic.as_str()) {
                        return Err(invalid(
                            &key("topic"),
                            &format!("topic {topic:?} is listed twice"),
                        ));
                    }
                    if t.target.contains("${") {
                        return Err(invalid(
                            &key("target"),
                            "only a pattern entry (`topics = …`) may use ${…} variables",
                        ));
                    }
                    let Some(target) = t.target_name() else {
                        return Err(invalid(
                            &key("target"),
                            &format!("{:?} is not `schema.table` or `table`", t.target),
                        ));
                    };
                    if !targets.insert(target) {
                        return Err(invalid(
                            &key("target"),
                            &format!("target {:?} is fed by two topics", t.target),
                        ));
                    }
                    if let Some(raw) = &t.raw_table {
                        if raw.contains("${") || TableName::parse(raw).is_none() {
                            return Err(invalid(
                                &key("raw_table"),
                                &format!("{raw:?} is not `schema.table` or `table`"),
                            ));
                        }
                    }
                }
                (None, Some(pattern)) => {
                    if let Err(e) = routes::compile(pattern) {
                        return Err(invalid(
                            &key("topics"),
                            &format!("not a regular expression: {e}"),
                        ));
                    }
                    if let Some(e) = routes::template_error(&t.target) {
                        return Err(invalid(&key("target"), &e));
                    }
                    if let Some(e) = t.raw_table.as_deref().and_then(routes::template_error) {
                        return Err(invalid(&key("raw_table"), &e));
                    }
                }
                _ => {
                    return Err(invalid(
                        &key("topic"),
                        "exactly one of `topic` (one topic) or `topics` (a regular expression \
                         over topic names) is required",
                    ))
                }
            }
            if let Some(k) = &t.key {
                if k.is_empty() || k.iter().any(|f| f.is_empty()) {
                    return Err(invalid(
                        &key("key"),
                        "must list at least one non-empty field",
                    ));
                }
            }
            if t.include_fields.is_some() && !t.exclude_fields.is_empty() {
                return Err(invalid(
                    &key("include_fields"),
                    "give include_fields or exclude_fields, not both",
                ));
            }
            if let (Some(k), Some(include)) = (&t.key, &t.include_fields) {
                if let Some(f) = k.iter().find(|f| !include.contains(f)) {
                    return Err(invalid(
                        &key("include_fields"),
                        &format!("key field {f:?} must be included"),
                    ));
                }
            }
            if let Some(f) = t
                .key
                .iter()
                .flatten()
                .find(|f| t.exclude_fields.contains(f))
            {
                return Err(invalid(
                    &key("exclude_fields"),
                    &format!("key field {f:?} cannot be excluded"),
                ));
            }
            let mut renamed_to = BTreeSet::new();
            for (source, target) in &t.columns {
                if source.is_empty() || target.is_empty() {
                    return Err(invalid(&key("columns"), "names must not be empty"));
                }
                if !renamed_to.insert(target.as_str()) {
                    return Err(invalid(
                        &key("columns"),
                        &format!("two fields are renamed to {target:?}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// How a table's values are read: its own settings over `[decoding]`'s.
    pub fn decode_options(&self, table: &TableConfig) -> DecodeOptions {
        DecodeOptions {
            decimal_handling: table
                .decimal_handling
                .unwrap_or(self.decoding.decimal_handling),
            time_precision: table.time_precision.unwrap_or(self.decoding.time_precision),
            binary_handling: table
                .binary_handling
                .unwrap_or(self.decoding.binary_handling),
            capacity: match self.warehouse.dialect {
                Dialect::Postgres => tidemark_model::Capacity::Postgres,
                Dialect::Redshift => tidemark_model::Capacity::Redshift,
            },
        }
    }

    /// Whether a table's records that cannot be applied go to the dead-letter table.
    pub fn dead_letters(&self, table: &TableConfig) -> bool {
        table.errors.unwrap_or(self.errors.mode) == ErrorMode::DeadLetter
    }

    /// Whether a table's target is created from, and follows, the source's schema.
    pub fn evolution(&self, table: &TableConfig) -> tidemark_model::Evolution {
        tidemark_model::Evolution {
            auto_create: table.auto_create.unwrap_or(self.warehouse.auto_create),
            auto_evolve: table.auto_evolve.unwrap_or(self.warehouse.auto_evolve),
        }
    }
}

#[cfg(test)]
mod tests;
