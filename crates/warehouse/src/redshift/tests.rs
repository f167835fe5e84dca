use std::collections::BTreeMap;

use tidemark_model::{ColumnType, ElementType, TableLayout, TableName};

use super::*;

/// Every column type the Debezium schemas map to, as the PostgreSQL type `auto_create` would
/// give it (see `tidemark_debezium`'s evolve plan), under hostile and mixed-case names.
fn every_type() -> Vec<(String, ColumnType, String)> {
    [
        ("Id", ColumnType::Int64, "bigint"),
        ("flag", ColumnType::Bool, "boolean"),
        ("small", ColumnType::Int16, "smallint"),
        ("regular", ColumnType::Int32, "integer"),
        ("ratio", ColumnType::Float32, "real"),
        ("precise", ColumnType::Float64, "double precision"),
        ("price", ColumnType::Numeric, "numeric(10,2)"),
        ("whole", ColumnType::Numeric, "numeric(38)"),
        ("any_scale", ColumnType::Numeric, "numeric"),
        ("note", ColumnType::Text, "text"),
        ("Order", ColumnType::Text, "character varying(20)"),
        ("code", ColumnType::Text, "character(3)"),
        ("blob", ColumnType::Bytes, "bytea"),
        ("born", ColumnType::Date, "date"),
        ("at", ColumnType::Time, "time(3) without time zone"),
        ("at_tz", ColumnType::TimeTz, "time with time zone"),
        (
            "created",
            ColumnType::Timestamp,
            "timestamp(3) without time zone",
        ),
        ("zoned", ColumnType::TimestampTz, "timestamp with time zone"),
        ("took", ColumnType::Interval, "interval"),
        ("uuid", ColumnType::Uuid, "uuid"),
        ("doc", ColumnType::Jsonb, "jsonb"),
        ("raw_doc", ColumnType::Json, "json"),
        ("bits", ColumnType::Bits, "bit(5)"),
        ("tags", ColumnType::Array(ElementType::Text), "text[]"),
        ("scores", ColumnType::Array(ElementType::Int32), "integer[]"),
        ("mood", ColumnType::Other, "mood"),
        ("\"; DROP TABLE x; --", ColumnType::Text, "text"),
        ("naïve col", ColumnType::Text, "text"),
    ]
    .into_iter()
    .map(|(n, t, s)| (n.to_string(), t, s.to_string()))
    .collect()
}

fn layout(table: &str, columns: Vec<(String, ColumnType, String)>) -> TableLayout {
    TableLayout::from_target(
        TableName::parse(table).expect("table"),
        columns,
        &BTreeMap::new(),
        &[],
    )
    .expect("layout")
}

/// A table keyed by (`CUST_ID`, `region`), with one more column.
fn customer(table: &str) -> TableLayout {
    layout(
        table,
        vec![
            ("CUST_ID".into(), ColumnType::Int64, "bigint".into()),
            (
                "region".into(),
                ColumnType::Text,
                "character varying(8)".into(),
            ),
            ("NAME".into(), ColumnType::Text, "text".into()),
        ],
    )
}

fn column(name: &str, ty: ColumnType, sql_type: &str) -> TargetColumn {
    layout("t", vec![(name.into(), ty, sql_type.into())]).columns[0].clone()
}

#[test]
fn types_map_to_redshift_losslessly_or_fail_naming_the_column() {
    let ty = |t, s: &str| column_type(&column("c", t, s));
    assert_eq!(
        ty(ColumnType::Numeric, "numeric(10,2)").unwrap(),
        "DECIMAL(10,2)"
    );
    assert_eq!(
        ty(ColumnType::Numeric, "numeric").unwrap(),
        "DECIMAL(38,10)"
    );
    // The declared length is the byte count, as Redshift reads it and as the decoder checks
    // it (`Capacity`): a longer value is refused, never cut.
    assert_eq!(
        ty(ColumnType::Text, "character varying(20)").unwrap(),
        "VARCHAR(20)"
    );
    assert_eq!(
        ty(ColumnType::Text, "character varying(70000)").unwrap(),
        "VARCHAR(65535)"
    );
    assert_eq!(ty(ColumnType::Bytes, "bytea").unwrap(), "VARBYTE(1024000)");
    assert_eq!(ty(ColumnType::Text, "text").unwrap(), "VARCHAR(65535)");
    assert_eq!(ty(ColumnType::Uuid, "uuid").unwrap(), "CHAR(36)");
    assert_eq!(ty(ColumnType::Jsonb, "jsonb").unwrap(), "SUPER");
    assert_eq!(
        ty(ColumnType::Array(ElementType::Int64), "bigint[]").unwrap(),
        "SUPER"
    );
    let err = column_type(&column("amount", ColumnType::Numeric, "numeric(40,2)")).unwrap_err();
    assert_eq!(err.column, "amount");
    assert!(err.reason.contains("38 digits"), "{err}");
}

#[test]
fn staging_statements_number_their_parameters_and_stay_under_the_limits() {
    let l = layout("public.t", every_type());
    let sql = MergeSql::new(&l, &[0]).unwrap();
    let width = l.columns.len() + 1;
    assert_eq!(sql.stage_width, width);
    let two = sql.stage_rows(2);
    assert!(
        two.ends_with(&format!("${}, ${})", 2 * width - 1, 2 * width)),
        "{two}"
    );
    assert!(
        two.contains(&format!("${}), (${}", width, width + 1)),
        "{two}"
    );
    let rows = sql.rows_per_statement(100);
    assert!(rows * width <= MAX_PARAMETERS);
    // Rows of 1 MB each: a statement holds at most 8 of them (half of the 16 MB limit).
    assert_eq!(sql.rows_per_statement(1 << 20), 8);
    assert_eq!(sql.rows_per_statement(usize::MAX), 1);
}

/// Every statement the dialect emits, for a table of every type with hostile names, a
/// composite key, physical options, and tidemark's own tables.
fn every_statement() -> Vec<(String, String)> {
    let mut out = vec![("session".to_string(), SESSION_SETUP.to_string())];
    let wide = layout("Sales.Order Lines", every_type());
    let options = TableOptions {
        diststyle: Some("key".into()),
        distkey: Some("Id".into()),
        sortkey: vec!["Id".into(), "created".into()],
        encode: vec![
            ("note".into(), "zstd".into()),
            ("created".into(), "az64".into()),
        ],
    };
    let plain = customer("public.customer");
    let insert = RedshiftSettings::default();
    let s3 = RedshiftSettings {
        staging: Staging::S3(S3Settings {
            bucket: "tidemark-stage".into(),
            prefix: "staging".into(),
            pipeline: "orders".into(),
            region: Some("us-east-1".into()),
            endpoint: None,
            iam_role: "arn:aws:iam::123456789012:role/RedshiftLoad".into(),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }),
        tables: Default::default(),
    };
    for (name, l, key, options) in [
        ("every type", &wide, vec![0, 10], &options),
        (
            "composite key",
            &plain,
            vec![0, 1],
            &TableOptions::default(),
        ),
    ] {
        out.push((
            format!("{name}: create table"),
            create_table(l, &key, options).unwrap(),
        ));
        // What the writer runs, as `tidemark sql` lists it, in both staging modes.
        for (mode, settings) in [("insert", &insert), ("s3", &s3)] {
            let statements = crate::dry_run::table_statements(
                Some(settings),
                l,
                Some(&key),
                None,
                Default::default(),
            )
            .unwrap();
            for (step, sql) in statements {
                out.push((format!("{name}, {mode} staging: {step}"), sql));
            }
        }
        let m = MergeSql::new(l, &key).unwrap();
        out.push((format!("{name}: stage 3 rows"), m.stage_rows(3)));
    }
    for (step, sql) in crate::dry_run::own_statements(Some(&insert), "tidemark") {
        out.push((format!("own: {step}"), sql));
    }
    out.push(("describe".into(), state::DESCRIBE.into()));
    out.push((
        "create schema".into(),
        state::create_schema(&TableName {
            schema: "Sales".into(),
            name: "x".into(),
        }),
    ));
    out
}

#[test]
fn every_statement_parses_as_redshift_sql_without_postgresql_only_constructs() {
    let python = std::env::var_os("TIDEMARK_CHECK_PYTHON").unwrap_or_else(|| {
        panic!(
            "TIDEMARK_CHECK_PYTHON is not set: run the tests with `cargo xtask test`, which \
             prepares a Python with sqlglot (tests/helm/requirements.txt) and sets it"
        )
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("statements.json");
    let statements: Vec<serde_json::Value> = every_statement()
        .into_iter()
        .map(|(name, sql)| serde_json::json!({ "name": name, "sql": sql }))
        .collect();
    assert!(statements.len() > 20);
    std::fs::write(&path, serde_json::to_vec(&statements).expect("json")).expect("write");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/redshift/check_sql.py"
    );
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&path)
        .output()
        .expect("run tests/redshift/check_sql.py");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_checker_rejects_what_redshift_lacks() {
    // The check above must be able to fail: PostgreSQL's own statements do not pass it.
    let python = std::env::var_os("TIDEMARK_CHECK_PYTHON").expect("TIDEMARK_CHECK_PYTHON");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("pg.json");
    let l = layout("public.t", every_type());
    let pg = crate::merge_sql::MergeSql::new(&l, &[0]);
    for sql in [pg.delete, pg.create_stage, pg.copy_in, pg.clear_stage] {
        std::fs::write(
            &path,
            serde_json::json!([{ "name": "pg", "sql": sql }]).to_string(),
        )
        .expect("write");
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/redshift/check_sql.py"
        );
        let out = std::process::Command::new(&python)
            .arg(script)
            .arg(&path)
            .output()
            .expect("run check_sql.py");
        assert!(!out.status.success(), "accepted PostgreSQL-only SQL: {sql}");
    }
}

/// The statements do what they say against a real server: PostgreSQL, which accepts them as
/// they are written for Redshift (the emulation the merge path's oracle tests will run on).
#[tokio::test]
async fn the_merge_and_the_fenced_watermark_apply_on_postgresql() {
    let pg = tidemark_testkit::LocalPostgres::start().expect("postgres");
    let mut client = tidemark_testkit::connect(&pg.url()).await.expect("connect");
    let l = customer("public.Customer");
    let key = [0, 1];
    let ddl = create_table(&l, &key, &TableOptions::default()).unwrap();
    for sql in create_own_tables("tidemark").iter().chain([&ddl]) {
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let m = MergeSql::new(&l, &key).unwrap();
    let w = WatermarkSql::new("tidemark");
    let state = state::StateSql::new("tidemark");
    client.batch_execute(&m.create_stage).await.expect("stage");
    type Row = (bool, i64, &'static str, Option<&'static str>);
    // (rows staged as (delete flag, id, region, name), next offset, epoch, fenced?)
    let merges: [(Vec<Row>, i64, i64, bool); 3] = [
        (
            vec![(false, 1, "eu", Some("a")), (false, 2, "us", Some("b"))],
            2,
            1,
            false,
        ),
        // Replaces 1, deletes 2 (and a key that is not there).
        (
            vec![
                (false, 1, "eu", Some("a2")),
                (true, 2, "us", None),
                (true, 9, "xx", None),
            ],
            3,
            1,
            false,
        ),
        // A zombie of an older epoch: fenced, nothing of it stays.
        (vec![(false, 7, "eu", Some("zombie"))], 4, 0, true),
    ];
    type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);
    for (rows, next, epoch, expect_fenced) in merges {
        let mut params: Vec<Param<'_>> = Vec::new();
        for (flag, id, region, name) in &rows {
            params.extend::<[Param<'_>; 4]>([flag, id, region, name]);
        }
        let tx = client.transaction().await.expect("begin");
        tx.batch_execute(&m.clear_stage).await.expect("clear");
        tx.execute(&m.stage_rows(rows.len()), &params)
            .await
            .expect("stage rows");
        tx.batch_execute(&m.lock).await.expect("lock");
        let deleted: i64 = tx
            .query_one(&m.count_deleted, &[])
            .await
            .expect("count")
            .get(0);
        tx.execute(&m.delete, &[]).await.expect("delete");
        tx.execute(&m.insert, &[]).await.expect("insert");
        let (pipeline, topic, partition) = ("p", "t", 0i32);
        tx.batch_execute(&state.lock_watermarks)
            .await
            .expect("lock watermarks");
        let stored = tx
            .query_opt(&state.stored_watermark, &[&pipeline, &topic, &partition])
            .await
            .expect("stored watermark");
        let mark = tidemark_model::Watermark {
            tp: tidemark_model::TopicPartition::new(topic, partition),
            next_offset: next,
            epoch: tidemark_model::Epoch(epoch),
        };
        let fenced = stored.is_some_and(|r| !crate::fence::admits(&mark, r.get(0), r.get(1)));
        assert_eq!(fenced, expect_fenced, "epoch {epoch}");
        if fenced {
            tx.rollback().await.expect("rollback");
            continue;
        }
        let args: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
            [&pipeline, &topic, &partition, &next, &epoch];
        let updated = tx.execute(&w.update, &args).await.expect("update");
        let inserted = tx
            .execute(&w.insert, &args)
            .await
            .expect("insert watermark");
        assert_eq!(updated + inserted, 1);
        tx.commit().await.expect("commit");
        if next == 3 {
            assert_eq!(deleted, 1, "one delete winner had a row");
        }
    }
    let rows: Vec<(i64, String, Option<String>)> = client
        .query(
            r#"SELECT "CUST_ID", "region", "NAME" FROM "public"."Customer" ORDER BY 1"#,
            &[],
        )
        .await
        .expect("select")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(rows, vec![(1, "eu".to_string(), Some("a2".to_string()))]);
    let wm: (i64, i64) = client
        .query_one(
            r#"SELECT next_offset, epoch FROM "tidemark"."watermarks""#,
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .expect("watermark");
    assert_eq!(wm, (3, 1));
}
