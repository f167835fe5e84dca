//! What `tidemark sql` prints: the statements the writers and the warehouse operations run,
//! named, in the order they run them. Every text comes from the builder the writer itself
//! calls ([`merge_sql::MergeSql`], [`redshift::MergeSql`], [`sql`], [`redshift::state`]), so
//! the dry run cannot show anything but what runs. Pure: no connection, no record values
//! (parameters stay `$n`).

use tidemark_model::TableLayout;

use crate::merge_sql::{self, PgMerge, TargetShape};
use crate::redshift::state::{create_state_tables, StateSql};
use crate::redshift::{self, RedshiftSettings, Staging, TypeError, WatermarkSql};
use crate::sql;

/// Why a table's statements cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    /// A column Redshift cannot hold (the run would stop on it too).
    #[error(transparent)]
    Type(#[from] TypeError),
    /// A `[warehouse.redshift.s3]` string a COPY cannot carry.
    #[error("warehouse.redshift.s3: {0}")]
    S3Settings(String),
    /// The configured strategy cannot run on this server (the run would stop on it too).
    #[error(transparent)]
    NoMerge(#[from] merge_sql::NoMerge),
}

/// A statement's name (what it is for, and when it runs) and its text.
pub type Named = (String, String);

/// The rows the multi-row staging `INSERT` is shown for: enough to show how parameters are
/// numbered row by row (a merge binds as many rows as fit the parameter limit).
pub const SHOWN_STAGED_ROWS: usize = 2;

/// The statements one table's merge runs on the target and the stage, in the dialect
/// (`redshift`: `None` for PostgreSQL, like [`crate::PgSettings::redshift`]; `merge`: the
/// PostgreSQL strategy, like [`crate::PgSettings::merge`]). Without
/// `key_columns` (the key is decided by the first record) only the statements that do not
/// depend on the key. A pending layout (a target `auto_create` makes from the first record)
/// has no columns to show: none.
pub fn table_statements(
    redshift: Option<&RedshiftSettings>,
    layout: &TableLayout,
    key_columns: Option<&[usize]>,
    shape: Option<&TargetShape>,
    merge: PgMerge,
) -> Result<Vec<Named>, DryRunError> {
    if layout.is_pending() {
        return Ok(Vec::new());
    }
    // Built with no key when it is unknown: the key-matching statements are then left out,
    // never shown with an empty condition.
    let key = key_columns.unwrap_or_default();
    let keyed = key_columns.is_some_and(|k| !k.is_empty());
    let mut out: Vec<(&str, Option<String>)> = Vec::new();
    match redshift {
        None => {
            let m = merge_sql::MergeSql::new(layout, key);
            let m = match shape {
                Some(shape) => m.for_shape(shape, layout.soft_delete, merge)?,
                None => m,
            };
            out.extend([
                ("drop stage (a new layout version)", Some(m.drop_stage)),
                ("create stage (once per connection)", Some(m.create_stage)),
                (
                    "truncate (a source truncate, with truncate = \"apply\")",
                    Some(m.truncate),
                ),
                ("stage rows (binary COPY)", Some(m.copy_in)),
                (
                    "keep unavailable (unchanged TOASTed values the source did not send)",
                    keyed.then_some(m.keep_unavailable),
                ),
                ("analyze stage", m.analyze_stage),
                (
                    "prefer index probes (an index covers the key)",
                    m.probe_index.then(|| sql::PREFER_INDEX_PROBES.to_string()),
                ),
                (
                    "delete replaced and deleted rows",
                    keyed.then_some(m.delete),
                ),
                (
                    "mark deleted rows (delete_mode = \"soft\")",
                    m.mark_deleted.filter(|_| keyed),
                ),
                // As the strategy and the target's shape decide: `MERGE INTO …`, `… ON
                // CONFLICT (key) DO UPDATE`, or a plain insert after the delete.
                ("insert winners", Some(m.insert)),
                (
                    "clear stage (between pieces of one merge)",
                    Some(m.clear_stage),
                ),
            ]);
            // A piece with every value sent skips the stage (see `merge_sql::BoundSql`).
            if let Some(bound) = m.bound.filter(|_| keyed) {
                out.extend([
                    (
                        "delete deleted rows, keys bound as arrays (a key index, no stage)",
                        Some(bound.delete),
                    ),
                    (
                        "insert winners, columns bound as arrays (a key index, no stage)",
                        Some(bound.insert),
                    ),
                ]);
            }
        }
        Some(rs) => {
            let m = redshift::MergeSql::new(layout, key)?;
            let (stage_name, stage) = match &rs.staging {
                Staging::Insert => (
                    "stage rows (multi-row INSERT, shown for 2 rows)",
                    m.stage_rows(SHOWN_STAGED_ROWS),
                ),
                Staging::S3(s3) => {
                    let names: Vec<&str> = layout.columns.iter().map(|c| &*c.name).collect();
                    let copy = crate::s3_stage::planned_copy(s3, &layout.table, "<batch>", &names)
                        .map_err(DryRunError::S3Settings)?;
                    (
                        "stage rows (gzip CSV files uploaded under <batch>, loaded by COPY)",
                        copy,
                    )
                }
            };
            out.extend([
                (
                    "drop stage (a new layout version)",
                    Some(m.drop_stage.clone()),
                ),
                (
                    "create stage (once per connection)",
                    Some(m.create_stage.clone()),
                ),
                ("clear stage", Some(m.clear_stage.clone())),
                (stage_name, Some(stage)),
                ("lock target", Some(m.lock.clone())),
                (
                    "truncate (a source truncate, with truncate = \"apply\")",
                    Some(m.truncate.clone()),
                ),
                ("count deleted rows", keyed.then(|| m.count_deleted.clone())),
                (
                    "delete replaced and deleted rows",
                    keyed.then(|| m.delete.clone()),
                ),
                ("insert winners", Some(m.insert.clone())),
            ]);
        }
    }
    Ok(out
        .into_iter()
        .filter_map(|(name, sql)| Some((name.to_string(), sql?)))
        .collect())
}

/// tidemark's own tables in `schema`: their DDL, then the statements run on them (epochs and
/// claims at start, and in every merge's transaction, after the target's statements: dead
/// letters, the table's key, the fenced watermark advance), in the dialect.
pub fn own_statements(redshift: Option<&RedshiftSettings>, schema: &str) -> Vec<Named> {
    let named = |items: Vec<(&str, String)>| -> Vec<Named> {
        items.into_iter().map(|(n, s)| (n.to_string(), s)).collect()
    };
    let prepare = |ddl: Vec<String>| -> Vec<Named> {
        let n = ddl.len();
        ddl.into_iter()
            .enumerate()
            .map(|(i, s)| (format!("prepare ({} of {n})", i + 1), s))
            .collect()
    };
    match redshift {
        None => {
            let wm = sql::watermarks_table(schema);
            let keys = sql::table_keys_table(schema);
            let dead = sql::dead_letters_table(schema);
            let mut out = named(vec![(
                "lock for prepare (replicas take turns)",
                sql::LOCK_PREPARE.to_string(),
            )]);
            out.extend(prepare(sql::prepare_statements(schema)));
            out.extend(named(vec![
                ("next epoch", sql::next_epoch(&wm)),
                ("claim partitions", sql::claim(&wm)),
                ("stored epoch (a refused claim)", sql::stored_epoch(&wm)),
                ("select watermarks (status)", sql::select_watermarks(&wm)),
                ("stored key (at start)", sql::stored_key(&keys)),
                (
                    "record key (first merge with changes)",
                    sql::record_key(&keys),
                ),
                (
                    "insert dead letters (errors.mode = \"dead_letter\")",
                    sql::insert_dead_letters(&dead),
                ),
                ("advance watermarks", sql::advance_watermarks(&wm)),
                (
                    "stored watermark (a refused advance)",
                    sql::stored_watermark(&wm),
                ),
            ]));
            out
        }
        Some(_) => {
            let mut out = named(vec![(
                "session setup (every connection)",
                redshift::SESSION_SETUP.to_string(),
            )]);
            let mut ddl = redshift::create_own_tables(schema);
            ddl.extend(create_state_tables(schema));
            out.extend(prepare(ddl));
            let state = StateSql::new(schema);
            out.extend(
                state
                    .all()
                    .into_iter()
                    .map(|(n, s)| (n.to_string(), s.to_string())),
            );
            let w = WatermarkSql::new(schema);
            out.extend(named(vec![
                ("advance watermark (a stored row)", w.update),
                ("advance watermark (a first row)", w.insert),
            ]));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_model::{ColumnType, TableName};

    fn layout(soft_delete: bool) -> TableLayout {
        let columns = vec![
            ("Id".into(), ColumnType::Int64, "bigint".into()),
            (
                "Region".into(),
                ColumnType::Text,
                "character varying(8)".into(),
            ),
            ("doc".into(), ColumnType::Jsonb, "jsonb".into()),
            ("mood".into(), ColumnType::Other, "mood".into()),
        ];
        let table = TableName::parse("Sales.Order Lines").expect("name");
        let mut l =
            TableLayout::from_target(table, columns, &Default::default(), &[]).expect("layout");
        l.soft_delete = soft_delete;
        l
    }

    fn redshift() -> RedshiftSettings {
        RedshiftSettings::default()
    }

    fn every(rs: Option<&RedshiftSettings>, key: Option<&[usize]>) -> Vec<Named> {
        let mut all = table_statements(rs, &layout(rs.is_none()), key, None, PgMerge::Auto)
            .expect("statements");
        all.extend(own_statements(rs, "tidemark"));
        all
    }

    #[test]
    fn every_statement_is_named_and_non_empty_in_both_dialects() {
        let rs = redshift();
        for dialect in [None, Some(&rs)] {
            for key in [Some(&[0, 1][..]), None] {
                let all = every(dialect, key);
                assert!(all.len() > 15, "{all:?}");
                for (name, sql) in &all {
                    assert!(
                        !name.is_empty() && !sql.trim().is_empty(),
                        "{name}: {sql:?}"
                    );
                    assert!(!sql.trim_end().ends_with(';'), "{name}: {sql}");
                }
            }
        }
    }

    #[test]
    fn redshift_statements_have_no_postgresql_only_constructs() {
        let rs = redshift();
        for (name, sql) in every(Some(&rs), Some(&[0, 1])) {
            for bad in ["ON CONFLICT", "RETURNING", "FROM STDIN", "unnest", "::"] {
                assert!(!sql.contains(bad), "{name} has {bad}: {sql}");
            }
        }
        // The check can fail: PostgreSQL's statements have them.
        let pg = every(None, Some(&[0, 1]));
        for bad in ["ON CONFLICT", "RETURNING", "FROM STDIN", "unnest", "::"] {
            assert!(pg.iter().any(|(_, s)| s.contains(bad)), "{bad}");
        }
    }

    #[test]
    fn the_statements_are_the_writers_and_the_key_decides_the_keyed_ones() {
        let l = layout(false);
        let pg = table_statements(None, &l, Some(&[0]), None, PgMerge::Auto).expect("pg");
        let m = merge_sql::MergeSql::new(&l, &[0]);
        assert!(pg.iter().any(|(_, s)| *s == m.delete));
        assert!(pg.iter().any(|(_, s)| *s == m.copy_in));
        let unkeyed = table_statements(None, &l, None, None, PgMerge::Auto).expect("pg");
        let names = |all: &[Named]| all.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert!(names(&pg).contains(&"delete replaced and deleted rows".to_string()));
        assert!(!names(&unkeyed).contains(&"delete replaced and deleted rows".to_string()));
        assert!(unkeyed.iter().all(|(_, s)| *s != m.keep_unavailable));
        // A unique index on the key: the upsert the writer runs for that shape.
        let unique = TargetShape {
            index: crate::merge_sql::KeyIndex::Unique,
            others: vec!["loaded".into()],
            has_merge: true,
        };
        let upsert = m
            .clone()
            .for_shape(&unique, false, PgMerge::Auto)
            .expect("upsert");
        let shown =
            table_statements(None, &l, Some(&[0]), Some(&unique), PgMerge::Auto).expect("pg");
        assert!(upsert.insert.contains(" ON CONFLICT "), "{}", upsert.insert);
        assert!(shown.iter().any(|(_, s)| *s == upsert.insert), "{shown:?}");
        assert!(shown.iter().any(|(_, s)| *s == upsert.delete));
        let bound = upsert.bound.clone().expect("the upsert binds arrays");
        assert!(shown.iter().any(|(_, s)| *s == bound.insert), "{shown:?}");
        assert!(shown.iter().any(|(_, s)| *s == bound.delete), "{shown:?}");
        assert!(
            bound.insert.contains(" FROM unnest($1, $2"),
            "{}",
            bound.insert
        );
        assert!(!bound.insert.contains("tidemark_stage"), "{}", bound.insert);
        assert!(shown.iter().any(|(_, s)| *s == sql::PREFER_INDEX_PROBES));
        assert!(
            shown.iter().all(|(n, _)| n != "analyze stage"),
            "the upsert's joins probe the key index"
        );
        // `merge = "merge"`: the MERGE, whose join probes the key index: no statistics needed.
        let merge = m
            .clone()
            .for_shape(&unique, false, PgMerge::Merge)
            .expect("merge");
        // A server before 15: MERGE refused (by the writer too), the other strategies shown.
        let before_15 = TargetShape {
            has_merge: false,
            ..unique.clone()
        };
        assert!(matches!(
            table_statements(None, &l, Some(&[0]), Some(&before_15), PgMerge::Merge),
            Err(DryRunError::NoMerge(_))
        ));
        assert!(table_statements(None, &l, Some(&[0]), Some(&before_15), PgMerge::Auto).is_ok());
        let shown =
            table_statements(None, &l, Some(&[0]), Some(&unique), PgMerge::Merge).expect("pg");
        assert!(merge.insert.starts_with("MERGE INTO"), "{}", merge.insert);
        assert!(shown.iter().any(|(_, s)| *s == merge.insert));
        assert!(shown.iter().all(|(n, _)| n != "analyze stage"));
        let bound = merge
            .bound
            .clone()
            .expect("MERGE binds arrays with a key index");
        assert!(bound.insert.starts_with("MERGE INTO"), "{}", bound.insert);
        assert!(
            bound.insert.contains(" USING unnest($1, $2"),
            "{}",
            bound.insert
        );
        assert!(shown.iter().any(|(_, s)| *s == bound.insert), "{shown:?}");
        // Without a key index the MERGE hashes the stage, after analyzing it.
        let no_index = TargetShape {
            index: crate::merge_sql::KeyIndex::None,
            others: Vec::new(),
            has_merge: true,
        };
        let shown =
            table_statements(None, &l, Some(&[0]), Some(&no_index), PgMerge::Merge).expect("pg");
        assert!(shown.iter().any(|(n, _)| n == "analyze stage"));
        assert!(shown.iter().all(|(_, s)| *s != sql::PREFER_INDEX_PROBES));
        // Without one every piece is staged: a join with bound arrays would scan the target.
        assert!(
            shown.iter().all(|(_, s)| !s.contains("unnest(")),
            "{shown:?}"
        );
        assert!(pg.iter().all(|(_, s)| *s != sql::PREFER_INDEX_PROBES));
        let rs = redshift();
        let shown =
            table_statements(Some(&rs), &l, Some(&[0]), None, PgMerge::Auto).expect("redshift");
        let m = redshift::MergeSql::new(&l, &[0]).expect("merge");
        assert!(shown.iter().any(|(_, s)| *s == m.stage_rows(2)));
        assert!(shown
            .iter()
            .any(|(_, s)| s.ends_with("($6, $7, $8, $9, $10)")));
        let unkeyed = table_statements(Some(&rs), &l, None, None, PgMerge::Auto).expect("redshift");
        assert!(unkeyed
            .iter()
            .all(|(_, s)| *s != m.delete && *s != m.count_deleted));
        assert!(table_statements(
            None,
            &TableLayout::pending(l.table.clone()),
            None,
            None,
            PgMerge::Auto
        )
        .expect("pending")
        .is_empty());
    }
}
