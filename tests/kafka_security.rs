//! Kafka security through librdkafka: SASL/SCRAM-SHA-512 and SCRAM-SHA-256 over TLS, against
//! a tansu broker that requires authentication, behind a TLS proxy with a certificate the test
//! generates (tansu 0.6 cannot serve TLS itself: see `tidemark_testkit::TlsProxy`).
//!
//! The credentials come from a mounted file (`kafka.property_files`) and from an environment
//! variable, never from the config file; a wrong password and a wrong CA each end the run with
//! an error that says so (not retried forever), and no run prints a password.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tidemark_e2e::*;
use tidemark_testkit::{Certificates, ScramUser, TlsProxy};

const TOPIC: &str = "shop.shop.accounts";
const ID: &str = r#"{"type":"int32","optional":false,"field":"id"}"#;
const PASSWORD_512: &str = "pw-512-Zq8vX3";
const PASSWORD_256: &str = "pw-256-Kd5wR9";

/// `tidemark refresh` with `env`, killed (and the test failed) if it runs over a minute: an
/// authentication or TLS failure must end the run, not hang it. Output goes to files, so a
/// chatty failure cannot fill a pipe and stall the process.
fn refresh_with(config: &Path, env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut cmd = Command::new(tidemark_bin());
    cmd.args([
        "refresh",
        "--json",
        "--config",
        &config.display().to_string(),
    ])
    .env("TIDEMARK_LOG", "info")
    .stdout(Stdio::from(
        std::fs::File::create(&out_path).expect("stdout file"),
    ))
    .stderr(Stdio::from(
        std::fs::File::create(&err_path).expect("stderr file"),
    ));
    for (key, value) in env {
        cmd.env(key, value);
    }
    let mut child = cmd.spawn().expect("spawn tidemark");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "refresh still running after 60 s:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: std::fs::read(&out_path).expect("stdout"),
        stderr: std::fs::read(&err_path).expect("stderr"),
    }
}

fn assert_no_secret(out: &Output) {
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        for secret in [PASSWORD_512, PASSWORD_256, "wrong-password"] {
            assert!(!text.contains(secret), "a password was printed:\n{text}");
        }
    }
}

#[test]
fn scram_over_tls_applies_and_wrong_credentials_or_ca_fail_closed() {
    let mut stack = Stack::start();
    stack.kafka.create_topic(TOPIC, 1).expect("topic");
    for (name, password, mechanism) in [
        ("tidemark512", PASSWORD_512, "scram512"),
        ("tidemark256", PASSWORD_256, "scram256"),
    ] {
        stack
            .kafka
            .create_user(&ScramUser {
                name: name.into(),
                password: password.into(),
                mechanism,
            })
            .expect("create user");
    }
    let certs = Certificates::generate(stack.dir.path(), "").expect("certificates");
    let wrong = Certificates::generate(stack.dir.path(), "wrong-").expect("certificates");
    let upstream = std::net::SocketAddr::from(([127, 0, 0, 1], stack.kafka.port()));
    let proxy = TlsProxy::start(&certs, upstream).expect("TLS proxy");
    let ca = certs.ca.display().to_string();
    let client = |user: &str, password: &str, mechanism: &str| {
        vec![
            ("security.protocol".to_string(), "SASL_SSL".to_string()),
            ("sasl.mechanisms".to_string(), mechanism.to_string()),
            ("sasl.username".to_string(), user.to_string()),
            ("sasl.password".to_string(), password.to_string()),
            ("ssl.ca.location".to_string(), ca.clone()),
        ]
    };
    stack
        .kafka
        .secure(
            proxy.port(),
            client("tidemark512", PASSWORD_512, "SCRAM-SHA-512"),
        )
        .expect("restart tansu with authentication");
    stack.send([connect_record(TOPIC, 0, 1, ID, &[ID], r#"{"id":1}"#)]);

    let password_file = stack.dir.path().join("kafka-password");
    std::fs::write(&password_file, format!("{PASSWORD_512}\n")).expect("password file");
    // (protocol, mechanism, user, CA, password file?) → a config without any password in it.
    let config =
        |name: &str, protocol: &str, mechanism: &str, user: &str, ca: &Path, file: bool| {
            let path = stack.dir.path().join(format!("{name}.toml"));
            let files = if file {
                format!(
                    "[kafka.property_files]\n\"sasl.password\" = {:?}\n",
                    password_file.display().to_string()
                )
            } else {
                String::new()
            };
            let text = format!(
            "[kafka]\nbrokers = {:?}\n[kafka.properties]\n\"security.protocol\" = {protocol:?}\n\
             \"sasl.mechanisms\" = {mechanism:?}\n\"sasl.username\" = {user:?}\n\
             \"ssl.ca.location\" = {:?}\n{files}\
             [warehouse]\nurl = {:?}\nauto_create = true\n\
             [[tables]]\ntopic = {TOPIC:?}\ntarget = \"public.accounts\"\n",
            stack.kafka.bootstrap(),
            ca.display().to_string(),
            stack.url(),
        );
            std::fs::write(&path, text).expect("config");
            path
        };
    let rows = || {
        query_text(&stack.url(), "SELECT count(*)::text FROM public.accounts")[0][0]
            .clone()
            .unwrap_or_default()
    };

    // SCRAM-SHA-512, password from a mounted file.
    let good = config(
        "good",
        "SASL_SSL",
        "SCRAM-SHA-512",
        "tidemark512",
        &certs.ca,
        true,
    );
    let out = refresh_with(&good, &[]);
    assert_no_secret(&out);
    assert!(
        out.status.success(),
        "SCRAM-SHA-512 over TLS: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rows(), "1");

    // SCRAM-SHA-256, password from the environment.
    stack.send([connect_record(TOPIC, 0, 2, ID, &[ID], r#"{"id":2}"#)]);
    let env = config(
        "env",
        "SASL_SSL",
        "SCRAM-SHA-256",
        "tidemark256",
        &certs.ca,
        false,
    );
    let out = refresh_with(
        &env,
        &[("TIDEMARK__KAFKA__PROPERTIES__sasl.password", PASSWORD_256)],
    );
    assert_no_secret(&out);
    assert!(
        out.status.success(),
        "SCRAM-SHA-256 over TLS: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rows(), "2");

    // A wrong password: refused, and said so.
    stack.send([connect_record(TOPIC, 0, 3, ID, &[ID], r#"{"id":3}"#)]);
    let out = refresh_with(
        &env,
        &[(
            "TIDEMARK__KAFKA__PROPERTIES__sasl.password",
            "wrong-password",
        )],
    );
    assert_no_secret(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a wrong password must fail:\n{stderr}"
    );
    // tidemark's own error (not only librdkafka's log line) says it was refused and why.
    assert!(
        stderr.contains("refused: ") && stderr.contains("SASL authentication error"),
        "{stderr}"
    );

    // A CA that did not sign the broker's certificate: the TLS handshake fails closed.
    let out = refresh_with(
        &config(
            "wrong-ca",
            "SASL_SSL",
            "SCRAM-SHA-512",
            "tidemark512",
            &wrong.ca,
            true,
        ),
        &[],
    );
    assert_no_secret(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a wrong CA must fail:\n{stderr}");
    assert!(
        stderr.contains("refused: ") && stderr.contains("certificate verify failed"),
        "{stderr}"
    );

    // Nothing applied by the failed runs, nothing lost: the good config picks record 3 up.
    assert_eq!(rows(), "2");
    let out = refresh_with(&good, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rows(), "3");
}
