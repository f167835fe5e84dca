use super::*;

const EXAMPLE: &str = r#"
[kafka]
brokers = "127.0.0.1:9092"
[kafka.properties]
"fetch.max.bytes" = "1048576"
[warehouse]
url = "postgres://postgres@127.0.0.1:5432/dev"
dialect = "postgres"
[coordination]
mode = "standalone"
slices = 2
[batch]
max_rows = 10000
linger = "200ms"
max_bytes = "8MiB"
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
fn parses_the_documented_example() {
    let c = Config::from_toml(EXAMPLE).unwrap();
    assert_eq!(c.coordination.slices, 2);
    assert_eq!(c.batch.linger, Duration::from_millis(200));
    assert_eq!(c.batch.max_bytes, ByteSize(8 << 20));
    assert_eq!(c.tables[0].columns["CUST_ID"], "customer_id");
    assert_eq!(c.kafka.properties["fetch.max.bytes"], "1048576");
    assert_eq!(c.warehouse.schema, "tidemark");
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let text = EXAMPLE.replace("slices = 2", "slices = 2\nslyces = 3");
    let err = Config::from_toml(&text).unwrap_err().to_string();
    assert!(err.contains("slyces"), "{err}");
}

#[test]
fn invalid_values_name_the_key() {
    let err = Config::from_toml(&EXAMPLE.replace("slices = 2", "slices = 0"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("coordination.slices"), "{err}");
    let err = Config::from_toml(&EXAMPLE.replace("\"200ms\"", "\"soon\""))
        .unwrap_err()
        .to_string();
    assert!(err.contains("soon") && err.contains("linger"), "{err}");
    let err = Config::from_toml(&EXAMPLE.replace("public.customer_target", "a.b.c"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("tables[0].target"), "{err}");
}

#[test]
fn duplicate_topics_are_rejected() {
    let text = format!(
        "{EXAMPLE}\n[[tables]]\ntopic = \"salesdb.salesdb.CUSTOMER\"\ntarget = \"other\"\n"
    );
    let err = Config::from_toml(&text).unwrap_err().to_string();
    assert!(err.contains("tables[1].topic"), "{err}");
}

#[test]
fn env_overrides_scalars_and_array_items() {
    let env = vec![
        (
            "TIDEMARK__WAREHOUSE__URL".to_string(),
            "postgres://x@h/db".to_string(),
        ),
        ("TIDEMARK__BATCH__MAX_ROWS".to_string(), "77".to_string()),
        ("TIDEMARK__TABLES__0__TARGET".to_string(), "s.t".to_string()),
        ("UNRELATED".to_string(), "1".to_string()),
    ];
    let c = Config::from_toml_with_env(EXAMPLE, "test", env.into_iter()).unwrap();
    assert_eq!(c.warehouse.url, "postgres://x@h/db");
    assert_eq!(c.batch.max_rows, 77);
    assert_eq!(c.tables[0].target, "s.t");
    let bad = vec![("TIDEMARK__TABLES__5__TARGET".to_string(), "s.t".to_string())];
    assert!(Config::from_toml_with_env(EXAMPLE, "test", bad.into_iter()).is_err());
}

#[test]
fn byte_sizes() {
    assert_eq!(ByteSize::parse("16MiB").unwrap(), ByteSize(16 << 20));
    assert_eq!(ByteSize::parse("1000").unwrap(), ByteSize(1000));
    assert!(ByteSize::parse("12 parsecs").is_err());
}

#[test]
fn etcd_mode_needs_endpoints() {
    let etcd = EXAMPLE.replace("mode = \"standalone\"", "mode = \"etcd\"");
    let err = Config::from_toml(&etcd).unwrap_err().to_string();
    assert!(err.contains("coordination.endpoints"), "{err}");
    let ok = etcd.replace(
        "slices = 2",
        "slices = 2\nendpoints = [\"http://127.0.0.1:2379\"]\nlease_ttl = \"5s\"",
    );
    let c = Config::from_toml(&ok).unwrap();
    assert_eq!(c.coordination.lease_ttl, Duration::from_secs(5));
    let short = ok.replace("\"5s\"", "\"1s\"");
    assert!(Config::from_toml(&short)
        .unwrap_err()
        .to_string()
        .contains("lease_ttl"));
}

#[test]
fn etcd_security_settings_must_fit_together() {
    let etcd = |extra: &str, endpoint: &str| {
        Config::from_toml(&EXAMPLE.replace(
            "mode = \"standalone\"",
            &format!("mode = \"etcd\"\nendpoints = [{endpoint:?}]\n{extra}"),
        ))
    };
    let ok = etcd(
        "ca_file = \"ca.pem\"\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\nusername = \"root\"\npassword_file = \"pw\"",
        "https://etcd:2379",
    )
    .unwrap();
    assert_eq!(ok.coordination.username.as_deref(), Some("root"));
    for (extra, endpoint, key) in [
        (
            "ca_file = \"ca.pem\"",
            "http://etcd:2379",
            "coordination.endpoints",
        ),
        ("", "https://etcd:2379", "coordination.endpoints"),
        (
            "ca_file = \"ca.pem\"\ncert_file = \"c.pem\"",
            "https://etcd:2379",
            "coordination.cert_file",
        ),
        (
            "cert_file = \"c.pem\"\nkey_file = \"k.pem\"",
            "http://etcd:2379",
            "coordination.cert_file",
        ),
        (
            "username = \"root\"",
            "http://etcd:2379",
            "coordination.username",
        ),
    ] {
        let err = etcd(extra, endpoint).unwrap_err().to_string();
        assert!(err.contains(key), "{extra} / {endpoint}: {err}");
    }
}

#[test]
fn the_redshift_dialect_takes_its_settings_and_refuses_what_it_cannot_do() {
    let redshift = |warehouse: &str, table: &str| {
        let text = EXAMPLE
            .replace(
                "dialect = \"postgres\"",
                &format!("dialect = \"redshift\"\n{warehouse}"),
            )
            .replace(
                "key = [\"CUST_ID\"]",
                &format!("key = [\"CUST_ID\"]\n{table}"),
            );
        Config::from_toml(&text).map_err(|e| e.to_string())
    };
    let c = redshift(
        "[warehouse.redshift]\nstaging = \"s3\"\n[warehouse.redshift.s3]\nbucket = \"b\"\n\
         region = \"us-east-1\"\niam_role = \"arn:aws:iam::1:role/r\"",
        "[tables.redshift]\ndiststyle = \"key\"\ndistkey = \"customer_id\"\nsortkey = [\"customer_id\"]\n\
         [tables.redshift.encode]\ncustomer_name = \"zstd\"",
    )
    .unwrap();
    assert_eq!(c.warehouse.redshift.staging, RedshiftStaging::S3);
    assert_eq!(c.tables[0].redshift.encode["customer_name"], "zstd");
    assert_eq!(
        c.decode_options(&c.tables[0]).capacity,
        tidemark_model::Capacity::Redshift
    );
    let refused = [
        (
            "[warehouse.redshift]\nstaging = \"s3\"",
            "",
            "warehouse.redshift.s3",
        ),
        (
            "[warehouse.redshift]\nstaging = \"s3\"\n[warehouse.redshift.s3]\nbucket = \"b\"\n\
             region = \"us-east-1\"\niam_role = \"arn\\\\x\"",
            "",
            "backslash",
        ),
        ("auto_evolve = true", "", "warehouse.auto_evolve"),
        ("merge = \"merge\"", "", "warehouse.merge"),
        ("", "raw_table = \"raw.customer\"", "raw_table"),
        ("", "delete_mode = \"soft\"", "delete_mode"),
        (
            "",
            "[tables.redshift]\ndiststyle = \"diagonal\"",
            "diststyle",
        ),
        ("", "[tables.redshift]\ndiststyle = \"key\"", "distkey"),
        (
            "",
            "[tables.redshift.encode]\nNAME = \"gzip\"",
            "unknown encoding",
        ),
    ];
    for (warehouse, table, expected) in refused {
        let err = redshift(warehouse, table).unwrap_err();
        assert!(err.contains(expected), "{warehouse} {table}: {err}");
    }
    // Redshift options are an error with PostgreSQL, not silently ignored.
    let text = EXAMPLE.replace(
        "key = [\"CUST_ID\"]",
        "key = [\"CUST_ID\"]\n[tables.redshift]\ndiststyle = \"even\"",
    );
    let err = Config::from_toml(&text).unwrap_err().to_string();
    assert!(err.contains("tables[0].redshift"), "{err}");
}

#[test]
fn the_postgresql_merge_strategy_defaults_to_auto_and_takes_each_name() {
    let with = |line: &str| {
        Config::from_toml(&EXAMPLE.replace(
            "dialect = \"postgres\"",
            &format!("dialect = \"postgres\"\n{line}"),
        ))
        .map_err(|e| e.to_string())
    };
    assert_eq!(with("").unwrap().warehouse.merge, MergeStrategy::Auto);
    for (name, strategy) in [
        ("auto", MergeStrategy::Auto),
        ("delete-insert", MergeStrategy::DeleteInsert),
        ("merge", MergeStrategy::Merge),
    ] {
        let c = with(&format!("merge = {name:?}")).unwrap();
        assert_eq!(c.warehouse.merge, strategy);
    }
    let err = with("merge = \"upsert\"").unwrap_err();
    assert!(err.contains("merge"), "{err}");
}
