//! Starts real PostgreSQL servers from the installed binaries.

use std::time::{Duration, Instant};

use tidemark_localpg::LocalPostgres;

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .unwrap()
            .trim_start()
            .starts_with('Z'),
    }
}

#[tokio::test]
async fn two_servers_at_once() {
    let (a, b) = tokio::task::spawn_blocking(|| {
        let a = std::thread::spawn(LocalPostgres::start);
        let b = LocalPostgres::start().unwrap();
        (a.join().unwrap().unwrap(), b)
    })
    .await
    .unwrap();
    assert_ne!(a.port(), b.port());
    assert_ne!(a.data_dir(), b.data_dir());
    for pg in [&a, &b] {
        assert_eq!(
            pg.url(),
            format!("postgres://postgres@127.0.0.1:{}/dev", pg.port())
        );
        let client = connect(&pg.url()).await;
        let row = client
            .query_one("select 1::int4, current_database()", &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, i32>(0), 1);
        assert_eq!(row.get::<_, String>(1), "dev");
        client
            .batch_execute("create table t as select g from generate_series(1, 100000) g; select count(*) from t")
            .await
            .unwrap();
        assert!(pg.server_cpu_time() > Duration::ZERO);
    }
}

#[tokio::test]
async fn kill9_then_restart_keeps_data() {
    let mut pg = tokio::task::spawn_blocking(LocalPostgres::start)
        .await
        .unwrap()
        .unwrap();
    let port = pg.port();
    let client = connect(&pg.url()).await;
    client
        .batch_execute("create table kept (id int primary key, v text); insert into kept values (1, 'one'), (2, 'two');")
        .await
        .unwrap();
    drop(client);
    let old_pid = pg.pid();
    let mut pg = tokio::task::spawn_blocking(move || {
        pg.kill9();
        pg.restart().unwrap();
        pg
    })
    .await
    .unwrap();
    assert!(gone(old_pid));
    assert_ne!(pg.pid(), old_pid);
    assert_eq!(pg.port(), port);
    let client = connect(&pg.url()).await;
    let rows = client
        .query("select v from kept order by id", &[])
        .await
        .unwrap();
    let vs: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(vs, ["one", "two"]);
    drop(client);
    // A clean stop + restart works too.
    let pg = tokio::task::spawn_blocking(move || {
        pg.stop().unwrap();
        pg.restart().unwrap();
        pg
    })
    .await
    .unwrap();
    let client = connect(&pg.url()).await;
    let n: i64 = client
        .query_one("select count(*) from kept", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
}

#[test]
fn drop_leaves_no_process_or_files() {
    let pg = LocalPostgres::start().unwrap();
    let pid = pg.pid();
    let data_dir = pg.data_dir().to_path_buf();
    assert!(!gone(pid));
    assert!(data_dir.join("PG_VERSION").is_file());
    let children: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit(')')
                        .next()?
                        .split_whitespace()
                        .nth(1)?
                        .parse::<u32>()
                        .ok()
                })
                == Some(pid)
        })
        .collect();
    assert!(!children.is_empty(), "postmaster has background workers");
    let t = Instant::now();
    drop(pg);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(gone(pid), "postmaster {pid} still running");
    for c in children {
        assert!(gone(c), "server child {c} still running");
    }
    assert!(!data_dir.exists());
}
