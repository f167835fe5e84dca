//! Redshift's bulk path (`staging = "s3"`): a batch's stage rows are written to S3 as gzip CSV
//! files listed by a manifest, loaded into the session's stage table with one
//! `COPY … FROM 's3://…/manifest' IAM_ROLE '…' MANIFEST`, and deleted after the transaction
//! ends (committed or rolled back).
//!
//! The cells arrive already rendered as text in Redshift's input formats; they only ever go
//! into the files, never into SQL text. The SQL carries config strings only (the manifest URL,
//! the IAM role, the region, the NULL marker), each through [`literal`].

use std::sync::Arc;

use flate2::{write::GzEncoder, Compression};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::io::Write;
use tidemark_model::TableName;
use tidemark_ports::WarehouseError;

use crate::sql::{quote_ident, DELETE_FLAG, STAGE};

/// Default cap on one data file, before compression. Redshift does not split a gzip file: it
/// asks for files "close in size, from 1 MB to 1 GB after compression" (Database Developer
/// Guide, "Loading data files"); 64 MiB of CSV compresses to well inside that.
pub const DEFAULT_MAX_FILE_BYTES: usize = 64 << 20;

/// Where and how a Redshift warehouse stages its batches in S3 (`[warehouse.s3]`). Credentials
/// are not here: they come from the standard AWS chain (environment, web identity, container
/// or instance role), so config text never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// The bucket tidemark writes the files to and Redshift's COPY reads them from.
    pub bucket: String,
    /// Key prefix of every object tidemark writes (`a/b`, may be empty): lets the bucket be
    /// shared, and lets a lifecycle rule expire the files a crash left between upload and
    /// removal.
    pub prefix: String,
    /// The pipeline's name, the next key segment: two pipelines sharing a bucket and prefix
    /// never touch each other's files.
    pub pipeline: String,
    /// The bucket's region: signs tidemark's requests, and is COPY's `REGION` (needed when the
    /// bucket is not in the cluster's region). `None`: `AWS_REGION` for the requests and no
    /// `REGION` clause (the cluster's own region).
    pub region: Option<String>,
    /// An S3-compatible endpoint (MinIO, a test server, a VPC endpoint URL) instead of AWS's
    /// own; `http://` is allowed only when given here.
    pub endpoint: Option<String>,
    /// ARN of the IAM role Redshift assumes to read the files (COPY's `IAM_ROLE`): the
    /// cluster, not tidemark, reads the data, with a role an operator grants on the bucket.
    pub iam_role: String,
    /// Largest size of one data file before compression ([`DEFAULT_MAX_FILE_BYTES`]); a row
    /// larger than this gets a file of its own.
    pub max_file_bytes: usize,
}

/// A SQL string literal made by [`literal`], the only way text gets into a COPY statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Literal(String);

/// Quotes a config string as a Redshift string literal, single quotes doubled. A backslash
/// may be read as an escape (Redshift descends from PostgreSQL 8.0, before
/// `standard_conforming_strings`), and none of the strings put here (an ARN, a region, an
/// `s3://` URL of tidemark's keys, the NULL marker) needs one or a control character: refused.
pub(crate) fn literal(text: &str) -> Result<Literal, String> {
    if let Some(c) = text.chars().find(|c| *c == '\\' || c.is_control()) {
        return Err(format!(
            "{text:?} holds {c:?}, which a COPY literal cannot carry"
        ));
    }
    Ok(Literal(format!("'{}'", text.replace('\'', "''"))))
}

/// The files of one staged batch, until [`S3Stage::remove`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StagedFiles {
    /// The data files, in row order.
    pub files: Vec<Path>,
    pub manifest: Path,
    /// `s3://bucket/…/manifest`, quoted.
    manifest_url: Literal,
    /// The NULL marker of this batch (see [`null_marker`]), quoted.
    null_as: Literal,
    iam_role: Literal,
    region: Option<Literal>,
    /// Cells per row: the delete flag and the layout's columns.
    pub width: usize,
    pub rows: usize,
}

/// `COPY` of a staged batch into the stage table: `columns` are the layout's, in the order the
/// rows were written after the delete flag. No `DATEFORMAT`/`TIMEFORMAT`: the caller renders
/// dates as `YYYY-MM-DD`, timestamps as `YYYY-MM-DD HH:MI:SS[.ffffff]` and with a time zone as
/// that plus `+HH:MM`, which are COPY's defaults for DATE, TIMESTAMP and TIMESTAMPTZ (fractional
/// seconds to the microsecond included; "DATEFORMAT and TIMEFORMAT strings" in the Redshift
/// docs) — an explicit `TIMEFORMAT` would replace the TIMESTAMPTZ default, and `'auto'` would
/// guess. `COMPUPDATE OFF STATUPDATE OFF`: the stage is a temp table emptied each merge; its
/// compression analysis and statistics would cost every load and serve nothing.
pub(crate) fn copy_statement<C: AsRef<str>>(staged: &StagedFiles, columns: &[C]) -> String {
    debug_assert_eq!(
        columns.len() + 1,
        staged.width,
        "stage columns and row width"
    );
    let mut names = vec![quote_ident(DELETE_FLAG)];
    names.extend(columns.iter().map(|c| quote_ident(c.as_ref())));
    let mut sql = format!(
        "COPY {} ({}) FROM {} IAM_ROLE {} MANIFEST FORMAT AS CSV GZIP NULL AS {}",
        quote_ident(STAGE),
        names.join(", "),
        staged.manifest_url.0,
        staged.iam_role.0,
        staged.null_as.0,
    );
    if let Some(region) = &staged.region {
        sql.push_str(&format!(" REGION {}", region.0));
    }
    sql.push_str(" COMPUPDATE OFF STATUPDATE OFF");
    sql
}

/// The marker written, unquoted, for a NULL cell, and named in COPY's `NULL AS`.
///
/// Redshift's COPY docs ("Data conversion parameters": NULL AS, EMPTYASNULL, BLANKSASNULL)
/// load a field that matches the NULL AS string as NULL, and an empty CHAR/VARCHAR field as
/// NULL only under EMPTYASNULL; unlike PostgreSQL's, they promise no exemption for a *quoted*
/// field, and loaders that relied on quoting lost empty strings to NULL
/// (amazon-redshift-utils #327, snowplow-rdb-loader #171). So nothing here relies on quoting:
/// the marker is chosen per batch so that no cell *equals* it; every text is quoted (empty is
/// `""`); neither EMPTYASNULL nor BLANKSASNULL is set. NULL, `""` and a text that looks like a
/// marker stay three things whatever Redshift does with quotes.
pub(crate) fn null_marker<S: AsRef<str>>(rows: &[impl AsRef<[Option<S>]>]) -> String {
    const BASE: &str = "tidemark:null";
    let taken: std::collections::HashSet<&str> = rows
        .iter()
        .flat_map(|r| r.as_ref().iter())
        .filter_map(|c| c.as_ref().map(AsRef::as_ref))
        .filter(|t| t.starts_with(BASE))
        .collect();
    // At most `taken.len() + 1` candidates: one of them is free.
    std::iter::once(BASE.to_string())
        .chain((1..).map(|n| format!("{BASE}:{n}")))
        .find(|m| !taken.contains(m.as_str()))
        .unwrap_or_default()
}

/// One row as RFC 4180 CSV: every text in double quotes with its quotes doubled, which is all
/// commas, quotes, CR and LF inside a value need (Redshift's CSV parameter docs), a NULL as the
/// bare marker, LF after the row (Redshift ends a record at LF). UTF-8 passes through as
/// bytes: `"` (0x22) never occurs inside a multi-byte character.
fn write_row<S: AsRef<str>>(line: &mut Vec<u8>, row: &[Option<S>], null: &str) {
    line.clear();
    for (i, cell) in row.iter().enumerate() {
        if i > 0 {
            line.push(b',');
        }
        match cell {
            None => line.extend_from_slice(null.as_bytes()),
            Some(text) => {
                line.push(b'"');
                for &b in text.as_ref().as_bytes() {
                    if b == b'"' {
                        line.push(b'"');
                    }
                    line.push(b);
                }
                line.push(b'"');
            }
        }
    }
    line.push(b'\n');
}

/// The rows as gzip CSV files of at most `max_file_bytes` each before compression (a row
/// bigger than that alone in its file); at least one file, so that the manifest is never empty.
pub(crate) fn encode<S: AsRef<str>>(
    rows: &[impl AsRef<[Option<S>]>],
    null: &str,
    max_file_bytes: usize,
) -> std::io::Result<Vec<Vec<u8>>> {
    let gz = || GzEncoder::new(Vec::new(), Compression::default());
    let (mut files, mut current, mut current_bytes) = (Vec::new(), gz(), 0);
    let mut line = Vec::new();
    for row in rows {
        write_row(&mut line, row.as_ref(), null);
        if current_bytes > 0 && current_bytes + line.len() > max_file_bytes {
            files.push(std::mem::replace(&mut current, gz()).finish()?);
            current_bytes = 0;
        }
        current.write_all(&line)?;
        current_bytes += line.len();
    }
    files.push(current.finish()?);
    Ok(files)
}

/// A key segment from a name: bytes outside `[A-Za-z0-9_-]` as `=XX` (hex), so that any table
/// name gives a valid object key, different names give different keys, and `.` can separate
/// schema from table.
fn key_segment(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("={b:02X}"));
        }
    }
    if s.is_empty() {
        s.push('=');
    }
    s
}

/// S3's bucket naming rules (3 to 63 lowercase letters, digits, `.` and `-`, starting and
/// ending with a letter or digit): checked first, so that a typo is a config error, not a
/// request S3 answers with 400 and the URL in COPY is always well-formed.
fn check_bucket(bucket: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if (3..=63).contains(&bucket.len())
        && bucket.chars().all(ok_char)
        && edge(bucket.chars().next())
        && edge(bucket.chars().last())
    {
        Ok(())
    } else {
        Err(format!("{bucket:?} is not a valid S3 bucket name"))
    }
}

/// Not retriable: the settings are wrong, or a call was malformed; an operator fixes it.
fn refused(context: &str, message: String) -> WarehouseError {
    WarehouseError::Statement {
        context: context.to_string(),
        sqlstate: None,
        message,
    }
}

/// The one mapping of an object store error. `Generic` is what is left once object_store has
/// retried by itself (transport failures, 5xx, throttling): retriable (`Connection`). A missing
/// bucket (404), a denied request (403), bad credentials (401) answer the same every time.
pub(crate) fn store_error(err: &object_store::Error, context: &str) -> WarehouseError {
    let message = error_chain(err);
    match err {
        object_store::Error::Generic { .. } => WarehouseError::Connection {
            context: context.to_string(),
            sqlstate: None,
            message,
        },
        _ => refused(context, message),
    }
}

/// The error with its causes, each once (object_store's messages already hold their source's).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut s = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = cause.source();
    }
    s
}

/// `prefix/pipeline`, as key segments: every object of the pipeline is below it.
fn root(settings: &S3Settings) -> Path {
    let segments = settings
        .prefix
        .split('/')
        .filter(|s| !s.is_empty())
        .chain([settings.pipeline.as_str()])
        .map(key_segment);
    Path::from_iter(segments)
}

/// Where a batch's files go: `prefix/pipeline/schema.table/batch_id/`.
fn batch_dir(root: &Path, table: &TableName, batch_id: &str) -> Path {
    let t = format!(
        "{}.{}",
        key_segment(&table.schema),
        key_segment(&table.name)
    );
    root.clone().join(t).join(key_segment(batch_id))
}

/// The COPY a batch of `table` runs, with `batch_id` standing for its key and the base NULL
/// marker (for `tidemark sql`): what [`S3Stage::upload`] and [`copy_statement`] make of it.
pub(crate) fn planned_copy(
    settings: &S3Settings,
    table: &TableName,
    batch_id: &str,
    columns: &[&str],
) -> Result<String, String> {
    let manifest = batch_dir(&root(settings), table, batch_id).join("manifest");
    let staged = StagedFiles {
        files: Vec::new(),
        manifest_url: literal(&format!("s3://{}/{manifest}", settings.bucket))?,
        manifest,
        null_as: literal(&null_marker::<&str>(&[] as &[Vec<Option<&str>>]))?,
        iam_role: literal(&settings.iam_role)?,
        region: settings.region.as_deref().map(literal).transpose()?,
        width: columns.len() + 1,
        rows: 0,
    };
    Ok(copy_statement(&staged, columns))
}

/// Writes and removes the staged files of one Redshift warehouse.
pub(crate) struct S3Stage {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    /// `prefix/pipeline`, as key segments.
    root: Path,
    iam_role: Literal,
    region: Option<Literal>,
    max_file_bytes: usize,
}

impl S3Stage {
    /// The stage with credentials from the standard AWS chain (checks the settings; no network).
    pub(crate) fn new(settings: &S3Settings) -> Result<Self, WarehouseError> {
        Self::with_builder(settings, AmazonS3Builder::from_env())
    }

    /// The stage on a given client builder (tests pass one with their own credentials).
    pub(crate) fn with_builder(
        settings: &S3Settings,
        mut builder: AmazonS3Builder,
    ) -> Result<Self, WarehouseError> {
        let ctx = "S3 staging settings";
        check_bucket(&settings.bucket).map_err(|m| refused(ctx, m))?;
        let iam_role =
            literal(&settings.iam_role).map_err(|m| refused(ctx, format!("iam_role: {m}")))?;
        let region = (settings.region.as_deref().map(literal).transpose())
            .map_err(|m| refused(ctx, format!("region: {m}")))?;
        builder = builder.with_bucket_name(&settings.bucket);
        if let Some(r) = &settings.region {
            builder = builder.with_region(r);
        }
        if let Some(e) = &settings.endpoint {
            builder = builder
                .with_endpoint(e)
                .with_allow_http(e.starts_with("http://"));
        }
        let store = builder.build().map_err(|e| refused(ctx, error_chain(&e)))?;
        Ok(Self {
            store: Arc::new(store),
            bucket: settings.bucket.clone(),
            root: root(settings),
            iam_role,
            region,
            max_file_bytes: settings.max_file_bytes.max(1),
        })
    }

    fn batch_dir(&self, table: &TableName, batch_id: &str) -> Path {
        batch_dir(&self.root, table, batch_id)
    }

    /// Writes the rows (one cell per stage column: the delete flag, then the layout's) as
    /// data files, then the manifest listing them. On failure the files already written are
    /// deleted (best effort) and the error returned.
    pub(crate) async fn upload<S: AsRef<str>>(
        &self,
        table: &TableName,
        batch_id: &str,
        rows: &[impl AsRef<[Option<S>]>],
    ) -> Result<StagedFiles, WarehouseError> {
        let dir = self.batch_dir(table, batch_id);
        let ctx = format!(
            "staging {} rows of {table} in s3://{}/{dir}",
            rows.len(),
            self.bucket
        );
        let width = rows.first().map_or(0, |r| r.as_ref().len());
        if let Some(bad) = rows.iter().position(|r| r.as_ref().len() != width) {
            return Err(refused(
                &ctx,
                format!("row {bad} does not have {width} cells like the first"),
            ));
        }
        let null = null_marker(rows);
        let url = |p: &Path| format!("s3://{}/{p}", self.bucket);
        let encoded = encode(rows, &null, self.max_file_bytes)
            .map_err(|e| refused(&ctx, format!("compressing: {e}")))?;
        let manifest = dir.clone().join("manifest");
        let mut staged = StagedFiles {
            files: Vec::with_capacity(encoded.len()),
            manifest_url: literal(&url(&manifest)).map_err(|m| refused(&ctx, m))?,
            manifest,
            null_as: literal(&null).map_err(|m| refused(&ctx, m))?,
            iam_role: self.iam_role.clone(),
            region: self.region.clone(),
            width,
            rows: rows.len(),
        };
        let entries: Vec<serde_json::Value> = (0..encoded.len())
            .map(|i| {
                let p = dir.clone().join(format!("part-{i:05}.csv.gz"));
                let entry = serde_json::json!({ "url": url(&p), "mandatory": true });
                staged.files.push(p);
                entry
            })
            .collect();
        let listing = serde_json::json!({ "entries": entries }).to_string();
        let puts = staged
            .files
            .iter()
            .zip(encoded)
            .map(|(p, bytes)| (p.clone(), PutPayload::from(bytes)))
            .chain([(
                staged.manifest.clone(),
                PutPayload::from(listing.into_bytes()),
            )]);
        for (path, payload) in puts {
            if let Err(e) = self.store.put(&path, payload).await {
                let name = path.filename().unwrap_or_default();
                let err = store_error(&e, &format!("{ctx}: writing {name}"));
                if let Err(cleanup) = self.remove(&staged).await {
                    tracing::warn!(error = %cleanup, "leaving staged files of a failed upload");
                }
                return Err(err);
            }
        }
        Ok(staged)
    }

    /// Deletes a batch's files and manifest (after the merge committed or rolled back).
    /// Deleting a missing object succeeds, so this can be called again after a failure.
    pub(crate) async fn remove(&self, staged: &StagedFiles) -> Result<(), WarehouseError> {
        for path in staged.files.iter().chain([&staged.manifest]) {
            self.store.delete(path).await.map_err(|e| {
                store_error(&e, &format!("removing staged s3://{}/{path}", self.bucket))
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
