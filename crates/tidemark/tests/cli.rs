//! The command-line surface: `validate` and the embedded `demo`. Living in the binary's own
//! package also makes `cargo nextest run --workspace` build `target/<profile>/tidemark`, which
//! the end-to-end tests under `tests/` run as a process.

use std::process::{Command, Output};

fn tidemark(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tidemark"))
        .args(args)
        .output()
        .expect("run tidemark")
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

const GOOD: &str = r#"
[kafka]
brokers = "127.0.0.1:9092"
[warehouse]
url = "postgres://postgres@127.0.0.1:5432/dev"
dialect = "postgres"
[coordination]
mode = "standalone"
slices = 2
[batch]
max_rows = 10000
linger = "200ms"
[[tables]]
topic = "salesdb.salesdb.CUSTOMER"
target = "public.customer_target"
key = ["CUST_ID"]
[tables.columns]
CUST_ID = "customer_id"
NAME = "customer_name"
MKTSEGMENT = "market_segment"
"#;

#[test]
fn validate_accepts_the_documented_config_and_names_bad_keys() {
    let dir = tempfile::tempdir().expect("tmp");
    let good = write(&dir, "good.toml", GOOD);
    let out = tidemark(&["validate", "--config", &good]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for (bad, expect) in [
        (
            GOOD.replace("slices = 2", "slices = 2\nslicez = 3"),
            "slicez",
        ),
        (
            GOOD.replace("slices = 2", "slices = 0"),
            "coordination.slices",
        ),
        (GOOD.replace("\"200ms\"", "\"later\""), "linger"),
        (
            GOOD.replace(
                "postgres://postgres@127.0.0.1:5432/dev",
                "postgres://host:notaport/x",
            ),
            "warehouse.url",
        ),
    ] {
        let path = write(&dir, "bad.toml", &bad);
        let out = tidemark(&["validate", "--config", &path]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expect), "expected {expect:?} in {stderr}");
    }
}

#[test]
fn demo_applies_a_generated_history_and_reports_a_match() {
    let out = tidemark(&["demo", "--events", "4000", "--partitions", "4"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("MATCH:"), "{stdout}");
    assert!(stdout.contains("differing keys: 0"), "{stdout}");
}

#[test]
fn the_shipped_example_configs_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("deploy/examples") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = tidemark(&["validate", "--config", &path.display().to_string()]);
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no example config found in {}", dir.display());
}
