//! The rdkafka adapter against a real Kafka-protocol broker (librdkafka's mock cluster in a
//! process of its own).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tidemark_kafka::KafkaBroker;
use tidemark_model::TopicPartition;
use tidemark_ports::{Broker, BrokerError, ReadEvent, RecordReader, StartOffset};
use tidemark_testkit::{MockKafka, ProduceRecord};

fn setup(records: i64) -> (MockKafka, KafkaBroker) {
    let mut kafka = MockKafka::start(1).expect("mock kafka");
    kafka.create_topic("t", 2).expect("topic");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let recs = (0..records).map(|i| ProduceRecord {
        headers: Vec::new(),
        topic: "t".into(),
        partition: (i % 2) as i32,
        key: Some(format!("k{i}").into_bytes()),
        value: if i % 10 == 9 {
            None
        } else {
            Some(format!("v{i}").into_bytes())
        },
    });
    rt.block_on(tidemark_testkit::produce(kafka.bootstrap(), recs))
        .expect("produce");
    let broker = KafkaBroker::new(kafka.bootstrap(), &BTreeMap::new(), "test").expect("broker");
    (kafka, broker)
}

fn poll_until(reader: &mut dyn RecordReader, want: usize, max: usize) -> Vec<ReadEvent> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out
        .iter()
        .filter(|e| matches!(e, ReadEvent::Record(_)))
        .count()
        < want
    {
        assert!(
            Instant::now() < deadline,
            "timed out with {} events",
            out.len()
        );
        reader
            .poll(max, Duration::from_millis(100), &mut out)
            .expect("poll");
    }
    out
}

#[test]
fn metadata_and_watermarks() {
    let (_kafka, broker) = setup(100);
    assert_eq!(
        broker.partitions("t", Duration::from_secs(10)).unwrap(),
        vec![0, 1]
    );
    let (low, high) = broker
        .watermarks(&TopicPartition::new("t", 1), Duration::from_secs(10))
        .unwrap();
    assert_eq!((low, high), (0, 50));
}

#[test]
fn reads_assigned_partitions_in_order_from_the_given_offsets_with_tombstones() {
    let (_kafka, broker) = setup(200);
    let mut reader = broker
        .open_reader(&[
            (TopicPartition::new("t", 0), StartOffset::Offset(40)),
            (TopicPartition::new("t", 1), StartOffset::Beginning),
        ])
        .unwrap();
    let events = poll_until(reader.as_mut(), 160, 1000);
    let mut next = BTreeMap::from([(0, 40i64), (1, 0i64)]);
    let mut tombstones = 0;
    for e in &events {
        if let ReadEvent::Record(r) = e {
            assert_eq!(r.offset, next[&r.partition], "in order, no gaps");
            *next.get_mut(&r.partition).unwrap() += 1;
            tombstones += usize::from(r.value.is_none());
            let i = r.offset * 2 + i64::from(r.partition);
            assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()));
        }
    }
    assert_eq!(next, BTreeMap::from([(0, 100), (1, 100)]));
    assert!(tombstones > 0);
}

#[test]
fn idle_progress_never_passes_a_record_that_was_not_delivered() {
    let (_kafka, broker) = setup(2000);
    let mut reader = broker
        .open_reader(&[(TopicPartition::new("t", 0), StartOffset::Beginning)])
        .unwrap();
    // Deliver a few records at a time while librdkafka has prefetched far more; every
    // progress report must stay at or below what was delivered.
    let mut delivered = 0i64;
    let deadline = Instant::now() + Duration::from_secs(20);
    while delivered < 1000 {
        assert!(Instant::now() < deadline);
        let mut out = Vec::new();
        reader.poll(3, Duration::from_millis(50), &mut out).unwrap();
        for e in out {
            match e {
                ReadEvent::Record(r) => {
                    assert_eq!(r.offset, delivered);
                    delivered += 1;
                }
                ReadEvent::PartitionEof { next_offset, .. } => {
                    assert!(
                        next_offset <= delivered,
                        "progress {next_offset} passed delivered {delivered}"
                    );
                }
            }
        }
        // An idle poll (nothing requested) asks for positions.
        let mut idle = Vec::new();
        reader.poll(0, Duration::ZERO, &mut idle).unwrap();
        for e in idle {
            if let ReadEvent::PartitionEof { next_offset, .. } = e {
                assert!(
                    next_offset <= delivered,
                    "progress {next_offset} passed delivered {delivered}"
                );
            }
        }
    }
}

#[test]
fn an_offset_past_the_log_is_an_error_not_a_jump() {
    let (_kafka, broker) = setup(20);
    let mut reader = broker
        .open_reader(&[(TopicPartition::new("t", 0), StartOffset::Offset(5_000))])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "no error reported");
        let mut out = Vec::new();
        match reader.poll(100, Duration::from_millis(100), &mut out) {
            Err(
                BrokerError::OffsetOutOfRange { .. }
                | BrokerError::OffsetOutOfRangeUnknownPartition { .. },
            ) => break,
            Err(e) => panic!("unexpected error {e}"),
            Ok(()) => assert!(
                !out.iter().any(|e| matches!(e, ReadEvent::Record(_))),
                "must not jump to another offset"
            ),
        }
    }
}
