//! `tidemark sql --config`: the built binary against a real PostgreSQL (no broker: the command
//! must not need one for explicit tables), for both dialects; the Redshift output is checked
//! statement by statement with a real SQL parser (`tests/redshift/check_sql.py`).

use std::path::{Path, PathBuf};

use tidemark_e2e::{block_on, tidemark};
use tidemark_testkit::LocalPostgres;

/// Mixed-case names, a composite primary key, a renamed column, a configured key, a target
/// `auto_create` makes, and a row whose value must never be printed.
const TARGETS: &str = r#"
    CREATE SCHEMA "Sales";
    CREATE TABLE "Sales"."Customer" ("Id" bigint, "Region" varchar(8), "Name" text,
        PRIMARY KEY ("Id", "Region"));
    CREATE TABLE public."OrderLines" (order_id bigint NOT NULL, "Qty" integer,
        note text, loaded_at timestamptz DEFAULT now());
    INSERT INTO "Sales"."Customer" VALUES (1, 'eu', 'SECRET-VALUE-42');
"#;

const TABLES: &str = r#"
[[tables]]
topic = "src.Sales.Customer"
target = "Sales.Customer"

[[tables]]
topic = "src.public.OrderLines"
target = "public.OrderLines"
key = ["order_id"]
unmanaged_columns = ["loaded_at"]
[tables.columns]
quantity = "Qty"

[[tables]]
topic = "src.public.later"
target = "public.later"
auto_create = true

[[tables]]
topics = '^other\..*'
target = "public.${table}"
"#;

fn config(dir: &Path, name: &str, url: &str, warehouse: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    // A broker nobody listens on: the command must not connect to it.
    let text = format!(
        "[kafka]\nbrokers = \"127.0.0.1:1\"\n[warehouse]\nurl = {url:?}\n{warehouse}{TABLES}"
    );
    std::fs::write(&path, text).expect("write config");
    path
}

fn run_sql(config: &Path) -> String {
    let out = tidemark(&["sql", "--config", &config.display().to_string()]);
    assert!(
        out.status.success(),
        "tidemark sql failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The printed statements, `(name, sql)`: the text between a `-- <label>: <name>` line and the
/// `;` that ends a line.
fn statements(output: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut name = String::new();
    let mut sql: Option<String> = None;
    for line in output.lines() {
        match &mut sql {
            None if line.starts_with("-- ") => name = line[3..].to_string(),
            None if line.trim().is_empty() => {}
            None => sql = Some(line.to_string()),
            Some(s) => {
                s.push('\n');
                s.push_str(line);
            }
        }
        if let Some(s) = &sql {
            if let Some(done) = s.strip_suffix(';') {
                out.push((name.clone(), done.to_string()));
                sql = None;
            }
        }
    }
    assert!(sql.is_none(), "unterminated statement at the end: {sql:?}");
    out
}

/// Runs the parser check on these statements; true if it passes.
fn check_redshift(dir: &Path, name: &str, statements: &[(String, String)]) -> (bool, String) {
    let python = std::env::var_os("TIDEMARK_CHECK_PYTHON").unwrap_or_else(|| {
        panic!("TIDEMARK_CHECK_PYTHON is not set: a Python with sqlglot is needed")
    });
    let path = dir.join(format!("{name}.json"));
    let list: Vec<serde_json::Value> = statements
        .iter()
        .map(|(name, sql)| serde_json::json!({ "name": name, "sql": sql }))
        .collect();
    std::fs::write(&path, serde_json::to_vec(&list).expect("json")).expect("write");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/redshift/check_sql.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&path)
        .output()
        .expect("run tests/redshift/check_sql.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// What both dialects' outputs say of the tables.
fn assert_names_every_table(output: &str) {
    for table in ["Sales.Customer", "public.OrderLines"] {
        assert!(
            output.contains(&format!("\n-- {table}: insert winners\n")),
            "{table} has no merge:\n{output}"
        );
        assert!(
            output.contains(&format!("\n-- {table}: delete replaced and deleted rows\n")),
            "{table} has no keyed delete:\n{output}"
        );
    }
    assert!(output.contains(r#""Sales"."Customer""#), "{output}");
    assert!(output.contains(r#""public"."OrderLines""#), "{output}");
    // The composite primary key, assumed for a message-keyed table nothing else keys.
    assert!(
        output.contains(r#"-- Sales.Customer: key ("Id", "Region") from the target's primary key"#),
        "{output}"
    );
    assert!(
        output.contains(r#"-- public.OrderLines: key ("order_id") from the configured key fields"#),
        "{output}"
    );
    assert!(output.contains(r#""Qty" (field "quantity")"#), "{output}");
    assert!(
        !output.contains("loaded_at"),
        "an unmanaged column is written:\n{output}"
    );
    assert!(
        output.contains("-- public.later: does not exist; auto_create will create it"),
        "{output}"
    );
    assert!(
        output.contains(r"topics = '^other\\..*'") || output.contains(r#"topics = "^other\\..*""#),
        "{output}"
    );
    assert!(output.contains("resolved against the broker"), "{output}");
    assert!(
        output.contains("(tidemark's own tables): advance watermark"),
        "{output}"
    );
    assert!(
        !output.contains("SECRET-VALUE-42"),
        "a record's value is printed"
    );
}

#[test]
fn sql_prints_both_dialects_statements_and_redshift_ones_parse_as_redshift() {
    let pg = LocalPostgres::start().unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let dir = tempfile::tempdir().expect("temp dir");
    block_on(async {
        let client = tidemark_testkit::connect(&pg.url()).await.expect("connect");
        client.batch_execute(TARGETS).await.expect("create targets");
    });

    let postgres = run_sql(&config(dir.path(), "postgres", &pg.url(), ""));
    assert_names_every_table(&postgres);
    assert!(postgres.contains("dialect postgres"), "{postgres}");
    assert!(
        postgres.contains("FROM STDIN (FORMAT binary)"),
        "{postgres}"
    );
    let pg_statements = statements(&postgres);
    assert!(pg_statements.len() > 25, "{pg_statements:?}");

    let redshift = run_sql(&config(
        dir.path(),
        "redshift",
        &pg.url(),
        "dialect = \"redshift\"\n",
    ));
    assert_names_every_table(&redshift);
    assert!(redshift.contains("dialect redshift"), "{redshift}");
    assert!(redshift.contains("shown for 2 rows"), "{redshift}");
    let rs_statements = statements(&redshift);
    assert!(rs_statements.len() > 25, "{rs_statements:?}");
    for (name, sql) in &rs_statements {
        assert!(!sql.trim().is_empty(), "{name} is empty");
        for bad in ["ON CONFLICT", "RETURNING", "FROM STDIN", "unnest", "::"] {
            assert!(!sql.contains(bad), "{name} has {bad}: {sql}");
        }
    }
    let (ok, report) = check_redshift(dir.path(), "redshift", &rs_statements);
    assert!(ok, "Redshift statements fail the parser check:\n{report}");
    // The check can fail: PostgreSQL's statements do not pass it.
    let (ok, _) = check_redshift(dir.path(), "postgres", &pg_statements);
    assert!(!ok, "the parser check accepted PostgreSQL's statements");

    // Read only: neither run created tidemark's tables.
    block_on(async {
        let client = tidemark_testkit::connect(&pg.url()).await.expect("connect");
        let row = client
            .query_one("SELECT to_regnamespace('tidemark') IS NULL", &[])
            .await
            .expect("query");
        assert!(
            row.get::<_, bool>(0),
            "tidemark sql created tidemark's schema"
        );
    });
}
