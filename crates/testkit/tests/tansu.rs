//! The tansu broker: topics, produce/read-back order, kill -9 and restart.

use std::time::Duration;

use tidemark_testkit::{consume_range, high_watermarks, produce, ProduceRecord, Tansu};

/// Per partition: (offset, value) of every record.
type Contents = Vec<(i32, Vec<(i64, Vec<u8>)>)>;

fn read_all(bootstrap: &str, topic: &str) -> Contents {
    high_watermarks(bootstrap, topic)
        .unwrap()
        .into_iter()
        .map(|(p, low, high)| {
            let recs =
                consume_range(bootstrap, topic, p, low, high, Duration::from_secs(60)).unwrap();
            (
                p,
                recs.into_iter()
                    .map(|r| (r.offset, r.value.unwrap_or_default()))
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_read_back_kill9_restart() {
    let mut tansu = tokio::task::spawn_blocking(Tansu::start)
        .await
        .unwrap()
        .unwrap();
    tansu.create_topic("events", 4).unwrap();
    let n = 5000usize;
    let records = (0..n).map(|i| ProduceRecord {
        headers: Vec::new(),
        topic: "events".to_string(),
        partition: (i % 4) as i32,
        key: Some(format!("k{}", i % 97).into_bytes()),
        value: Some(format!("{i}").into_bytes()),
    });
    assert_eq!(produce(tansu.bootstrap(), records).await.unwrap(), n as u64);
    let bootstrap = tansu.bootstrap().to_string();
    let (marks, before) = tokio::task::spawn_blocking(move || {
        (
            high_watermarks(&bootstrap, "events").unwrap(),
            read_all(&bootstrap, "events"),
        )
    })
    .await
    .unwrap();
    eprintln!("tansu watermarks: {marks:?}");
    assert_eq!(marks.len(), 4);
    assert_eq!(marks.iter().map(|m| m.2 - m.1).sum::<i64>(), n as i64);
    for (p, recs) in &before {
        let values: Vec<usize> = recs
            .iter()
            .map(|(_, v)| std::str::from_utf8(v).unwrap().parse().unwrap())
            .collect();
        let expected: Vec<usize> = (0..n).filter(|i| (i % 4) as i32 == *p).collect();
        assert_eq!(values, expected, "partition {p} out of order");
    }
    // Crash and restart on the same port and database.
    let old_pid = tansu.pid().unwrap();
    let tansu = tokio::task::spawn_blocking(move || {
        tansu.kill9();
        tansu.restart().unwrap();
        tansu
    })
    .await
    .unwrap();
    assert_ne!(tansu.pid().unwrap(), old_pid);
    assert!(!std::path::Path::new(&format!("/proc/{old_pid}")).exists());
    let bootstrap = tansu.bootstrap().to_string();
    let after = tokio::task::spawn_blocking(move || read_all(&bootstrap, "events"))
        .await
        .unwrap();
    assert_eq!(after, before);
    // Still writable after the restart, appending after the old data.
    let more = (0..8).map(|i| ProduceRecord {
        headers: Vec::new(),
        topic: "events".to_string(),
        partition: i % 4,
        key: None,
        value: None,
    });
    assert_eq!(produce(tansu.bootstrap(), more).await.unwrap(), 8);
    let bootstrap = tansu.bootstrap().to_string();
    let marks2 =
        tokio::task::spawn_blocking(move || high_watermarks(&bootstrap, "events").unwrap())
            .await
            .unwrap();
    for ((p, _, h1), (_, _, h2)) in marks.iter().zip(&marks2) {
        assert_eq!(h2 - h1, 2, "partition {p}");
    }
    let pid = tansu.pid().unwrap();
    drop(tansu);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}
