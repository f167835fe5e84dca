//! TLS to the warehouse: against a PostgreSQL that refuses unencrypted connections, with a CA
//! and server certificate the test generates, `tls = "verify-full"` with that CA applies,
//! `"require"` applies, a wrong CA fails closed, and no TLS is refused by the server.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use tidemark_e2e::*;

const TOPIC: &str = "shop.shop.items";
const ID: &str = r#"{"type":"int32","optional":false,"field":"id"}"#;

/// A CA and a certificate for 127.0.0.1/localhost signed by it: (CA PEM, cert PEM, key PEM).
fn certificates() -> (String, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let c = tidemark_testkit::Certificates::generate(dir.path(), "").expect("certificates");
    let read = |p: &std::path::Path| std::fs::read_to_string(p).expect("read certificate");
    (read(&c.ca), read(&c.cert), read(&c.key))
}

#[test]
fn a_tls_only_warehouse_is_reached_with_the_right_ca_and_refused_with_a_wrong_one() {
    let stack = Stack::start();
    let data = stack.pg.data_dir().to_path_buf();
    let owner = std::fs::metadata(&data).expect("data dir");
    let (ca, cert, key) = certificates();
    for (name, pem) in [("server.crt", &cert), ("server.key", &key)] {
        let path = data.join(name);
        std::fs::write(&path, pem).expect("write certificate");
        std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid())).expect("chown");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let hba = data.join("pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
    stack.sql("ALTER SYSTEM SET ssl = 'on'");
    // Once reloaded, the server refuses unencrypted TCP connections (the file is read only
    // on reload, so this last plain connection still gets in).
    std::fs::write(
        &hba,
        format!("hostnossl all all 127.0.0.1/32 reject\nhostnossl all all ::1/128 reject\n{rules}"),
    )
    .expect("write pg_hba.conf");
    stack.sql("SELECT pg_reload_conf()");
    std::thread::sleep(std::time::Duration::from_millis(500));
    stack.kafka.create_topic(TOPIC, 1).expect("topic");
    let record = connect_record(TOPIC, 0, 1, ID, &[ID], r#"{"id":1}"#);
    stack.send([record]);

    let good_ca = stack.dir.path().join("ca.pem");
    std::fs::write(&good_ca, &ca).expect("ca");
    let wrong_ca = stack.dir.path().join("wrong-ca.pem");
    std::fs::write(&wrong_ca, certificates().0).expect("wrong ca");
    let refresh = |tls: &str, ca_file: Option<&std::path::Path>| {
        let ca_line = ca_file.map_or(String::new(), |p| {
            format!("ca_file = {:?}\n", p.display().to_string())
        });
        let path = stack.auto_table_config(
            "tls",
            TOPIC,
            "public.items",
            &format!("tls = {tls:?}\n{ca_line}"),
        );
        tidemark(&["refresh", "--json", "--config", &path.display().to_string()])
    };

    let out = refresh("disable", None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "plain TCP must be refused:\n{stderr}"
    );
    assert!(stderr.contains("no encryption"), "{stderr}");

    let out = refresh("verify-full", Some(&wrong_ca));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a wrong CA must fail closed:\n{stderr}"
    );
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");

    let out = refresh("verify-full", Some(&good_ca));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary");
    assert_eq!(summary_total(&summary, "upserts"), 1, "{summary}");

    let out = refresh("require", None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
