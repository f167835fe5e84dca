//! Harness for the end-to-end tests: real PostgreSQL and a real broker (tansu) per test,
//! the built `tidemark` binary run as a process, and comparison with the generator's oracle.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod cluster;
mod otlp;
mod pace;

pub use otlp::otlp_http_receiver;
pub use pace::Paced;

use tidemark_cdcgen::{Oracle, Record, TableDef};
use tidemark_testkit::{LocalPostgres, ProduceRecord, Tansu};

/// One source table and how it lands in the warehouse.
#[derive(Debug, Clone)]
pub struct TableSetup {
    pub def: TableDef,
    /// `schema.table`.
    pub target: String,
    /// Whether the target has a PRIMARY KEY constraint (the reference post's has none).
    pub with_pk: bool,
    /// Source field → target column.
    pub renames: BTreeMap<String, String>,
    /// `key = [...]` in config; `None` = the message key.
    pub key_fields: Option<Vec<String>>,
    /// Adds a `refresh_time timestamp DEFAULT now()` column listed as unmanaged.
    pub refresh_time_column: bool,
}

impl TableSetup {
    pub fn target_column(&self, source: &str) -> String {
        self.renames
            .get(source)
            .cloned()
            .unwrap_or_else(|| source.to_string())
    }

    pub fn target_columns(&self) -> Vec<String> {
        self.def
            .columns
            .iter()
            .map(|c| self.target_column(&c.name))
            .collect()
    }

    pub fn target_key(&self) -> Vec<String> {
        self.def
            .key
            .iter()
            .map(|&i| self.target_column(&self.def.columns[i].name))
            .collect()
    }
}

/// The three salesdb tables: CUSTOMER as in the reference post (renamed columns, no primary
/// key, a load-time column tidemark leaves alone), ORDERS with a primary key, ORDER_LINE with a
/// composite primary key and key columns named in config.
pub fn salesdb_setups() -> Vec<TableSetup> {
    let customer = TableDef::salesdb_customer();
    let orders = TableDef::salesdb_orders();
    let lines = TableDef::salesdb_order_line();
    vec![
        TableSetup {
            def: customer,
            target: "public.customer_target".into(),
            with_pk: false,
            renames: BTreeMap::from([
                ("CUST_ID".into(), "customer_id".into()),
                ("NAME".into(), "customer_name".into()),
                ("MKTSEGMENT".into(), "market_segment".into()),
            ]),
            key_fields: None,
            refresh_time_column: true,
        },
        TableSetup {
            def: orders,
            target: "sales.orders".into(),
            with_pk: true,
            renames: BTreeMap::new(),
            key_fields: None,
            refresh_time_column: false,
        },
        TableSetup {
            def: lines,
            target: "sales.order_line".into(),
            with_pk: true,
            renames: BTreeMap::new(),
            key_fields: Some(vec!["ORDER_ID".into(), "LINE_NO".into()]),
            refresh_time_column: false,
        },
    ]
}

/// The setups with every target created without a primary key, as Redshift (which does not
/// enforce keys) would have them.
pub fn without_primary_keys(mut setups: Vec<TableSetup>) -> Vec<TableSetup> {
    for s in &mut setups {
        s.with_pk = false;
    }
    setups
}

/// [`salesdb_setups`] with the typed CUSTOMER ([`TableDef::salesdb_customer_typed`]: plus
/// `BALANCE numeric(18,4)`, `CREATED_AT timestamp(6)`, `UPDATED_AT timestamptz(6)`,
/// `BIRTHDAY date`, landing in `balance`, `created_at`, `updated_at`, `birthday`).
pub fn salesdb_typed_setups() -> Vec<TableSetup> {
    let mut setups = salesdb_setups();
    let customer = &mut setups[0];
    customer.def = TableDef::salesdb_customer_typed();
    for (from, to) in [
        ("BALANCE", "balance"),
        ("CREATED_AT", "created_at"),
        ("UPDATED_AT", "updated_at"),
        ("BIRTHDAY", "birthday"),
    ] {
        customer.renames.insert(from.into(), to.into());
    }
    setups
}

/// A throwaway PostgreSQL, a tansu broker and a temp dir; all killed/removed on drop.
pub struct Stack {
    pub pg: LocalPostgres,
    pub kafka: Tansu,
    pub dir: tempfile::TempDir,
    /// More of every config's `[warehouse]` section (the dialect).
    pub warehouse: String,
}

impl Stack {
    /// Starts both services; fails the test (never skips) if either cannot start.
    pub fn start() -> Stack {
        let pg = LocalPostgres::start().unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
        let kafka = Tansu::start().unwrap_or_else(|e| panic!("cannot start tansu: {e}"));
        let dir = tempfile::tempdir().expect("temp dir");
        Stack {
            pg,
            kafka,
            dir,
            warehouse: String::new(),
        }
    }

    /// The stack with the warehouse spoken to in `dialect = "redshift"`: Redshift's merge
    /// path against PostgreSQL, which gets the few Redshift functions and type names the
    /// dialect's statements use ([`tidemark_testkit::REDSHIFT_ON_POSTGRES`]).
    pub fn redshift(mut self) -> Stack {
        self.sql(tidemark_testkit::REDSHIFT_ON_POSTGRES);
        self.warehouse = "dialect = \"redshift\"\n".to_string();
        self
    }

    pub fn url(&self) -> String {
        self.pg.url()
    }

    /// Runs SQL statements in the warehouse (test set-up), failing the test with the SQL.
    pub fn sql(&self, statements: &str) {
        block_on(async {
            let client = tidemark_testkit::connect(&self.url())
                .await
                .expect("connect");
            client
                .batch_execute(statements)
                .await
                .unwrap_or_else(|e| panic!("{statements}: {e}"));
        });
    }

    /// Writes these records to the broker (each names its topic and partition).
    pub fn send(&self, records: impl IntoIterator<Item = ProduceRecord>) {
        block_on(tidemark_testkit::produce_with(
            self.kafka.bootstrap(),
            self.kafka.client_properties(),
            records,
        ))
        .expect("produce");
    }

    /// A config file `<name>.toml` applying `topic` to `target`, created from the records'
    /// schema (`auto_create`); `warehouse` is more of the `[warehouse]` section.
    pub fn auto_table_config(
        &self,
        name: &str,
        topic: &str,
        target: &str,
        warehouse: &str,
    ) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "[kafka]\nbrokers = {:?}\n[warehouse]\nurl = {:?}\nauto_create = true\n{warehouse}\
                 [[tables]]\ntopic = {topic:?}\ntarget = {target:?}\n",
                self.kafka.bootstrap(),
                self.url()
            ),
        )
        .expect("write config");
        path
    }

    /// Creates the target tables and the topics.
    pub fn prepare(&self, setups: &[TableSetup], partitions: i32) {
        block_on(create_targets(&self.url(), setups));
        for s in setups {
            self.kafka
                .create_topic(&s.def.topic(), partitions)
                .unwrap_or_else(|e| panic!("creating topic {}: {e}", s.def.topic()));
        }
    }

    /// Writes a config file for these tables; `extra` is appended TOML (e.g. a `[batch]`).
    pub fn config(&self, name: &str, setups: &[TableSetup], extra: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.toml"));
        let text = config_text(
            self.kafka.bootstrap(),
            &self.url(),
            setups,
            &format!("{}{extra}", self.warehouse),
        );
        std::fs::write(&path, text).expect("write config");
        path
    }
}

pub fn config_text(brokers: &str, url: &str, setups: &[TableSetup], extra: &str) -> String {
    let mut t = format!("[kafka]\nbrokers = {brokers:?}\n[warehouse]\nurl = {url:?}\n{extra}\n");
    for s in setups {
        t.push_str(&format!(
            "[[tables]]\ntopic = {:?}\ntarget = {:?}\n",
            s.def.topic(),
            s.target
        ));
        if let Some(k) = &s.key_fields {
            t.push_str(&format!("key = {k:?}\n"));
        }
        if s.refresh_time_column {
            t.push_str("unmanaged_columns = [\"refresh_time\"]\n");
        }
        if !s.renames.is_empty() {
            t.push_str("[tables.columns]\n");
            for (from, to) in &s.renames {
                t.push_str(&format!("{from:?} = {to:?}\n"));
            }
        }
    }
    t
}

pub async fn create_targets(url: &str, setups: &[TableSetup]) {
    let client = tidemark_testkit::connect(url).await.expect("connect");
    if setups
        .iter()
        .any(|s| s.def.columns.iter().any(|c| c.kind.is_temporal()))
    {
        oracle_text_settings(&client).await;
    }
    for s in setups {
        let schema = s.target.split('.').next().unwrap_or("public");
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {}",
                tidemark_testkit::quote_ident(schema)
            ))
            .await
            .expect("create schema");
        let ddl = s.def.create_table_sql(&s.target, &s.renames, s.with_pk);
        client
            .batch_execute(&ddl)
            .await
            .unwrap_or_else(|e| panic!("{ddl}: {e}"));
        if s.refresh_time_column {
            client
                .batch_execute(&format!(
                    "ALTER TABLE {} ADD COLUMN refresh_time timestamp DEFAULT now()",
                    tidemark_testkit::quote_table(&s.target)
                ))
                .await
                .expect("add refresh_time");
        }
    }
}

/// Makes later sessions of the current database print dates and timestamps as the oracle
/// renders them (`::text` of a timestamptz depends on `TimeZone`, of a date on `DateStyle`).
pub async fn oracle_text_settings(client: &tokio_postgres::Client) {
    client
        .batch_execute(
            "DO $$ BEGIN \
             EXECUTE format('ALTER DATABASE %I SET TimeZone TO ''UTC''', current_database()); \
             EXECUTE format('ALTER DATABASE %I SET DateStyle TO ''ISO, MDY''', current_database()); \
             END $$",
        )
        .await
        .expect("database TimeZone/DateStyle");
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Produces generated records, in order, and returns how many.
pub fn produce(bootstrap: &str, records: impl IntoIterator<Item = Record>) -> u64 {
    let records = records.into_iter().map(|r| ProduceRecord {
        headers: Vec::new(),
        topic: r.topic,
        partition: r.partition,
        key: r.key,
        value: r.value,
    });
    block_on(tidemark_testkit::produce(bootstrap, records)).expect("produce")
}

/// Every target equals the oracle, and no key appears twice.
pub fn assert_matches_oracle(url: &str, setups: &[TableSetup], oracle: &Oracle) {
    block_on(async {
        for s in setups {
            let columns = s.target_columns();
            let key = s.target_key();
            let cols: Vec<&str> = columns.iter().map(String::as_str).collect();
            let keys: Vec<&str> = key.iter().map(String::as_str).collect();
            let dups = tidemark_testkit::duplicate_keys(url, &s.target, &keys)
                .await
                .expect("dups");
            assert_eq!(dups, 0, "{}: duplicate keys", s.target);
            let actual = tidemark_testkit::table_as_text(url, &s.target, &cols, &keys)
                .await
                .expect("read target");
            let expected = oracle.table(&s.def.topic());
            if actual != expected {
                panic!(
                    "{}: warehouse ({} rows) differs from oracle ({} rows)\n{}",
                    s.target,
                    actual.len(),
                    expected.len(),
                    table_differences(&expected, &actual)
                );
            }
            assert!(
                !expected.is_empty() || oracle.stats().events == 0,
                "{}: empty oracle",
                s.target
            );
        }
    })
}

/// What differs between two tables read by key (`table_as_text`): the first five keys
/// missing from `actual`, extra in it, and with other values (key, expected, actual).
pub fn table_differences(
    expected: &BTreeMap<Vec<String>, Vec<Option<String>>>,
    actual: &BTreeMap<Vec<String>, Vec<Option<String>>>,
) -> String {
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .take(5)
        .collect();
    let extra: Vec<_> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .take(5)
        .collect();
    let differing: Vec<_> = expected
        .iter()
        .filter_map(|(k, v)| actual.get(k).filter(|a| *a != v).map(|a| (k, v, a)))
        .take(5)
        .collect();
    format!(
        "missing: {missing:?}\nextra: {extra:?}\ndiffering (key, expected, actual): {differing:?}"
    )
}

/// Stored next offsets: (topic, partition) → offset.
pub fn watermarks(url: &str) -> BTreeMap<(String, i32), i64> {
    try_watermarks(url).unwrap_or_else(|e| panic!("reading watermarks: {e}"))
}

/// Stored next offsets, or why they could not be read (the warehouse may be down on purpose).
pub fn try_watermarks(url: &str) -> Result<BTreeMap<(String, i32), i64>, String> {
    block_on(async {
        let client = tidemark_testkit::connect(url)
            .await
            .map_err(|e| e.to_string())?;
        let rows = client
            .query(
                "SELECT topic, partition, next_offset FROM tidemark.watermarks WHERE next_offset IS NOT NULL",
                &[],
            )
            .await;
        let rows = match rows {
            Ok(rows) => rows,
            // tidemark has not created its tables yet: nothing is stored.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => {
                Vec::new()
            }
            Err(e) => return Err(e.to_string()),
        };
        Ok(rows
            .iter()
            .map(|r| {
                (
                    (r.get::<_, String>(0), r.get::<_, i32>(1)),
                    r.get::<_, i64>(2),
                )
            })
            .collect())
    })
}

/// High-water marks of the setups' topics: (topic, partition) → offset.
pub fn high_watermarks(bootstrap: &str, setups: &[TableSetup]) -> BTreeMap<(String, i32), i64> {
    let mut out = BTreeMap::new();
    for s in setups {
        let topic = s.def.topic();
        for (p, _low, high) in tidemark_testkit::high_watermarks(bootstrap, &topic).expect("hwm") {
            out.insert((topic.clone(), p), high);
        }
    }
    out
}

/// `cargo build --release -p PACKAGE --bin BIN`, from a bench run by `cargo bench`.
///
/// The variables cargo sets for the bench it runs (`CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR`…)
/// are removed: build scripts such as ring's list them in `rerun-if-env-changed`, so passing
/// them on makes every `cargo bench` rebuild those crates and everything above them twice
/// (once for the bench, once here).
pub fn cargo_build_release(package: &str, bin: &str) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["build", "--release", "-p", package, "--bin", bin]);
    for (name, _) in std::env::vars_os() {
        let set_by_cargo = name.to_str().is_some_and(|n| {
            n.starts_with("CARGO_PKG_")
                || n.starts_with("CARGO_MANIFEST_")
                || n.starts_with("CARGO_BIN_")
                || [
                    "CARGO_CRATE_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                    "OUT_DIR",
                ]
                .contains(&n)
        });
        if set_by_cargo {
            command.env_remove(&name);
        }
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("running cargo build -p {package}: {e}"));
    assert!(status.success(), "building {package} ({bin}) failed");
}

pub fn tidemark_bin() -> PathBuf {
    tidemark_testkit::workspace_bin("tidemark")
}

/// Runs `tidemark ARGS` to completion.
pub fn tidemark(args: &[&str]) -> Output {
    Command::new(tidemark_bin())
        .args(args)
        .env("TIDEMARK_LOG", "info")
        .output()
        .expect("run tidemark")
}

/// `tidemark refresh --json`; asserts success and returns the parsed summary.
pub fn refresh(config: &Path) -> serde_json::Value {
    let out = tidemark(&[
        "refresh",
        "--json",
        "--config",
        &config.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "refresh failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "refresh printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Sum of a numeric field over the summary's tables.
pub fn summary_total(summary: &serde_json::Value, field: &str) -> u64 {
    summary["tables"]
        .as_array()
        .map(|t| t.iter().filter_map(|x| x[field].as_u64()).sum())
        .unwrap_or(0)
}

/// A `tidemark run` process, killed by PID when dropped.
pub struct Running {
    pub child: Child,
    pub log: PathBuf,
    /// The port of its HTTP endpoints (a free one, so replicas and tests run side by side).
    pub http_port: u16,
}

impl Running {
    pub fn start(config: &Path, log: PathBuf) -> Running {
        Self::start_with_env(config, log, &[])
    }

    pub fn start_with_env(config: &Path, log: PathBuf, env: &[(&str, &str)]) -> Running {
        let file = std::fs::File::create(&log).expect("log file");
        let http_port = tidemark_testkit::free_port();
        let child = Command::new(tidemark_bin())
            .args(["run", "--config", &config.display().to_string()])
            .env("TIDEMARK_LOG", "info")
            .env("TIDEMARK__HTTP__LISTEN", format!("127.0.0.1:{http_port}"))
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn tidemark run");
        Running {
            child,
            log,
            http_port,
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the PID of a child we own.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits (bounded) and returns the exit status.
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                self.kill9();
                panic!(
                    "tidemark did not exit within {within:?} of SIGTERM:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().expect("wait") {
            panic!("tidemark exited early ({status}):\n{}", self.log_text());
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill9();
        }
    }
}

/// Polls until every partition's stored watermark reached its high-water mark, asserting on
/// the way that no watermark ever goes backwards.
pub fn wait_caught_up(
    url: &str,
    high: &BTreeMap<(String, i32), i64>,
    seen: &mut BTreeMap<(String, i32), i64>,
    within: Duration,
    mut alive: impl FnMut(),
) {
    let deadline = Instant::now() + within;
    loop {
        let now = watermarks(url);
        for (k, v) in &now {
            if let Some(prev) = seen.get(k) {
                assert!(
                    v >= prev,
                    "watermark of {k:?} went backwards: {prev} -> {v}"
                );
            }
            seen.insert(k.clone(), *v);
        }
        if high
            .iter()
            .all(|(k, h)| now.get(k).copied().unwrap_or(0) >= *h)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not caught up within {within:?}: stored {now:?}, high {high:?}"
        );
        alive();
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Appends a line to a file (for debugging output of long tests).
pub fn note(path: &Path, line: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

/// A record as Debezium writes it through Kafka Connect's JSON converter with schemas: a key
/// `{"id": id}` with the key field schema `id_field`, and a create event whose row struct has
/// these field schemas (each a Connect field schema JSON object with its `"field"` name).
pub fn connect_record(
    topic: &str,
    partition: i32,
    id: i64,
    id_field: &str,
    fields: &[&str],
    after: &str,
) -> ProduceRecord {
    connect_record_keyed(topic, partition, "id", id, id_field, fields, after)
}

/// [`connect_record`] with the key's field named `key_name` (`{"<key_name>": id}`), e.g. a
/// table's primary-key column; `id_field` is that field's schema.
pub fn connect_record_keyed(
    topic: &str,
    partition: i32,
    key_name: &str,
    id: i64,
    id_field: &str,
    fields: &[&str],
    after: &str,
) -> ProduceRecord {
    let row = format!(
        r#"{{"type":"struct","fields":[{}],"optional":true,"name":"{topic}.Value""#,
        fields.join(",")
    );
    // `source.ts_ms`: made in the source database now (for the source freshness metric).
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let value = format!(
        r#"{{"schema":{{"type":"struct","fields":[{row},"field":"before"}},{row},"field":"after"}},{{"type":"string","optional":false,"field":"op"}}],"optional":false,"name":"{topic}.Envelope"}},"payload":{{"before":null,"after":{after},"source":{{"connector":"mysql","ts_ms":{now_ms}}},"op":"c"}}}}"#
    );
    let key = format!(
        r#"{{"schema":{{"type":"struct","fields":[{id_field}],"optional":false,"name":"{topic}.Key"}},"payload":{{"{key_name}":{id}}}}}"#
    );
    ProduceRecord {
        headers: Vec::new(),
        topic: topic.into(),
        partition,
        key: Some(key.into_bytes()),
        value: Some(value.into_bytes()),
    }
}

/// Runs a query whose columns are all text, and returns its rows.
pub fn query_text(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    block_on(async {
        let client = tidemark_testkit::connect(url).await.expect("connect");
        client
            .query(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.get::<_, Option<String>>(i))
                    .collect()
            })
            .collect()
    })
}

/// `GET path` on 127.0.0.1:`port` with HTTP/1.0 (the server closes the connection after the
/// response): status and body, `None` if there is no answer.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// The value of the first sample line of a Prometheus exposition that starts with
/// `line_start` (`name{labels}`).
pub fn metric_sample(metrics: &str, line_start: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// An `ACCESS EXCLUSIVE` lock on a table, held until [`TableLock::release`]: merges into it
/// wait, so a drain takes as long as a test wants.
pub struct TableLock {
    /// Drives the locking connection while the test thread does other things.
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl TableLock {
    pub fn hold(url: &str, table: &str) -> TableLock {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let client = rt
            .block_on(tidemark_testkit::connect(url))
            .expect("connect");
        rt.block_on(client.batch_execute(&format!(
            "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
        )))
        .expect("lock");
        TableLock { rt, client }
    }

    pub fn release(self) {
        self.rt
            .block_on(self.client.batch_execute("COMMIT"))
            .expect("unlock");
    }
}
