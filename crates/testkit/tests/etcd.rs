//! The etcd test process: start, health, two at once, kill -9 and restart with state kept,
//! SIGSTOP/SIGCONT, and nothing left behind on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use tidemark_testkit::{signal, Etcd};

/// Standard base64 with padding (the v3 JSON gateway wants keys and values encoded).
fn b64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// POST a JSON body to the etcd v3 gateway with HTTP/1.0; returns the parsed JSON answer.
fn post(etcd: &Etcd, path: &str, body: &serde_json::Value) -> serde_json::Value {
    let body = body.to_string();
    let mut stream = TcpStream::connect(("127.0.0.1", etcd.client_port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.0 200"), "{path}: {answer}");
    serde_json::from_str(body).unwrap()
}

fn put(etcd: &Etcd, key: &str, value: &str) {
    post(
        etcd,
        "/v3/kv/put",
        &serde_json::json!({"key": b64(key.as_bytes()), "value": b64(value.as_bytes())}),
    );
}

/// The base64 value of `key`, if set.
fn get_b64(etcd: &Etcd, key: &str) -> Option<String> {
    let answer = post(
        etcd,
        "/v3/kv/range",
        &serde_json::json!({"key": b64(key.as_bytes())}),
    );
    answer["kvs"]
        .as_array()
        .and_then(|kvs| kvs.first())
        .map(|kv| kv["value"].as_str().unwrap().to_string())
}

/// Whether a process with this PID exists (signal 0 probes without sending anything).
fn alive(pid: u32) -> bool {
    signal(pid, 0).is_ok()
}

#[test]
fn base64_encoder() {
    assert_eq!(b64(b""), "");
    assert_eq!(b64(b"f"), "Zg==");
    assert_eq!(b64(b"fo"), "Zm8=");
    assert_eq!(b64(b"foo"), "Zm9v");
    assert_eq!(b64(b"tidemark"), "dGlkZW1hcms=");
}

#[test]
fn start_health_and_drop_leaves_nothing() {
    let etcd = Etcd::start().unwrap();
    etcd.health().unwrap();
    assert_eq!(
        etcd.endpoint(),
        format!("http://127.0.0.1:{}", etcd.client_port())
    );
    let pid = etcd.pid().unwrap();
    let data_dir = etcd.data_dir().to_path_buf();
    assert!(alive(pid));
    assert!(data_dir.join("member").is_dir(), "{}", etcd.log_tail());
    put(&etcd, "k", "v");
    assert_eq!(get_b64(&etcd, "k"), Some(b64(b"v")));
    assert_eq!(get_b64(&etcd, "missing"), None);
    drop(etcd);
    assert!(!alive(pid), "etcd {pid} still running after drop");
    assert!(!data_dir.exists(), "{} left behind", data_dir.display());
}

#[test]
fn two_at_once_are_separate_clusters() {
    let a = Etcd::start().unwrap();
    let b = Etcd::start().unwrap();
    assert_ne!(a.endpoint(), b.endpoint());
    assert_ne!(a.pid(), b.pid());
    a.health().unwrap();
    b.health().unwrap();
    put(&a, "only-in-a", "1");
    assert_eq!(get_b64(&a, "only-in-a"), Some(b64(b"1")));
    assert_eq!(get_b64(&b, "only-in-a"), None);
}

#[test]
fn kill9_and_restart_keep_ports_and_state() {
    let mut etcd = Etcd::start().unwrap();
    let endpoint = etcd.endpoint();
    put(&etcd, "survives", "42");
    let old_pid = etcd.pid().unwrap();

    etcd.kill9();
    assert_eq!(etcd.pid(), None);
    assert!(!alive(old_pid));
    assert!(etcd.health().is_err());

    etcd.restart().unwrap();
    etcd.health().unwrap();
    assert_eq!(etcd.endpoint(), endpoint);
    assert_ne!(etcd.pid(), Some(old_pid));
    assert_eq!(get_b64(&etcd, "survives"), Some(b64(b"42")));

    // Restarting a running etcd kills it first.
    etcd.restart().unwrap();
    etcd.health().unwrap();
    assert_eq!(get_b64(&etcd, "survives"), Some(b64(b"42")));
}

#[test]
fn sigstop_freezes_and_sigcont_resumes() {
    let etcd = Etcd::start().unwrap();
    let pid = etcd.pid().unwrap();
    signal(pid, libc::SIGSTOP).unwrap();
    assert!(etcd.health().is_err(), "a stopped etcd answered");
    signal(pid, libc::SIGCONT).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while let Err(e) = etcd.health() {
        assert!(
            std::time::Instant::now() < deadline,
            "not healthy after SIGCONT: {e}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Drop kills a stopped process too.
    signal(pid, libc::SIGSTOP).unwrap();
    drop(etcd);
    assert!(!alive(pid));
}

#[test]
fn signal_refuses_process_groups() {
    assert!(signal(0, 0).is_err());
    assert!(signal(u32::MAX, 0).is_err());
}
