use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::RetryConfig;

use super::*;

type Row = Vec<Option<String>>;

fn row(cells: &[Option<&str>]) -> Row {
    cells.iter().map(|c| c.map(str::to_string)).collect()
}

/// Every kind of cell that must come back as it went in.
fn hostile_rows() -> Vec<Row> {
    let mut rows = vec![
        row(&[Some("f"), Some("1"), None, Some("")]),
        row(&[
            Some("f"),
            Some("2"),
            Some("tidemark:null"),
            Some("\"quoted\", with comma"),
        ]),
        row(&[
            Some("t"),
            Some("3"),
            Some("line1\nline2\r\nline3\r"),
            Some("ünïcødé ✓ 🚀 日本語"),
        ]),
        row(&[Some("f"), Some("4"), Some("\\N"), Some("NULL")]),
        row(&[Some("f"), Some("5"), Some("   "), Some("\"")]),
        row(&[Some("f"), Some("6"), Some(""), None]),
        row(&[
            Some("f"),
            Some("7"),
            Some("'; DROP TABLE x; --"),
            Some(",,\n,"),
        ]),
    ];
    // Enough to need several small files.
    for i in 8..200 {
        rows.push(row(&[
            Some("f"),
            Some(&i.to_string()),
            Some("filler, text"),
            None,
        ]));
    }
    rows
}

/// An RFC 4180 reader that keeps quoted and bare fields apart: a bare field must be the NULL
/// marker (tidemark quotes every text).
fn parse_csv(text: &str, null: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        s.push('"');
                    }
                    Some('"') => break,
                    Some(c) => s.push(c),
                    None => panic!("unterminated quoted field"),
                }
            }
            row.push(Some(s));
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c == ',' || c == '\n' {
                    break;
                }
                s.push(c);
                chars.next();
            }
            assert_eq!(s, null, "a bare field is only ever the NULL marker");
            row.push(None);
        }
        match chars.next() {
            Some(',') => {}
            Some('\n') => rows.push(std::mem::take(&mut row)),
            other => panic!("after a field: {other:?}"),
        }
    }
    assert!(row.is_empty(), "last row not ended by LF");
    rows
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .expect("gzip of UTF-8");
    text
}

/// The marker a [`StagedFiles`] names in `NULL AS`.
fn marker(staged: &StagedFiles) -> String {
    staged.null_as.0.trim_matches('\'').replace("''", "'")
}

#[test]
fn rows_round_trip_through_gzip_csv_with_null_empty_and_marker_text_apart() {
    let rows = hostile_rows();
    let null = null_marker(&rows);
    // A cell holds the first candidate, so the batch gets the next one.
    assert_eq!(null, "tidemark:null:1");
    let files = encode(&rows, &null, DEFAULT_MAX_FILE_BYTES).expect("encode");
    assert_eq!(files.len(), 1);
    assert_eq!(parse_csv(&gunzip(&files[0]), &null), rows);
    assert_eq!(null_marker(&[row(&[Some("x"), None])]), "tidemark:null");
}

#[test]
fn files_are_split_by_uncompressed_size_and_keep_row_order() {
    let rows = hostile_rows();
    let null = null_marker(&rows);
    let files = encode(&rows, &null, 512).expect("encode");
    assert!(files.len() > 3, "{} files", files.len());
    let mut back = Vec::new();
    for f in &files {
        let text = gunzip(f);
        assert!(text.len() <= 512, "{} bytes", text.len());
        back.extend(parse_csv(&text, &null));
    }
    assert_eq!(back, rows);
    // A row larger than the cap gets a file of its own; no rows still make one (empty) file.
    let big = vec![row(&[Some(&"x".repeat(100))]), row(&[Some("y")])];
    assert_eq!(encode(&big, &null, 10).expect("encode").len(), 2);
    let none: Vec<Row> = Vec::new();
    let empty = encode(&none, &null, 10).expect("encode");
    assert_eq!(empty.len(), 1);
    assert_eq!(gunzip(&empty[0]), "");
}

#[test]
fn literals_double_quotes_and_refuse_backslashes_and_control_characters() {
    assert_eq!(
        literal("arn:aws:iam::1:role/R").unwrap().0,
        "'arn:aws:iam::1:role/R'"
    );
    assert_eq!(literal("it's").unwrap().0, "'it''s'");
    assert!(literal("a\\b").unwrap_err().contains("'\\\\'"));
    assert!(literal("a\nb").is_err());
}

#[test]
fn key_segments_are_valid_and_distinct_for_distinct_names() {
    assert_eq!(key_segment("order_lines-2"), "order_lines-2");
    assert_eq!(key_segment("Sales.Order Lines"), "Sales=2EOrder=20Lines");
    assert_eq!(key_segment("a=2E"), "a=3D2E");
    assert_eq!(key_segment(""), "=");
    assert_ne!(key_segment("a.b"), key_segment("a_b"));
    let p = Path::parse(key_segment("ü/~%\"")).expect("a valid key");
    assert_eq!(p.as_ref(), "=C3=BC=2F=7E=25=22");
}

#[test]
fn settings_are_checked_before_any_request() {
    let base = settings(None);
    for bucket in [
        "",
        "ab",
        "Upper",
        "under_score",
        "-edge",
        "a'b",
        &"a".repeat(64),
    ] {
        let s = S3Settings {
            bucket: bucket.into(),
            ..base.clone()
        };
        let err = S3Stage::with_builder(&s, test_builder())
            .err()
            .expect(bucket);
        assert!(!err.is_retriable(), "{err}");
        assert!(
            err.to_string().contains("not a valid S3 bucket name"),
            "{err}"
        );
    }
    // From the environment's credential chain: no request is made to build it.
    S3Stage::new(&base).expect("settings without an endpoint");
    let s = S3Settings {
        iam_role: "arn\\x".into(),
        ..base.clone()
    };
    let err = S3Stage::with_builder(&s, test_builder())
        .err()
        .expect("backslash");
    assert!(err.to_string().contains("iam_role"), "{err}");
}

#[test]
fn errors_are_retriable_only_when_a_retry_may_get_past_them() {
    let generic = object_store::Error::Generic {
        store: "S3",
        source: "connection reset".into(),
    };
    assert!(store_error(&generic, "x").is_retriable());
    for refused in [
        object_store::Error::NotFound {
            path: "p".into(),
            source: "NoSuchBucket".into(),
        },
        object_store::Error::PermissionDenied {
            path: "p".into(),
            source: "AccessDenied".into(),
        },
        object_store::Error::Unauthenticated {
            path: "p".into(),
            source: "InvalidAccessKeyId".into(),
        },
    ] {
        let err = store_error(&refused, "x");
        assert!(!err.is_retriable(), "{err}");
        // The cause is printed once.
        let text = err.to_string();
        let cause = std::error::Error::source(&refused).unwrap().to_string();
        assert_eq!(text.matches(&cause).count(), 1, "{text}");
    }
}

/// Runs `tests/redshift/check_sql.py` on named statements.
fn check_sql(statements: &[(&str, &str)]) -> std::process::Output {
    let python = std::env::var_os("TIDEMARK_CHECK_PYTHON").unwrap_or_else(|| {
        panic!(
            "TIDEMARK_CHECK_PYTHON is not set: run the tests with `cargo xtask test`, which \
             prepares a Python with sqlglot and moto (tests/helm/requirements.txt) and sets it"
        )
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("statements.json");
    let json: Vec<_> = statements
        .iter()
        .map(|(name, sql)| serde_json::json!({ "name": name, "sql": sql }))
        .collect();
    std::fs::write(&path, serde_json::to_vec(&json).expect("json")).expect("write");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/redshift/check_sql.py"
    );
    Command::new(python)
        .arg(script)
        .arg(&path)
        .output()
        .expect("run tests/redshift/check_sql.py")
}

fn assert_redshift(sql: &str) {
    for pg_only in ["FROM STDIN", "ON CONFLICT", "RETURNING"] {
        assert!(!sql.contains(pg_only), "{pg_only}: {sql}");
    }
    let out = check_sql(&[("copy", sql)]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn staged_example(region: Option<&str>) -> StagedFiles {
    StagedFiles {
        files: vec![Path::from("p/part-00000.csv.gz")],
        manifest: Path::from("p/manifest"),
        manifest_url: literal("s3://bucket/p/manifest").unwrap(),
        null_as: literal("tidemark:null").unwrap(),
        iam_role: literal("arn:aws:iam::123456789012:role/Load'er").unwrap(),
        region: region.map(|r| literal(r).unwrap()),
        width: 3,
        rows: 1,
    }
}

#[test]
fn the_copy_statement_is_redshift_sql_that_names_the_manifest_role_and_null_marker() {
    let columns = ["Id", "we\"ird name"];
    let with_region = copy_statement(&staged_example(Some("eu-west-1")), &columns);
    assert_eq!(
        with_region,
        "COPY \"tidemark_stage\" (\"__tidemark_delete\", \"Id\", \"we\"\"ird name\") FROM \
         's3://bucket/p/manifest' IAM_ROLE 'arn:aws:iam::123456789012:role/Load''er' MANIFEST \
         FORMAT AS CSV GZIP NULL AS 'tidemark:null' REGION 'eu-west-1' COMPUPDATE OFF \
         STATUPDATE OFF"
    );
    assert_redshift(&with_region);
    let without = copy_statement(&staged_example(None), &columns);
    assert!(!without.contains("REGION"), "{without}");
    assert_redshift(&without);
    // The check bites on a COPY too: PostgreSQL's form, and one without the role, fail it.
    for bad in [
        without.replace("FROM 's3://bucket/p/manifest'", "FROM STDIN"),
        without.replace(" IAM_ROLE 'arn:aws:iam::123456789012:role/Load''er'", ""),
    ] {
        assert!(
            !check_sql(&[("bad", &bad)]).status.success(),
            "accepted {bad}"
        );
    }
}

/// A moto S3 server on a free loopback port, killed (by its PID) when dropped.
struct Moto {
    child: Child,
    port: u16,
    _log_dir: tempfile::TempDir,
}

impl Moto {
    fn start() -> Self {
        let python = std::env::var_os("TIDEMARK_CHECK_PYTHON")
            .unwrap_or_else(|| panic!("TIDEMARK_CHECK_PYTHON is not set (a Python with moto)"));
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log_dir = tempfile::tempdir().expect("temp dir");
        let log_path = log_dir.path().join("moto.log");
        // Its request log goes to a file: a pipe nobody reads would fill and stall the server.
        let log = std::fs::File::create(&log_path).expect("log file");
        let child = Command::new(python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start python -m moto.server");
        let mut moto = Moto {
            child,
            port,
            _log_dir: log_dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = moto.child.try_wait().expect("moto status") {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("moto.server exited ({status}) before answering:\n{log}");
            }
            if moto
                .request("GET", "/")
                .is_some_and(|s| s.starts_with("HTTP/1."))
            {
                return moto;
            }
            assert!(
                Instant::now() < deadline,
                "moto.server did not answer within 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// An unsigned request (moto does not check signatures); the response's status line.
    fn request(&self, method: &str, path: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        s.write_all(req.as_bytes()).ok()?;
        let mut response = String::new();
        s.read_to_string(&mut response).ok()?;
        response.lines().next().map(str::to_string)
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn settings(endpoint: Option<String>) -> S3Settings {
    S3Settings {
        bucket: "tidemark-stage".into(),
        prefix: "/staging/redshift/".into(),
        pipeline: "orders pipeline".into(),
        region: Some("us-east-1".into()),
        endpoint,
        iam_role: "arn:aws:iam::123456789012:role/RedshiftLoad".into(),
        max_file_bytes: 1024,
    }
}

/// Credentials for the test server only; nothing from the environment.
fn test_builder() -> AmazonS3Builder {
    AmazonS3Builder::new()
        .with_access_key_id("test")
        .with_secret_access_key("test")
}

async fn get(stage: &S3Stage, path: &Path) -> Vec<u8> {
    let got = stage.store.get(path).await.expect("get");
    got.bytes().await.expect("body").to_vec()
}

#[tokio::test]
async fn a_batch_is_uploaded_read_back_exactly_copied_by_manifest_and_removed() {
    let moto = Moto::start();
    assert_eq!(
        moto.request("PUT", "/tidemark-stage").as_deref(),
        Some("HTTP/1.1 200 OK"),
        "create bucket"
    );
    let stage =
        S3Stage::with_builder(&settings(Some(moto.endpoint())), test_builder()).expect("stage");
    let table = TableName::parse("Sales.Order Lines").unwrap();
    let rows = hostile_rows();
    let staged = stage
        .upload(&table, "e7-p0-1200", &rows)
        .await
        .expect("upload");
    let dir = "staging/redshift/orders=20pipeline/Sales.Order=20Lines/e7-p0-1200";
    assert_eq!(staged.manifest.as_ref(), format!("{dir}/manifest"));
    assert!(staged.files.len() > 3, "{} files", staged.files.len());
    assert_eq!((staged.rows, staged.width), (rows.len(), 4));

    // The manifest lists exactly the data files, each mandatory.
    let manifest: serde_json::Value =
        serde_json::from_slice(&get(&stage, &staged.manifest).await).expect("manifest JSON");
    let expected: Vec<serde_json::Value> = staged
        .files
        .iter()
        .map(
            |p| serde_json::json!({ "url": format!("s3://tidemark-stage/{p}"), "mandatory": true }),
        )
        .collect();
    assert_eq!(manifest, serde_json::json!({ "entries": expected }));
    let listed: Vec<Path> = stage
        .store
        .list(Some(&Path::from(dir)))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .expect("list");
    assert_eq!(listed.len(), staged.files.len() + 1, "{listed:?}");

    // Every cell comes back exactly.
    let null = marker(&staged);
    assert_eq!(null, "tidemark:null:1");
    let mut back = Vec::new();
    for f in &staged.files {
        back.extend(parse_csv(&gunzip(&get(&stage, f).await), &null));
    }
    assert_eq!(back, rows);

    let sql = copy_statement(&staged, &["id", "note", "Name"]);
    assert!(
        sql.contains(&format!(
            "FROM 's3://tidemark-stage/{dir}/manifest' IAM_ROLE \
             'arn:aws:iam::123456789012:role/RedshiftLoad' MANIFEST"
        )),
        "{sql}"
    );
    assert!(sql.contains("NULL AS 'tidemark:null:1'"), "{sql}");
    assert_redshift(&sql);

    stage.remove(&staged).await.expect("remove");
    let left: Vec<_> = stage
        .store
        .list(Some(&Path::from("staging")))
        .try_collect()
        .await
        .expect("list");
    assert!(left.is_empty(), "{left:?}");
    // Removing again (after a failure part-way) is fine.
    stage.remove(&staged).await.expect("remove again");
}

#[tokio::test]
async fn a_missing_bucket_is_a_clear_error_that_is_not_retried() {
    let moto = Moto::start();
    let s = S3Settings {
        bucket: "no-such-bucket".into(),
        ..settings(Some(moto.endpoint()))
    };
    let stage = S3Stage::with_builder(&s, test_builder()).expect("stage");
    let table = TableName::parse("public.t").unwrap();
    let err = stage
        .upload(&table, "b1", &hostile_rows())
        .await
        .expect_err("no bucket");
    assert!(!err.is_retriable(), "{err}");
    let text = err.to_string();
    assert!(text.contains("s3://no-such-bucket/"), "{text}");
    assert!(text.contains("NoSuchBucket"), "{text}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_retriable() {
    // A port nobody listens on (bound, then released).
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let builder = test_builder().with_retry(RetryConfig {
        max_retries: 0,
        retry_timeout: Duration::from_secs(1),
        ..RetryConfig::default()
    });
    let stage = S3Stage::with_builder(&settings(Some(format!("http://127.0.0.1:{port}"))), builder)
        .expect("stage");
    let table = TableName::parse("public.t").unwrap();
    let err = stage
        .upload(&table, "b1", &[row(&[Some("f")])])
        .await
        .expect_err("nobody listens");
    assert!(err.is_retriable(), "{err}");
}

/// The Redshift writer with `staging = "s3"` against PostgreSQL and the S3 server: the batch is
/// uploaded, then the COPY (which PostgreSQL cannot run: it has no S3) fails; the merge is
/// rolled back and every staged file is gone — the removal runs whether the transaction
/// commits or not.
#[tokio::test]
async fn the_writer_uploads_then_removes_the_files_whatever_the_copy_does() {
    use tidemark_model::{
        Change, Epoch, Key, RecordCoord, RowOp, TopicPartition, Value, Watermark,
    };
    use tidemark_ports::{MergeRequest, Warehouse};

    let moto = Moto::start();
    assert_eq!(
        moto.request("PUT", "/tidemark-stage").as_deref(),
        Some("HTTP/1.1 200 OK"),
        "create bucket"
    );
    // The writer takes its credentials from the standard chain: the environment here (each
    // test is a process of its own under nextest).
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    let pg = tidemark_testkit::LocalPostgres::start().expect("postgres");
    let client = tidemark_testkit::connect(&pg.url()).await.expect("connect");
    client
        .batch_execute(tidemark_testkit::REDSHIFT_ON_POSTGRES)
        .await
        .expect("compat");
    client
        .batch_execute("CREATE TABLE public.t (id bigint, name varchar(20))")
        .await
        .expect("table");
    let w = crate::PgWarehouse::new(crate::PgSettings {
        url: pg.url(),
        password: None,
        tls: None,
        schema: "tidemark".into(),
        pipeline: "orders pipeline".into(),
        statement_timeout: Duration::from_secs(30),
        redshift: Some(std::sync::Arc::new(crate::redshift::RedshiftSettings {
            staging: crate::redshift::Staging::S3(settings(Some(moto.endpoint()))),
            tables: Default::default(),
        })),
        merge: Default::default(),
    })
    .expect("warehouse");
    w.prepare().await.expect("prepare");
    let table = TableName::parse("public.t").unwrap();
    let columns = w.describe(&table).await.expect("describe").expect("exists");
    let layout =
        tidemark_model::TableLayout::from_target(table, columns, &Default::default(), &[]).unwrap();
    layout.decide_key(vec![0]);
    let cell = std::sync::Arc::new(tidemark_model::LayoutCell::fixed(layout));
    let mut writer = w.writer(cell).await.expect("writer");
    let tp = TopicPartition::new("orders", 0);
    let epoch = w.next_epoch().await.expect("epoch");
    w.claim(std::slice::from_ref(&tp), epoch)
        .await
        .expect("claim");
    let changes: Vec<Change> = (0..50)
        .map(|i| Change {
            key: Key(vec![Value::Int(i)]),
            op: RowOp::Upsert(vec![Value::Int(i), Value::Text(format!("row, \"{i}\""))]),
            coord: RecordCoord {
                partition: 0,
                offset: i,
            },
        })
        .collect();
    let request = MergeRequest {
        truncate: false,
        events: 50,
        changes,
        watermarks: vec![Watermark {
            tp,
            next_offset: 50,
            epoch: Epoch(epoch.0),
        }],
        dead_letters: Vec::new(),
        landing: None,
    };
    let err = writer
        .merge(&request)
        .await
        .expect_err("PostgreSQL has no COPY from S3");
    assert!(
        err.to_string().contains("loading the staged files (COPY)"),
        "the upload went through and the COPY ran: {err}"
    );
    let stage =
        S3Stage::with_builder(&settings(Some(moto.endpoint())), test_builder()).expect("stage");
    let left: Vec<_> = stage
        .store
        .list(Some(&Path::from("staging")))
        .try_collect()
        .await
        .expect("list");
    assert!(left.is_empty(), "staged files left behind: {left:?}");
    assert!(w.watermarks().await.expect("watermarks").is_empty());
}
