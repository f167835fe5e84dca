//! The mock Kafka cluster process: topics, produce/read-back order, broker faults, retention.

use std::time::{Duration, Instant};

use tidemark_testkit::{
    consume_range, high_watermarks, produce, MockKafka, ProduceRecord, TestkitError,
};

fn records(
    topic: &str,
    n: usize,
    partitions: i32,
    value_len: usize,
) -> impl Iterator<Item = ProduceRecord> + Send + 'static {
    let topic = topic.to_string();
    (0..n).map(move |i| {
        let mut value = format!("{i}:").into_bytes();
        value.resize(value_len.max(value.len()), b'x');
        ProduceRecord {
            headers: Vec::new(),
            topic: topic.clone(),
            partition: (i % partitions as usize) as i32,
            key: Some(format!("k{i}").into_bytes()),
            value: if i % 10 == 9 { None } else { Some(value) },
        }
    })
}

/// Checks that each partition holds exactly its share of `0..n`, in production order.
fn check_read_back(bootstrap: &str, topic: &str, n: usize, partitions: i32) {
    let marks = high_watermarks(bootstrap, topic).unwrap();
    assert_eq!(marks.len(), partitions as usize);
    assert_eq!(marks.iter().map(|m| m.2 - m.1).sum::<i64>(), n as i64);
    for (p, low, high) in marks {
        let got = consume_range(bootstrap, topic, p, low, high, Duration::from_secs(30)).unwrap();
        let expected: Vec<usize> = (0..n)
            .filter(|i| (i % partitions as usize) as i32 == p)
            .collect();
        assert_eq!(got.len(), expected.len(), "partition {p}");
        for (rec, i) in got.iter().zip(expected) {
            assert_eq!(
                rec.key.as_deref(),
                Some(format!("k{i}").as_bytes()),
                "partition {p}"
            );
            match &rec.value {
                None => assert_eq!(i % 10, 9, "unexpected tombstone for {i}"),
                Some(v) => assert!(v.starts_with(format!("{i}:").as_bytes())),
            }
        }
        assert!(got.windows(2).all(|w| w[0].offset + 1 == w[1].offset));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_and_read_back_in_order() {
    let mut kafka = MockKafka::start(1).unwrap();
    kafka.create_topic("orders", 3).unwrap();
    let n = produce(kafka.bootstrap(), records("orders", 1000, 3, 100))
        .await
        .unwrap();
    assert_eq!(n, 1000);
    let bootstrap = kafka.bootstrap().to_string();
    tokio::task::spawn_blocking(move || check_read_back(&bootstrap, "orders", 1000, 3))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_and_up() {
    let mut kafka = MockKafka::start(3).unwrap();
    kafka.create_topic("faults", 3).unwrap();
    kafka.create_topic_replicated("replicated", 2, 3).unwrap();
    // Produce while every broker is down: deliveries wait, then complete once they are back.
    for id in 1..=3 {
        kafka.broker_down(id).unwrap();
    }
    let bootstrap = kafka.bootstrap().to_string();
    let producing =
        tokio::spawn(async move { produce(&bootstrap, records("faults", 3000, 3, 200)).await });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !producing.is_finished(),
        "produce finished while all brokers were down"
    );
    for id in 1..=3 {
        kafka.broker_up(id).unwrap();
    }
    let n = tokio::time::timeout(Duration::from_secs(60), producing)
        .await
        .expect("produce did not finish after the brokers came back")
        .unwrap()
        .unwrap();
    assert_eq!(n, 3000);
    let bootstrap = kafka.bootstrap().to_string();
    tokio::task::spawn_blocking(move || check_read_back(&bootstrap, "faults", 3000, 3))
        .await
        .unwrap();
    // Protocol errors are reported, not hidden.
    let err = kafka.broker_down(42).unwrap_err();
    assert!(matches!(err, TestkitError::MockKafka(_)), "{err}");
    let err = kafka.create_topic("bad", 0).unwrap_err();
    assert!(err.to_string().contains("create-topic bad"), "{err}");
    // Still usable after an error.
    kafka.broker_up(1).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_kills_the_process() {
    let kafka = MockKafka::start(1).unwrap();
    let pid = kafka.pid();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(kafka);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

/// The mock keeps only ~5 MiB per partition: the low watermark moves, the high one is exact.
/// Also a throughput check of `produce` with ~1 KiB records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_and_throughput() {
    let mut kafka = MockKafka::start(1).unwrap();
    kafka.create_topic("big", 2).unwrap();
    let n = 200_000;
    let t = Instant::now();
    let produced = produce(kafka.bootstrap(), records("big", n, 2, 1024))
        .await
        .unwrap();
    let elapsed = t.elapsed();
    assert_eq!(produced, n as u64);
    eprintln!(
        "produced {n} x 1 KiB in {elapsed:?} ({:.0} records/s)",
        n as f64 / elapsed.as_secs_f64()
    );
    let marks = high_watermarks(kafka.bootstrap(), "big").unwrap();
    eprintln!("watermarks after {n} records: {marks:?}");
    for (p, low, high) in marks {
        assert_eq!(high, n as i64 / 2, "partition {p}");
        assert!(
            low > 0,
            "partition {p}: expected retention to drop old data"
        );
        let kept = (high - low) as usize * 1024;
        assert!(kept < 8 << 20, "partition {p} kept {kept} bytes");
    }
}
