//! The PostgreSQL adapter of [`tidemark_ports::Warehouse`].
//!
//! tidemark's own state lives in `<schema>.watermarks`: one row per (pipeline, topic,
//! partition) with the next offset to read and the epoch of the owner that wrote it. Every
//! merge upserts those rows in the same transaction as the rows it applies, guarded by the
//! epoch, so progress and data can never disagree and a stale owner can never commit.

mod bound;
mod cell;
mod convert;
mod ddl;
mod diagnose;
pub mod dry_run;
mod encode;
mod error;
mod failpoint;
mod fence;
mod merge_sql;
pub mod redshift;
mod s3_stage;
mod sql;
mod stage;
mod tls;
mod writer;

pub use error::classify;
use error::column;
pub use merge_sql::{KeyIndex, PgMerge, TargetShape};
pub use sql::{quote_ident, quote_table};
pub use tls::{client_config, TlsSetting};
pub use writer::PgTableWriter;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tidemark_model::{
    ColumnType, ElementType, Epoch, LayoutCell, TableName, TargetColumn, TopicPartition, Watermark,
};
use tidemark_ports::{TableWriter, Warehouse, WarehouseError};
use tokio_postgres::{Client, NoTls};

/// Settings of the adapter, from the `[warehouse]` and `[coordination]` config sections.
#[derive(Clone)]
pub struct PgSettings {
    /// Connection string (URL or key=value).
    pub url: String,
    /// The password, when it does not come with the URL (`warehouse.password_file`).
    pub password: Option<String>,
    /// TLS for every connection (`warehouse.tls`); `None`: plain TCP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Schema of tidemark's own tables.
    pub schema: String,
    /// Pipeline name: the first column of every watermark key.
    pub pipeline: String,
    /// Upper bound for one statement (a merge's statements included).
    pub statement_timeout: Duration,
    /// The dialect: `None` for PostgreSQL, else Amazon Redshift's settings. Ranking, fencing
    /// and exactly-once are the same; staging, the merge's statements, the DDL and tidemark's
    /// own tables are the dialect's.
    pub redshift: Option<Arc<redshift::RedshiftSettings>>,
    /// How the PostgreSQL dialect applies a batch (`warehouse.merge`); unused on Redshift.
    pub merge: PgMerge,
}

/// Without the URL and the password: they may hold credentials.
impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("url", &"<redacted>")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls.is_some())
            .field("schema", &self.schema)
            .field("pipeline", &self.pipeline)
            .field("statement_timeout", &self.statement_timeout)
            .field("redshift", &self.redshift)
            .field("merge", &self.merge)
            .finish()
    }
}

/// A PostgreSQL warehouse. Each call that is not a table write opens a short-lived
/// connection, so a restarted server is simply picked up by the next call.
pub struct PgWarehouse {
    settings: Arc<PgSettings>,
}

impl PgWarehouse {
    /// Checks the connection string (no network).
    pub fn new(settings: PgSettings) -> Result<Self, WarehouseError> {
        settings
            .url
            .parse::<tokio_postgres::Config>()
            .map_err(|e| WarehouseError::Statement {
                context: "parsing warehouse.url".into(),
                sqlstate: None,
                message: e.to_string(),
            })?;
        Ok(Self {
            settings: Arc::new(settings),
        })
    }

    fn watermarks_table(&self) -> String {
        sql::watermarks_table(&self.settings.schema)
    }

    /// The target's primary key columns in key order (empty: none or no such table): what
    /// `tidemark sql` assumes a message-keyed table is keyed by before a record says. Read only.
    /// What the target's indexes let the PostgreSQL merge do by `key_columns` (of `layout`),
    /// as the writer finds it at its first merge; `None` on Redshift (no indexes). Read-only.
    pub async fn target_shape(
        &self,
        layout: &tidemark_model::TableLayout,
        key_columns: &[usize],
    ) -> Result<Option<TargetShape>, WarehouseError> {
        if self.settings.redshift.is_some() {
            return Ok(None);
        }
        let client = connect(&self.settings, "checking for a key index").await?;
        let key: Vec<String> = key_columns
            .iter()
            .filter_map(|&i| layout.columns.get(i).map(|c| c.name.clone()))
            .collect();
        writer::target_shape(&client, layout, &key).await.map(Some)
    }

    pub async fn primary_key(&self, table: &TableName) -> Result<Vec<String>, WarehouseError> {
        if self.settings.redshift.is_some() {
            return redshift::ops::primary_key(&self.settings, table).await;
        }
        let ctx = "reading the target's primary key";
        let client = connect(&self.settings, ctx).await?;
        let rows = client
            .query(sql::PRIMARY_KEY, &[&table.schema, &table.name])
            .await
            .map_err(|e| classify(e, ctx))?;
        rows.iter().map(|r| column::<String>(r, 0, ctx)).collect()
    }
}

/// Opens a connection and drives it on the current runtime.
pub(crate) async fn connect(
    settings: &PgSettings,
    context: &str,
) -> Result<Client, WarehouseError> {
    let mut config: tokio_postgres::Config =
        settings.url.parse().map_err(|e| classify(e, context))?;
    if let Some(password) = &settings.password {
        config.password(password);
    }
    let client = match &settings.tls {
        None => open(&config, NoTls, context).await?,
        Some(tls) => {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new((**tls).clone());
            open(&config, tls, context).await?
        }
    };
    let timeout_ms = settings.statement_timeout.as_millis().to_string();
    client
        .execute(
            "SELECT set_config('statement_timeout', $1, false)",
            &[&timeout_ms],
        )
        .await
        .map_err(|e| classify(e, "setting statement_timeout"))?;
    Ok(client)
}

/// Connects with `tls` and drives the connection on a task of its own.
async fn open<T>(
    config: &tokio_postgres::Config,
    tls: T,
    context: &str,
) -> Result<Client, WarehouseError>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config
        .connect(tls)
        .await
        .map_err(|e| classify(e, context))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "warehouse connection ended");
        }
    });
    Ok(client)
}

#[async_trait]
impl Warehouse for PgWarehouse {
    async fn prepare(&self) -> Result<(), WarehouseError> {
        if self.settings.redshift.is_some() {
            return redshift::ops::prepare(&self.settings).await;
        }
        let mut client = connect(&self.settings, "preparing tidemark schema").await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| classify(e, "preparing tidemark schema"))?;
        // Concurrent replicas may prepare at once; CREATE … IF NOT EXISTS alone races on the
        // catalog, so serialize on an advisory lock.
        tx.execute(sql::LOCK_PREPARE, &[])
            .await
            .map_err(|e| classify(e, "locking for schema creation"))?;
        for statement in sql::prepare_statements(&self.settings.schema) {
            tx.batch_execute(&statement)
                .await
                .map_err(|e| classify(e, "creating tidemark schema"))?;
        }
        tx.commit()
            .await
            .map_err(|e| classify(e, "committing tidemark schema"))
    }

    async fn prepare_landing(&self, table: &TableName) -> Result<(), WarehouseError> {
        let ctx = "creating the raw landing table";
        if self.settings.redshift.is_some() {
            // Refused by config validation first.
            return Err(WarehouseError::Table {
                table: table.clone(),
                reason: "raw landing tables are not supported on Redshift".into(),
            });
        }
        let mut client = connect(&self.settings, ctx).await?;
        let tx = client.transaction().await.map_err(|e| classify(e, ctx))?;
        tx.execute(sql::LOCK_PREPARE, &[])
            .await
            .map_err(|e| classify(e, ctx))?;
        for statement in sql::create_landing(table) {
            tx.batch_execute(&statement)
                .await
                .map_err(|e| classify(e, ctx))?;
        }
        tx.commit().await.map_err(|e| classify(e, ctx))
    }

    async fn stored_key(&self, table: &TableName) -> Result<Option<Vec<String>>, WarehouseError> {
        if self.settings.redshift.is_some() {
            return redshift::ops::stored_key(&self.settings, table).await;
        }
        let client = connect(&self.settings, "reading the recorded key").await?;
        let row = client
            .query_opt(
                &sql::stored_key(&sql::table_keys_table(&self.settings.schema)),
                &[&self.settings.pipeline, &table.to_string()],
            )
            .await
            .map_err(|e| classify(e, "reading the recorded key"))?;
        row.map(|r| column::<Vec<String>>(&r, 0, "reading the recorded key"))
            .transpose()
    }

    async fn describe(
        &self,
        table: &TableName,
    ) -> Result<Option<Vec<(String, ColumnType, String)>>, WarehouseError> {
        if self.settings.redshift.is_some() {
            return redshift::ops::describe(&self.settings, table).await;
        }
        let client = connect(&self.settings, "describing target table").await?;
        let rows = client
            .query(sql::DESCRIBE, &[&quote_table(table)])
            .await
            .map_err(|e| classify(e, "describing target table"))?;
        let columns = described_columns(&rows)?;
        Ok((!columns.is_empty()).then(|| {
            columns
                .into_iter()
                .map(|c| (c.name, c.ty, c.sql_type))
                .collect()
        }))
    }

    async fn next_epoch(&self) -> Result<Epoch, WarehouseError> {
        if self.settings.redshift.is_some() {
            return redshift::ops::next_epoch(&self.settings).await;
        }
        let client = connect(&self.settings, "choosing an epoch").await?;
        let row = client
            .query_one(
                &sql::next_epoch(&self.watermarks_table()),
                &[&self.settings.pipeline],
            )
            .await
            .map_err(|e| classify(e, "choosing an epoch"))?;
        let epoch: i64 = row
            .try_get(0)
            .map_err(|e| classify(e, "choosing an epoch"))?;
        Ok(Epoch(epoch))
    }

    async fn claim(
        &self,
        tps: &[TopicPartition],
        epoch: Epoch,
    ) -> Result<Vec<Option<i64>>, WarehouseError> {
        if self.settings.redshift.is_some() {
            return redshift::ops::claim(&self.settings, tps, epoch).await;
        }
        let mut client = connect(&self.settings, "claiming partitions").await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| classify(e, "claiming partitions"))?;
        let topics: Vec<&str> = tps.iter().map(|tp| &*tp.topic).collect();
        let partitions: Vec<i32> = tps.iter().map(|tp| tp.partition).collect();
        let rows = tx
            .query(
                &sql::claim(&self.watermarks_table()),
                &[&self.settings.pipeline, &topics, &partitions, &epoch.0],
            )
            .await
            .map_err(|e| classify(e, "claiming partitions"))?;
        let mut next = Vec::with_capacity(tps.len());
        for tp in tps {
            let found = rows
                .iter()
                .find(|r| r.get::<_, &str>(0) == &*tp.topic && r.get::<_, i32>(1) == tp.partition);
            match found {
                Some(row) => next.push(row.get::<_, Option<i64>>(2)),
                None => {
                    let stored =
                        stored_epoch(&tx, &self.watermarks_table(), &self.settings.pipeline, tp)
                            .await?;
                    return Err(WarehouseError::Fenced {
                        tp: tp.clone(),
                        epoch,
                        stored,
                    });
                }
            }
        }
        tx.commit()
            .await
            .map_err(|e| classify(e, "committing partition claim"))?;
        Ok(next)
    }

    async fn watermarks(&self) -> Result<Vec<Watermark>, WarehouseError> {
        if self.settings.redshift.is_some() {
            return redshift::ops::watermarks(&self.settings).await;
        }
        let client = connect(&self.settings, "reading watermarks").await?;
        let rows = client
            .query(
                &sql::select_watermarks(&self.watermarks_table()),
                &[&self.settings.pipeline],
            )
            .await
            .map_err(|e| classify(e, "reading watermarks"))?;
        let ctx = "reading watermarks";
        let mut marks = Vec::with_capacity(rows.len());
        for r in &rows {
            if let Some(next_offset) = column::<Option<i64>>(r, 2, ctx)? {
                marks.push(Watermark {
                    tp: TopicPartition::new(
                        column::<String>(r, 0, ctx)?,
                        column::<i32>(r, 1, ctx)?,
                    ),
                    next_offset,
                    epoch: Epoch(column(r, 3, ctx)?),
                });
            }
        }
        Ok(marks)
    }

    async fn writer(
        &self,
        layout: Arc<LayoutCell>,
    ) -> Result<Box<dyn TableWriter>, WarehouseError> {
        if let Some(rs) = &self.settings.redshift {
            return Ok(Box::new(redshift::RedshiftTableWriter::new(
                self.settings.clone(),
                rs.clone(),
                layout,
            )?));
        }
        Ok(Box::new(PgTableWriter::new(
            self.settings.clone(),
            layout,
            self.watermarks_table(),
        )))
    }
}

pub(crate) async fn stored_epoch(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    pipeline: &str,
    tp: &TopicPartition,
) -> Result<Epoch, WarehouseError> {
    let row = tx
        .query_opt(
            &sql::stored_epoch(table),
            &[&pipeline, &&*tp.topic, &tp.partition],
        )
        .await
        .map_err(|e| classify(e, "reading stored epoch"))?;
    match row {
        Some(r) => Ok(Epoch(column(&r, 0, "reading stored epoch")?)),
        None => Ok(Epoch(i64::MIN)),
    }
}

/// How a column of a built-in type (its `pg_type.typname`) is staged. Arrays are `_` and
/// their element's name; an array is encoded natively when its element type is.
fn column_type(type_name: &str) -> ColumnType {
    if let Some(element) = type_name.strip_prefix('_') {
        return match element_type(element) {
            Some(e) => ColumnType::Array(e),
            None => ColumnType::Other,
        };
    }
    match type_name {
        "bool" => ColumnType::Bool,
        "int2" => ColumnType::Int16,
        "int4" => ColumnType::Int32,
        "int8" => ColumnType::Int64,
        "float4" => ColumnType::Float32,
        "float8" => ColumnType::Float64,
        "numeric" => ColumnType::Numeric,
        "text" | "varchar" | "bpchar" => ColumnType::Text,
        "bytea" | "varbyte" => ColumnType::Bytes,
        "date" => ColumnType::Date,
        "time" => ColumnType::Time,
        "timetz" => ColumnType::TimeTz,
        "timestamp" => ColumnType::Timestamp,
        "timestamptz" => ColumnType::TimestampTz,
        "interval" => ColumnType::Interval,
        "uuid" => ColumnType::Uuid,
        // Redshift's SUPER holds JSON documents and arrays.
        "json" | "super" => ColumnType::Json,
        "jsonb" => ColumnType::Jsonb,
        "bit" | "varbit" => ColumnType::Bits,
        _ => ColumnType::Other,
    }
}

fn element_type(type_name: &str) -> Option<ElementType> {
    Some(match type_name {
        "bool" => ElementType::Bool,
        "int2" => ElementType::Int16,
        "int4" => ElementType::Int32,
        "int8" => ElementType::Int64,
        "float4" => ElementType::Float32,
        "float8" => ElementType::Float64,
        "numeric" => ElementType::Numeric,
        "text" | "varchar" | "bpchar" => ElementType::Text,
        "uuid" => ElementType::Uuid,
        "date" => ElementType::Date,
        "timestamp" => ElementType::Timestamp,
        "timestamptz" => ElementType::TimestampTz,
        "jsonb" => ElementType::Jsonb,
        _ => return None,
    })
}

#[cfg(test)]
mod tests;

/// The columns of a table as [`sql::DESCRIBE`] returns them (none: no such table).
pub(crate) fn described_columns(
    rows: &[tokio_postgres::Row],
) -> Result<Vec<TargetColumn>, WarehouseError> {
    rows.iter()
        .map(|row| {
            let name: String = row.try_get(0).map_err(|e| classify(e, "reading columns"))?;
            let sql_type: String = row.try_get(1).map_err(|e| classify(e, "reading columns"))?;
            let type_name: Option<String> =
                row.try_get(2).map_err(|e| classify(e, "reading columns"))?;
            let ty = type_name.as_deref().map_or(ColumnType::Other, column_type);
            Ok(TargetColumn {
                source_field: name.clone(),
                name,
                ty,
                sql_type,
            })
        })
        .collect()
}
