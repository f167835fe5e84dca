//! Credentials need not live in the config file, and are never printed: the warehouse password
//! comes from `warehouse.password_file` (checked against a PostgreSQL that demands it), a
//! librdkafka credential from `kafka.property_files`; every line tidemark prints, in a run that
//! succeeds and in runs that fail (a wrong password, an unreachable warehouse), is searched for
//! the secrets it was given.

use tidemark_e2e::*;

const PASSWORD: &str = "pw-Zq81-from-a-mounted-file";
const SASL_PASSWORD: &str = "sasl-Kx47-secret";
const TOPIC: &str = "shop.shop.items";
const ID: &str = r#"{"type":"int32","optional":false,"field":"id"}"#;

/// Runs `tidemark ARGS` with debug logs; returns (success, everything it printed).
fn run(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(tidemark_bin())
        .args(args)
        .env("TIDEMARK_LOG", "debug")
        .output()
        .expect("run tidemark");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed)
}

fn assert_no_secret(printed: &str) {
    for secret in [PASSWORD, SASL_PASSWORD] {
        assert!(
            !printed.contains(secret),
            "a secret was printed:\n{}",
            printed
                .lines()
                .filter(|l| l.contains(secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn passwords_come_from_files_and_are_never_printed() {
    let stack = Stack::start();
    // The role `app` must give its password (SCRAM); everyone else stays trusted.
    let hba = stack.pg.data_dir().join("pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
    std::fs::write(
        &hba,
        format!(
            "host all app 127.0.0.1/32 scram-sha-256\nhost all app ::1/128 scram-sha-256\n{rules}"
        ),
    )
    .expect("write pg_hba.conf");
    stack.sql(&format!(
        "SET password_encryption = 'scram-sha-256'; \
                 CREATE ROLE app LOGIN PASSWORD '{PASSWORD}'; \
                 GRANT CREATE ON DATABASE dev TO app; GRANT ALL ON SCHEMA public TO app; \
                 SELECT pg_reload_conf()",
    ));
    stack.kafka.create_topic(TOPIC, 1).expect("topic");
    let record = connect_record(TOPIC, 0, 1, ID, &[ID], r#"{"id":1}"#);
    stack.send([record]);

    let password_file = stack.dir.path().join("pg-password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("password file");
    let sasl_file = stack.dir.path().join("sasl-password");
    std::fs::write(&sasl_file, SASL_PASSWORD).expect("sasl file");
    let app_url = format!("postgres://app@127.0.0.1:{}/dev", stack.pg.port());
    let config = |url: &str, password_file: &std::path::Path| {
        let path = stack.dir.path().join("secrets.toml");
        std::fs::write(
            &path,
            format!(
                "[kafka]\nbrokers = {:?}\n[kafka.property_files]\n\"sasl.password\" = {:?}\n\
                 [warehouse]\nurl = {url:?}\npassword_file = {:?}\nauto_create = true\n\
                 [[tables]]\ntopic = {TOPIC:?}\ntarget = \"public.items\"\n",
                stack.kafka.bootstrap(),
                sasl_file.display().to_string(),
                password_file.display().to_string(),
            ),
        )
        .expect("config");
        path.display().to_string()
    };

    let good = config(&app_url, &password_file);
    let (ok, printed) = run(&["refresh", "--config", &good]);
    assert!(ok, "{printed}");
    assert_no_secret(&printed);
    assert_eq!(
        query_text(&stack.url(), "SELECT id::text FROM public.items"),
        [[Some("1".to_string())]],
        "applied as `app`, with the password from the file"
    );
    let (ok, printed) = run(&["validate", "--config", &good]);
    assert!(ok, "{printed}");
    assert_no_secret(&printed);
    let (_, printed) = run(&["status", "--json", "--config", &good]);
    assert_no_secret(&printed);

    // A wrong password is refused by the server, and the error names no password.
    let wrong = stack.dir.path().join("wrong-password");
    std::fs::write(&wrong, "not-the-password").expect("wrong file");
    let (ok, printed) = run(&["refresh", "--config", &config(&app_url, &wrong)]);
    assert!(!ok, "a wrong password must fail:\n{printed}");
    assert!(
        printed.contains("password authentication failed"),
        "{printed}"
    );
    assert_no_secret(&printed);

    // The password in the URL itself, and nothing listening: still never printed.
    let in_url = format!("postgres://app:{PASSWORD}@127.0.0.1:1/dev");
    let (ok, printed) = run(&["refresh", "--config", &config(&in_url, &password_file)]);
    assert!(!ok, "{printed}");
    assert_no_secret(&printed);
}

#[test]
fn logs_are_one_json_object_per_line_when_asked() {
    let stack = Stack::start();
    stack.kafka.create_topic(TOPIC, 1).expect("topic");
    let record = connect_record(TOPIC, 0, 1, ID, &[ID], r#"{"id":1}"#);
    stack.send([record]);
    let path = stack.auto_table_config("json", TOPIC, "public.items", "");
    let out = std::process::Command::new(tidemark_bin())
        .args(["refresh", "--json", "--config", &path.display().to_string()])
        .env("TIDEMARK_LOG", "info")
        .env("TIDEMARK_LOG_FORMAT", "json")
        .output()
        .expect("run tidemark");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "INFO"
            && l["fields"]["message"] == "created the target table from the records' schema"
            && l["fields"]["table"] == "public.items"),
        "{stderr}"
    );
}
