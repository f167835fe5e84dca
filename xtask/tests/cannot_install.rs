//! A machine that cannot install (no apt-get on PATH here) gets one message with the exact
//! packages, before any cargo build starts, and a non-zero exit — never a panic.

use std::process::Command;

#[test]
fn without_apt_the_setup_stops_with_the_package_list() {
    let empty = tempfile_dir("path");
    let tools = tempfile_dir("tools");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("setup")
        .env_clear()
        .env("HOME", &tools)
        .env("PATH", &empty)
        .env("TIDEMARK_TOOLS_DIR", &tools)
        .output()
        .expect("running the xtask binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("this machine has no apt-get"), "{stderr}");
    // protoc and etcd are absent from an empty PATH; PostgreSQL may be found in its
    // Debian location, so it may or may not be listed.
    assert!(
        stderr.contains("apt-get install protobuf-compiler libprotobuf-dev")
            && stderr.contains("etcd-server"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Stopped before the cargo tools: nothing was installed into the cache.
    assert!(!tools.join("bin").exists(), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("xtask:")).count(),
        1,
        "{stderr}"
    );
    std::fs::remove_dir_all(&empty).ok();
    std::fs::remove_dir_all(&tools).ok();
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating a temp dir");
    dir
}
