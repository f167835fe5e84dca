//! `tidemark sql`: a dry run for review with a DBA. Describes each explicit table's target
//! (read only: no DDL, no claim, no broker), builds its layout the way the pipeline does, and
//! prints the statements tidemark would run on it and on its own tables, in the configured
//! dialect, as SQL text that can be pasted into a SQL client.

use std::path::Path;
use std::process::ExitCode;

use tidemark_config::{Config, Dialect};
use tidemark_debezium::KeySource;
use tidemark_pipeline::{adopt_recorded_key, table_layout, TableSpec};
use tidemark_ports::{Warehouse, WarehouseError};
use tidemark_warehouse::dry_run::{self, Named, SHOWN_STAGED_ROWS};
use tidemark_warehouse::redshift::RedshiftSettings;
use tidemark_warehouse::{quote_ident, PgMerge, PgWarehouse};

use crate::error::CliError;
use crate::wiring;

pub fn sql(path: &Path) -> Result<ExitCode, CliError> {
    let config = Config::load(path)?;
    let warehouse = wiring::warehouse(&config)?;
    let redshift = wiring::redshift_settings(&config);
    let specs = wiring::table_specs(&config, &[])?;
    let text = wiring::block_on(render(&config, &warehouse, redshift.as_ref(), &specs))??;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

async fn render(
    config: &Config,
    warehouse: &PgWarehouse,
    redshift: Option<&RedshiftSettings>,
    specs: &[TableSpec],
) -> Result<String, CliError> {
    let schema = &config.warehouse.schema;
    let dialect = match config.warehouse.dialect {
        Dialect::Postgres => "postgres",
        Dialect::Redshift => "redshift",
    };
    let mut out = format!(
        "-- tidemark sql: dialect {dialect}, pipeline {:?}, tidemark's tables in schema {}.\n\
         -- Parameters ($1, $2, ...) are bound by each run; no record's values appear here.\n",
        config.coordination.cluster,
        quote_ident(schema),
    );
    if redshift.is_some() {
        out.push_str(&format!(
            "-- The multi-row staging INSERT is shown for {SHOWN_STAGED_ROWS} rows; a merge \
             binds as many rows per statement as fit the parameter limit.\n"
        ));
    }
    for (i, t) in config.tables.iter().enumerate() {
        if let Some(pattern) = &t.topics {
            out.push_str(&format!(
                "\n-- tables[{i}]: topics = {pattern:?} (target {:?}) is resolved against the \
                 broker's topics at run time: its tables are not shown.\n",
                t.target
            ));
        }
    }
    let merge = wiring::pg_merge(config);
    for spec in specs {
        table_section(&mut out, warehouse, redshift, merge, spec).await?;
    }
    let label = format!("{schema} (tidemark's own tables)");
    out.push_str(&format!(
        "\n-- {label}: created at start; claims at start, and in each merge's transaction \
         after the target's statements: dead letters, the table's key, the watermarks.\n"
    ));
    push_statements(&mut out, &label, dry_run::own_statements(redshift, schema));
    Ok(out)
}

/// One table: what is known of its target and key, then its merge's statements.
async fn table_section(
    out: &mut String,
    warehouse: &PgWarehouse,
    redshift: Option<&RedshiftSettings>,
    merge: PgMerge,
    spec: &TableSpec,
) -> Result<(), CliError> {
    let target = &spec.target;
    out.push_str(&format!("\n-- {target}: from topic {:?}\n", spec.topic));
    let Some(described) = warehouse.describe(target).await? else {
        // Its columns come from the first record's schema: nothing to show without reading it.
        out.push_str(&if spec.evolution.auto_create {
            format!(
                "-- {target}: does not exist; auto_create will create it from the first \
                 record's schema (its columns and key are not known before that).\n"
            )
        } else {
            format!(
                "-- {target}: does not exist and auto_create is off: it must exist before \
                 tidemark runs.\n"
            )
        });
        return Ok(());
    };
    let cell = table_layout(spec, Some(described))?;
    let recorded = match warehouse.stored_key(target).await {
        Ok(recorded) => recorded,
        // tidemark's tables are created by the first run, not by this read-only one: none
        // yet means no key is recorded yet.
        Err(e) if own_tables_missing(&e) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(recorded) = recorded {
        adopt_recorded_key(spec, &cell, recorded)?;
    }
    let layout = cell.current();
    let (key, why) = match layout.key() {
        Some(key) if matches!(spec.key, KeySource::Fields(_)) => {
            (Some(key.to_vec()), "the configured key fields")
        }
        Some(key) => (Some(key.to_vec()), "the key recorded by an earlier merge"),
        None => {
            let primary = warehouse.primary_key(target).await?;
            // A primary key column that is not written (unmanaged, filtered) cannot be the key.
            let columns = (!primary.is_empty())
                .then(|| layout.columns_named(&primary).ok())
                .flatten();
            match columns {
                Some(mut columns) => {
                    // Key columns are kept ascending, as the layout decides them.
                    columns.sort_unstable();
                    (
                        Some(columns),
                        "the target's primary key (assumed: the run takes it from the first \
                         record's message key)",
                    )
                }
                None => (None, ""),
            }
        }
    };
    let written: Vec<String> = layout
        .columns
        .iter()
        .map(|c| match c.source_field == c.name {
            true => quote_ident(&c.name),
            false => format!("{} (field {:?})", quote_ident(&c.name), c.source_field),
        })
        .collect();
    out.push_str(&format!("-- {target}: writes {}\n", written.join(", ")));
    match &key {
        Some(key) => {
            let names: Vec<String> = key
                .iter()
                .filter_map(|&i| layout.columns.get(i))
                .map(|c| quote_ident(&c.name))
                .collect();
            out.push_str(&format!(
                "-- {target}: key ({}) from {why}\n",
                names.join(", ")
            ));
        }
        None => out.push_str(&format!(
            "-- {target}: key not known before the first record (no configured key, none \
             recorded, no primary key among the written columns): the statements that match \
             rows by key are left out.\n"
        )),
    }
    // What the writer finds at its first merge decides the PostgreSQL merge's statements.
    let shape = match &key {
        Some(key) => warehouse.target_shape(&layout, key).await?,
        None => None,
    };
    let statements =
        dry_run::table_statements(redshift, &layout, key.as_deref(), shape.as_ref(), merge)
            .map_err(|source| CliError::Sql {
                table: target.to_string(),
                source,
            })?;
    push_statements(out, &target.to_string(), statements);
    Ok(())
}

/// Each statement after a `-- <label>: <name>` line, terminated by `;`.
fn push_statements(out: &mut String, label: &str, statements: Vec<Named>) {
    for (name, sql) in statements {
        out.push_str(&format!("-- {label}: {name}\n{};\n", sql.trim_end()));
    }
}

/// tidemark's schema or tables do not exist yet (no run has prepared them).
fn own_tables_missing(e: &WarehouseError) -> bool {
    // undefined_table, invalid_schema_name
    matches!(e.sqlstate(), Some("42P01" | "3F000"))
}
