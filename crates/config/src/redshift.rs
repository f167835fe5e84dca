//! The Amazon Redshift dialect's settings (`[warehouse.redshift]`, `[tables.redshift]`) and
//! what `validate` requires of a config that uses it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Config, ConfigError, DeleteMode, Dialect, MergeStrategy};

/// How the Redshift dialect stages a batch's rows before the merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RedshiftStaging {
    /// Multi-row `INSERT … VALUES` into a temporary table, values bound as parameters, each
    /// statement well under Redshift's 16 MB limit. No S3 needed; fine for light loads.
    #[default]
    Insert,
    /// gzip-compressed CSV files written to S3, loaded with `COPY … IAM_ROLE` (the path
    /// Redshift recommends for volume) and deleted after the merge commits.
    S3,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedshiftConfig {
    /// `"insert"` (default) or `"s3"` (needs `[warehouse.redshift.s3]`).
    #[serde(default)]
    pub staging: RedshiftStaging,
    /// Where `staging = "s3"` writes its files.
    pub s3: Option<RedshiftS3Config>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedshiftS3Config {
    /// The bucket the staged files go to (in the cluster's region).
    pub bucket: String,
    /// Key prefix of the staged files (default `tidemark-staging`); each batch writes under a
    /// key of its own below it.
    pub prefix: Option<String>,
    /// The bucket's AWS region (also given to `COPY … REGION`).
    pub region: String,
    /// An S3-compatible endpoint URL instead of AWS's (tests, MinIO).
    pub endpoint: Option<String>,
    /// The IAM role (ARN) the cluster assumes to read the files (`COPY … IAM_ROLE`).
    /// tidemark itself writes with the standard AWS credential chain (environment, web
    /// identity, instance profile), never with keys from this file.
    pub iam_role: String,
}

/// Where staged files go without `prefix`.
pub const DEFAULT_S3_PREFIX: &str = "tidemark-staging";

/// A table's physical layout on Redshift, used when `auto_create` creates it.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedshiftTableConfig {
    /// `DISTSTYLE`: `"AUTO"`, `"EVEN"`, `"KEY"` (needs `distkey`) or `"ALL"`.
    pub diststyle: Option<String>,
    /// The `DISTKEY` column.
    pub distkey: Option<String>,
    /// The compound `SORTKEY` columns.
    #[serde(default)]
    pub sortkey: Vec<String>,
    /// `ENCODE` per column, column = encoding (`AZ64`, `ZSTD`, `LZO`, `BYTEDICT`, `RAW`, …).
    #[serde(default)]
    pub encode: BTreeMap<String, String>,
}

impl RedshiftTableConfig {
    /// Whether no option is set (the default layout).
    pub fn is_empty(&self) -> bool {
        self.diststyle.is_none()
            && self.distkey.is_none()
            && self.sortkey.is_empty()
            && self.encode.is_empty()
    }
}

/// Redshift's column compression encodings.
pub const REDSHIFT_ENCODINGS: &[&str] = &[
    "RAW",
    "AZ64",
    "BYTEDICT",
    "DELTA",
    "DELTA32K",
    "LZO",
    "MOSTLY8",
    "MOSTLY16",
    "MOSTLY32",
    "RUNLENGTH",
    "TEXT255",
    "TEXT32K",
    "ZSTD",
];

impl Config {
    /// What the Redshift dialect needs, and what it does not do (yet).
    pub(crate) fn validate_redshift(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: &str| ConfigError::Invalid {
            key: key.to_string(),
            reason: reason.to_string(),
        };
        let redshift = self.warehouse.dialect == Dialect::Redshift;
        if !redshift {
            if let Some(i) = self.tables.iter().position(|t| !t.redshift.is_empty()) {
                return Err(invalid(
                    &format!("tables[{i}].redshift"),
                    "is for warehouse.dialect = \"redshift\"",
                ));
            }
            return Ok(());
        }
        if self.warehouse.merge != MergeStrategy::Auto {
            return Err(invalid(
                "warehouse.merge",
                "chooses the PostgreSQL dialect's statements; Redshift merges by DELETE … \
                 USING and INSERT (leave it out)",
            ));
        }
        let r = &self.warehouse.redshift;
        if r.staging == RedshiftStaging::S3 {
            let Some(s3) = &r.s3 else {
                return Err(invalid(
                    "warehouse.redshift.s3",
                    "staging = \"s3\" needs the bucket, region and iam_role to stage through",
                ));
            };
            for (key, value) in [
                ("bucket", &s3.bucket),
                ("region", &s3.region),
                ("iam_role", &s3.iam_role),
            ] {
                if value.trim().is_empty() {
                    return Err(invalid(
                        &format!("warehouse.redshift.s3.{key}"),
                        "must not be empty",
                    ));
                }
                // They go into the COPY statement as string literals.
                if value.chars().any(|c| c == '\\' || c.is_control()) {
                    return Err(invalid(
                        &format!("warehouse.redshift.s3.{key}"),
                        "must not hold a backslash or a control character",
                    ));
                }
            }
        }
        if self.warehouse.auto_evolve {
            return Err(invalid(
                "warehouse.auto_evolve",
                "is not supported with dialect = \"redshift\" (Redshift cannot alter a \
                 column's type inside the merge's transaction); change the target with ALTER \
                 TABLE and restart",
            ));
        }
        for (i, t) in self.tables.iter().enumerate() {
            let key = |k: &str| format!("tables[{i}].{k}");
            let unsupported = |k: &str, what: &str| {
                invalid(
                    &key(k),
                    &format!("{what} is not supported with dialect = \"redshift\" yet"),
                )
            };
            if t.raw_table.is_some() {
                return Err(unsupported("raw_table", "a raw landing table"));
            }
            if t.delete_mode == DeleteMode::Soft {
                return Err(unsupported("delete_mode", "delete_mode = \"soft\""));
            }
            if t.auto_evolve == Some(true) {
                return Err(unsupported("auto_evolve", "auto_evolve"));
            }
            let options = &t.redshift;
            if options.is_empty() {
                continue;
            }
            if t.topics.is_some() {
                return Err(invalid(
                    &key("redshift"),
                    "physical options go on an entry with an explicit topic and target",
                ));
            }
            let word = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric());
            if let Some(style) = &options.diststyle {
                let style = style.to_ascii_uppercase();
                if !["AUTO", "EVEN", "KEY", "ALL"].contains(&style.as_str()) {
                    return Err(invalid(
                        &key("redshift.diststyle"),
                        "must be \"AUTO\", \"EVEN\", \"KEY\" or \"ALL\"",
                    ));
                }
                if style == "KEY" && options.distkey.is_none() {
                    return Err(invalid(
                        &key("redshift.distkey"),
                        "diststyle = \"KEY\" needs the distkey column",
                    ));
                }
                if style != "KEY" && options.distkey.is_some() {
                    return Err(invalid(
                        &key("redshift.distkey"),
                        "a distkey goes with diststyle = \"KEY\" (or no diststyle)",
                    ));
                }
            }
            for (column, encoding) in &options.encode {
                let e = encoding.to_ascii_uppercase();
                if !word(&e) || !REDSHIFT_ENCODINGS.contains(&e.as_str()) {
                    return Err(invalid(
                        &key(&format!("redshift.encode.{column}")),
                        &format!("unknown encoding {encoding:?}; one of {REDSHIFT_ENCODINGS:?}"),
                    ));
                }
            }
        }
        Ok(())
    }
}
