//! The adapter against a real PostgreSQL: merges, fencing, watermark guards, data errors and
//! reconnection after a server restart. Every column type's encoding: `types`; values the
//! server refuses: `rejects`; columns staged as text and cast: `text_staged`.

mod rejects;
mod text_staged;
mod types;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tidemark_model::{
    Change, ColumnType, Epoch, Key, RecordCoord, RowOp, TableLayout, TableName, TopicPartition,
    Value, Watermark,
};
use tidemark_ports::{MergeRequest, TableWriter, Warehouse, WarehouseError};
use tidemark_testkit::LocalPostgres;

use super::{PgSettings, PgWarehouse};
use crate::merge_sql::{KeyIndex, PgMerge, TargetShape};

/// The dialects the adapter speaks; the Redshift one runs on PostgreSQL with
/// [`tidemark_testkit::REDSHIFT_ON_POSTGRES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Postgres,
    Redshift,
}

const DIALECTS: [Dialect; 2] = [Dialect::Postgres, Dialect::Redshift];

/// Every way a batch is applied: each PostgreSQL strategy, and Redshift's.
const APPLY_PATHS: [(Dialect, PgMerge); 4] = [
    (Dialect::Postgres, PgMerge::Auto),
    (Dialect::Postgres, PgMerge::DeleteInsert),
    (Dialect::Postgres, PgMerge::Merge),
    (Dialect::Redshift, PgMerge::Auto),
];

fn warehouse(pg: &LocalPostgres) -> PgWarehouse {
    warehouse_in(pg, Dialect::Postgres)
}

fn warehouse_in(pg: &LocalPostgres, dialect: Dialect) -> PgWarehouse {
    warehouse_with(pg, dialect, PgMerge::Auto)
}

fn warehouse_with(pg: &LocalPostgres, dialect: Dialect, merge: PgMerge) -> PgWarehouse {
    PgWarehouse::new(PgSettings {
        password: None,
        tls: None,
        url: pg.url(),
        schema: "tidemark".into(),
        pipeline: "test".into(),
        statement_timeout: Duration::from_secs(30),
        redshift: (dialect == Dialect::Redshift)
            .then(|| Arc::new(crate::redshift::RedshiftSettings::default())),
        merge,
    })
    .expect("settings")
}

async fn sql(pg: &LocalPostgres, text: &str) -> Vec<tokio_postgres::Row> {
    let client = tidemark_testkit::connect(&pg.url()).await.expect("connect");
    client
        .query(text, &[])
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Runs statements separated by `;`.
async fn batch(pg: &LocalPostgres, text: &str) {
    let client = tidemark_testkit::connect(&pg.url()).await.expect("connect");
    client
        .batch_execute(text)
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// When row 1 was last written (its unmanaged column's DEFAULT).
async fn loaded_at(pg: &LocalPostgres) -> std::time::SystemTime {
    sql(pg, "SELECT loaded FROM public.t WHERE id = 1").await[0].get(0)
}

async fn rows(pg: &LocalPostgres) -> Vec<(i64, Option<String>, Option<i16>)> {
    sql(pg, "SELECT id, name, small FROM public.t ORDER BY id")
        .await
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("topic", p)
}

fn upsert(id: i64, name: &str, offset: i64) -> Change {
    Change {
        key: Key(vec![Value::Int(id)]),
        op: RowOp::Upsert(vec![
            Value::Int(id),
            Value::Text(name.into()),
            Value::Int(1),
        ]),
        coord: RecordCoord {
            partition: 0,
            offset,
        },
    }
}

fn delete(id: i64, offset: i64) -> Change {
    Change {
        key: Key(vec![Value::Int(id)]),
        op: RowOp::Delete,
        coord: RecordCoord {
            partition: 0,
            offset,
        },
    }
}

fn request(changes: Vec<Change>, next_offset: i64, epoch: i64) -> MergeRequest {
    MergeRequest {
        truncate: false,
        events: changes.len() as u64,
        changes,
        watermarks: vec![Watermark {
            tp: tp(0),
            next_offset,
            epoch: Epoch(epoch),
        }],
        dead_letters: Vec::new(),
        landing: None,
    }
}

async fn setup(pg: &LocalPostgres, with_pk: bool) -> (PgWarehouse, Box<dyn TableWriter>) {
    setup_in(pg, with_pk, Dialect::Postgres).await
}

/// Drops what [`setup_in`] made, for the next dialect's run on the same server.
async fn reset(pg: &LocalPostgres) {
    batch(
        pg,
        "DROP TABLE IF EXISTS public.t; DROP SCHEMA IF EXISTS tidemark CASCADE",
    )
    .await;
}

async fn setup_in(
    pg: &LocalPostgres,
    with_pk: bool,
    dialect: Dialect,
) -> (PgWarehouse, Box<dyn TableWriter>) {
    setup_with(pg, with_pk, dialect, PgMerge::Auto).await
}

async fn setup_with(
    pg: &LocalPostgres,
    with_pk: bool,
    dialect: Dialect,
    merge: PgMerge,
) -> (PgWarehouse, Box<dyn TableWriter>) {
    if dialect == Dialect::Redshift {
        batch(pg, tidemark_testkit::REDSHIFT_ON_POSTGRES).await;
    }
    let pk = if with_pk { "PRIMARY KEY" } else { "" };
    sql(pg, &format!("CREATE TABLE public.t (id bigint {pk}, name text, small smallint, loaded timestamptz DEFAULT now())")).await;
    let w = warehouse_with(pg, dialect, merge);
    w.prepare().await.expect("prepare");
    w.prepare().await.expect("prepare is idempotent");
    let table = TableName::parse("public.t").unwrap();
    let columns = w
        .describe(&table)
        .await
        .expect("describe")
        .expect("the table exists");
    assert_eq!(
        columns[0],
        ("id".into(), ColumnType::Int64, "bigint".into())
    );
    assert_eq!(columns[2].1, ColumnType::Int16);
    let layout =
        TableLayout::from_target(table, columns, &BTreeMap::new(), &["loaded".into()]).unwrap();
    layout.decide_key(vec![0]);
    let writer = w.writer(cell(&layout)).await.expect("writer");
    (w, writer)
}

#[tokio::test]
async fn merges_apply_latest_state_and_advance_the_watermark_in_one_transaction() {
    let pg = LocalPostgres::start().expect("postgres");
    let paths = APPLY_PATHS
        .into_iter()
        .flat_map(|(d, m)| [(d, m, true), (d, m, false)]);
    for (dialect, merge, with_pk) in paths {
        reset(&pg).await;
        let (w, mut writer) = setup_with(&pg, with_pk, dialect, merge).await;
        let epoch = w.next_epoch().await.unwrap();
        assert_eq!(w.claim(&[tp(0)], epoch).await.unwrap(), vec![None]);
        let stats = writer
            .merge(&request(
                vec![
                    upsert(1, "a", 0),
                    upsert(2, "b\n'\"\\", 1),
                    upsert(3, "c", 2),
                ],
                3,
                epoch.0,
            ))
            .await
            .unwrap();
        assert_eq!((stats.upserts, stats.deletes), (3, 0));
        let first_loaded = loaded_at(&pg).await;
        let stats = writer
            .merge(&request(
                vec![upsert(1, "a2", 3), delete(2, 4), delete(9, 5)],
                6,
                epoch.0,
            ))
            .await
            .unwrap();
        assert_eq!((stats.upserts, stats.deletes), (1, 1));
        assert_eq!(
            rows(&pg).await,
            vec![
                (1, Some("a2".into()), Some(1)),
                (3, Some("c".into()), Some(1))
            ]
        );
        // The unmanaged column got its default again for the replaced row (as a fresh insert
        // gives it), with an upsert in place as with a delete and an insert.
        assert!(
            loaded_at(&pg).await > first_loaded,
            "{dialect:?} {merge:?} pk {with_pk}"
        );
        let loaded = sql(
            &pg,
            "SELECT count(*) FROM public.t WHERE loaded IS NOT NULL",
        )
        .await;
        assert_eq!(loaded[0].get::<_, i64>(0), 2);
        let marks = w.watermarks().await.unwrap();
        assert_eq!(
            marks,
            vec![Watermark {
                tp: tp(0),
                next_offset: 6,
                epoch
            }]
        );
        // A watermark-only merge (a delete-only or tombstone-only run) still advances.
        writer.merge(&request(vec![], 9, epoch.0)).await.unwrap();
        assert_eq!(w.watermarks().await.unwrap()[0].next_offset, 9);
        // A value the source did not send (an unchanged TOASTed column) keeps the target's,
        // whichever PostgreSQL statements write the row (for Redshift the decoder refuses it).
        if dialect == Dialect::Redshift {
            continue;
        }
        let mut toasted = upsert(3, "not sent", 9);
        if let RowOp::Upsert(values) = &mut toasted.op {
            values[1] = Value::Unavailable;
            values[2] = Value::Int(2);
        }
        writer
            .merge(&request(vec![toasted, upsert(4, "d", 10)], 11, epoch.0))
            .await
            .unwrap();
        assert_eq!(
            rows(&pg).await,
            vec![
                (1, Some("a2".into()), Some(1)),
                (3, Some("c".into()), Some(2)),
                (4, Some("d".into()), Some(1))
            ],
            "{dialect:?} {merge:?} pk {with_pk}"
        );
    }
}

/// A batch larger than one staging statement can carry (the protocol's 32,767 parameters)
/// is staged in several multi-row INSERTs, all in the merge's transaction.
#[tokio::test]
async fn the_redshift_stage_is_filled_in_statements_under_the_parameter_limit() {
    let pg = LocalPostgres::start().expect("postgres");
    let (w, mut writer) = setup_in(&pg, false, Dialect::Redshift).await;
    let epoch = w.next_epoch().await.unwrap();
    w.claim(&[tp(0)], epoch).await.unwrap();
    // 4 parameters per row (flag, id, name, small): 10,000 rows need 2 statements.
    let changes: Vec<Change> = (0..10_000).map(|i| upsert(i, "n", i)).collect();
    let stats = writer
        .merge(&request(changes, 10_000, epoch.0))
        .await
        .unwrap();
    assert_eq!(stats.upserts, 10_000);
    let count = sql(&pg, "SELECT count(*), count(DISTINCT id) FROM public.t").await;
    assert_eq!(
        (count[0].get::<_, i64>(0), count[0].get::<_, i64>(1)),
        (10_000, 10_000)
    );
}

#[tokio::test]
async fn a_stale_owner_is_fenced_and_applies_nothing() {
    let pg = LocalPostgres::start().expect("postgres");
    for dialect in DIALECTS {
        reset(&pg).await;
        stale_owner_is_fenced(&pg, dialect).await;
    }
}

async fn stale_owner_is_fenced(pg: &LocalPostgres, dialect: Dialect) {
    let (w, mut old_owner) = setup_in(pg, false, dialect).await;
    let old = w.next_epoch().await.unwrap();
    w.claim(&[tp(0)], old).await.unwrap();
    old_owner
        .merge(&request(vec![upsert(1, "a", 0)], 1, old.0))
        .await
        .unwrap();

    // A new owner takes over: raises the epoch, then reads where to resume.
    let new = Epoch(old.0 + 5);
    assert_eq!(w.claim(&[tp(0)], new).await.unwrap(), vec![Some(1)]);
    assert!(w.next_epoch().await.unwrap() > new);

    // The old owner wakes up and tries to commit: rejected inside the transaction.
    let err = old_owner
        .merge(&request(
            vec![upsert(1, "zombie", 1), upsert(2, "zombie", 2)],
            3,
            old.0,
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, WarehouseError::Fenced { .. }), "{err}");
    assert!(!err.is_retriable());
    assert_eq!(rows(pg).await, vec![(1, Some("a".into()), Some(1))]);
    assert_eq!(w.watermarks().await.unwrap()[0].next_offset, 1);

    // An owner with an older epoch cannot claim either.
    let err = w.claim(&[tp(0)], old).await.unwrap_err();
    assert!(matches!(err, WarehouseError::Fenced { .. }), "{err}");
}

#[tokio::test]
async fn a_watermark_never_goes_backwards() {
    let pg = LocalPostgres::start().expect("postgres");
    for dialect in DIALECTS {
        reset(&pg).await;
        watermark_never_goes_backwards(&pg, dialect).await;
    }
}

async fn watermark_never_goes_backwards(pg: &LocalPostgres, dialect: Dialect) {
    let (w, mut writer) = setup_in(pg, true, dialect).await;
    let epoch = w.next_epoch().await.unwrap();
    w.claim(&[tp(0)], epoch).await.unwrap();
    writer
        .merge(&request(vec![upsert(1, "a", 9)], 10, epoch.0))
        .await
        .unwrap();
    let err = writer
        .merge(&request(vec![upsert(1, "old", 4)], 5, epoch.0))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            WarehouseError::WatermarkRegression {
                stored: 10,
                next_offset: 5,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(rows(pg).await, vec![(1, Some("a".into()), Some(1))]);
}

#[tokio::test]
async fn a_value_that_does_not_fit_names_the_record_and_applies_nothing() {
    let pg = LocalPostgres::start().expect("postgres");
    let (w, mut writer) = setup(&pg, true).await;
    let epoch = w.next_epoch().await.unwrap();
    let mut bad = upsert(2, "b", 41);
    bad.op = RowOp::Upsert(vec![
        Value::Int(2),
        Value::Text("b".into()),
        Value::Int(70_000),
    ]);
    let err = writer
        .merge(&request(vec![upsert(1, "a", 40), bad], 42, epoch.0))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("\"small\"") && text.contains("offset 41") && text.contains("70000"),
        "{text}"
    );
    assert!(rows(&pg).await.is_empty());
    assert!(w.watermarks().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_writer_reconnects_after_the_server_restarts() {
    let mut pg = LocalPostgres::start().expect("postgres");
    let (w, mut writer) = setup(&pg, true).await;
    let epoch = w.next_epoch().await.unwrap();
    writer
        .merge(&request(vec![upsert(1, "a", 0)], 1, epoch.0))
        .await
        .unwrap();
    pg.kill9();
    pg.restart().expect("restart");
    // The first attempt may find its connection dead: that is retriable, and the next works.
    let mut attempts = 0;
    loop {
        attempts += 1;
        match writer
            .merge(&request(vec![upsert(2, "b", 1)], 2, epoch.0))
            .await
        {
            Ok(_) => break,
            Err(e) if e.is_retriable() && attempts < 5 => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => panic!("not recovered after {attempts} attempts: {e}"),
        }
    }
    assert_eq!(rows(&pg).await.len(), 2);
}

#[tokio::test]
async fn a_missing_target_table_is_described_as_none() {
    let pg = LocalPostgres::start().expect("postgres");
    let w = warehouse(&pg);
    let described = w
        .describe(&TableName::parse("public.nope").unwrap())
        .await
        .expect("describe");
    assert_eq!(described, None);
}

#[tokio::test]
async fn key_index_detection() {
    let pg = LocalPostgres::start().expect("postgres");
    sql(&pg, "CREATE TABLE public.a (id bigint PRIMARY KEY, x text)").await;
    sql(&pg, "CREATE TABLE public.b (id bigint, x text)").await;
    sql(&pg, "CREATE TABLE public.c (id bigint, line int, x text)").await;
    sql(&pg, "CREATE INDEX ON public.c (id, line)").await;
    sql(&pg, "CREATE INDEX ON public.b (x)").await;
    let client = tidemark_testkit::connect(&pg.url()).await.unwrap();
    let key = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let shape = |t: &'static str, k: Vec<String>| {
        let client = &client;
        async move {
            let table = TableName::parse(t).unwrap();
            let columns: Vec<(String, ColumnType, String)> = vec![
                ("id".into(), ColumnType::Int64, "bigint".into()),
                ("x".into(), ColumnType::Text, "text".into()),
            ];
            let layout = TableLayout::from_target(table, columns, &BTreeMap::new(), &[]).unwrap();
            crate::writer::target_shape(client, &layout, &k)
                .await
                .unwrap()
        }
    };
    // Whether deleting by key can probe an index.
    let has = |t: &'static str, k: Vec<String>| {
        let shape = &shape;
        async move { shape(t, k).await.index != KeyIndex::None }
    };

    assert!(has("a", key(&["id"])).await);
    assert!(
        !has("b", key(&["id"])).await,
        "an index on another column does not help"
    );
    assert!(has("c", key(&["id", "line"])).await);
    assert!(
        !has("c", key(&["id"])).await,
        "(id, line) index is not all key columns"
    );
    // Which merge each shape gets: only a unique, immediate, non-partial index on exactly
    // the key arbitrates ON CONFLICT.
    sql(
        &pg,
        "CREATE TABLE public.d (id bigint, x text, loaded timestamptz DEFAULT now())",
    )
    .await;
    sql(
        &pg,
        "CREATE UNIQUE INDEX ON public.d (id) WHERE x IS NOT NULL",
    )
    .await;
    sql(&pg, "CREATE TABLE public.e (id bigint, line int, x text)").await;
    sql(&pg, "CREATE UNIQUE INDEX ON public.e (line, id)").await;
    sql(
        &pg,
        "CREATE TABLE public.f (id bigint UNIQUE DEFERRABLE, x text)",
    )
    .await;
    // The throwaway servers are PostgreSQL 15.
    let is = |index: KeyIndex, others: &[&str]| TargetShape {
        index,
        others: key(others),
        has_merge: true,
    };
    assert_eq!(shape("a", key(&["id"])).await, is(KeyIndex::Unique, &[]));
    assert_eq!(shape("b", key(&["id"])).await, is(KeyIndex::None, &[]));
    assert_eq!(
        shape("c", key(&["id", "line"])).await,
        is(KeyIndex::Covering, &["line"])
    );
    assert_eq!(
        shape("d", key(&["id"])).await,
        is(KeyIndex::Covering, &["loaded"]),
        "partial"
    );
    assert_eq!(
        shape("e", key(&["id", "line"])).await,
        is(KeyIndex::Unique, &["line"])
    );
    assert_eq!(
        shape("f", key(&["id"])).await,
        is(KeyIndex::Covering, &[]),
        "deferrable"
    );
}

/// The first merge with changes records the table's key; a writer (another replica) whose
/// layout decided another key is refused inside its transaction, nothing of it applied.
#[tokio::test]
async fn a_table_is_merged_by_one_recorded_key_across_writers() {
    let pg = LocalPostgres::start().expect("postgres");
    let (w, mut first) = setup(&pg, false).await;
    let table = TableName::parse("public.t").unwrap();
    assert_eq!(w.stored_key(&table).await.unwrap(), None);
    let epoch = w.next_epoch().await.unwrap();
    w.claim(&[tp(0)], epoch).await.unwrap();
    first
        .merge(&request(vec![upsert(1, "a", 0)], 1, epoch.0))
        .await
        .unwrap();
    assert_eq!(
        w.stored_key(&table).await.unwrap(),
        Some(vec!["id".to_string()])
    );

    let columns = w.describe(&table).await.unwrap().expect("the table exists");
    let other =
        TableLayout::from_target(table.clone(), columns, &BTreeMap::new(), &["loaded".into()])
            .unwrap();
    other.decide_key(vec![0, 1]);
    let mut second = w.writer(cell(&other)).await.unwrap();
    let change = Change {
        key: Key(vec![Value::Int(2), Value::Text("b".into())]),
        op: RowOp::Upsert(vec![Value::Int(2), Value::Text("b".into()), Value::Int(1)]),
        coord: RecordCoord {
            partition: 0,
            offset: 1,
        },
    };
    let err = second
        .merge(&request(vec![change], 2, epoch.0))
        .await
        .unwrap_err();
    assert!(matches!(err, WarehouseError::KeyMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("[id]") && err.to_string().contains("[id, name]"),
        "{err}"
    );
    assert_eq!(
        rows(&pg).await,
        vec![(1, Some("a".into()), Some(1))],
        "nothing of it applied"
    );
    assert_eq!(w.watermarks().await.unwrap()[0].next_offset, 1);
}

/// A fixed layout cell for a test's writer (it shares the layout's key decision).
pub(crate) fn cell(layout: &TableLayout) -> Arc<tidemark_model::LayoutCell> {
    Arc::new(tidemark_model::LayoutCell::fixed(layout.clone()))
}
