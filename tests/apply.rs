//! Random histories over several tables and partitions, applied by `tidemark refresh` as a
//! process against tansu and PostgreSQL, compared with the generator's oracle.

use tidemark_cdcgen::{Envelope, GenConfig, Generator};
use tidemark_e2e::*;

fn generator(setups: &[TableSetup], config: GenConfig) -> Generator {
    Generator::new(setups.iter().map(|s| s.def.clone()).collect(), config)
}

#[test]
fn hostile_history_over_three_tables_matches_the_oracle_and_a_second_refresh_applies_nothing() {
    hostile_history(Stack::start(), salesdb_setups());
}

/// The same on Redshift's merge path (run against PostgreSQL), every target without a
/// primary key as Redshift would have it.
#[test]
fn hostile_history_on_the_redshift_dialect_without_primary_keys_matches_the_oracle() {
    hostile_history(
        Stack::start().redshift(),
        without_primary_keys(salesdb_setups()),
    );
}

/// The same with PostgreSQL 15's MERGE (`warehouse.merge = "merge"`), on targets with a key
/// index (orders, order_line: probed) and without (customer: scanned).
#[test]
fn hostile_history_applied_by_merge_statements_matches_the_oracle() {
    let mut stack = Stack::start();
    stack.warehouse = "merge = \"merge\"\n".to_string();
    hostile_history(stack, salesdb_setups());
}

fn hostile_history(stack: Stack, setups: Vec<TableSetup>) {
    stack.prepare(&setups, 4);
    let mut history = generator(
        &setups,
        GenConfig {
            partitions: 4,
            ..GenConfig::hostile(11, 30_000)
        },
    );
    let produced = produce(stack.kafka.bootstrap(), history.by_ref());
    let stats = history.oracle().stats();
    // The hazards this test is about really occurred.
    assert!(stats.same_ms > 100 && stats.ts_backwards > 10, "{stats:?}");
    assert!(
        stats.pk_changes_split > 10 && stats.pk_changes_single_event > 10,
        "{stats:?}"
    );
    assert!(
        stats.tombstones > 10 && stats.reinserts > 10 && stats.snapshot_reads > 0,
        "{stats:?}"
    );

    let config = stack.config(
        "main",
        &setups,
        "[coordination]\nslices = 2\n[batch]\nmax_rows = 700\nlinger = \"50ms\"\n",
    );
    let first = refresh(&config);
    assert_eq!(summary_total(&first, "events"), produced, "{first}");
    assert_matches_oracle(&stack.url(), &setups, history.oracle());
    let high = high_watermarks(stack.kafka.bootstrap(), &setups);
    assert_eq!(
        watermarks(&stack.url()),
        high,
        "watermarks must equal the high-water marks"
    );

    let second = refresh(&config);
    assert_eq!(summary_total(&second, "events"), 0, "{second}");
    assert_eq!(summary_total(&second, "upserts"), 0, "{second}");
    assert_eq!(summary_total(&second, "merges"), 0, "{second}");
    assert_matches_oracle(&stack.url(), &setups, history.oracle());
    assert_eq!(watermarks(&stack.url()), high);
}

#[test]
fn bare_envelopes_tiny_batches_and_many_slices_match_the_oracle() {
    let stack = Stack::start();
    let setups = salesdb_setups();
    stack.prepare(&setups, 5);
    let mut history = generator(
        &setups,
        GenConfig {
            partitions: 5,
            value_envelope: Envelope::Bare,
            key_envelope: Envelope::Bare,
            ..GenConfig::hostile(23, 8_000)
        },
    );
    let produced = produce(stack.kafka.bootstrap(), history.by_ref());
    let config = stack.config(
        "bare",
        &setups,
        "[coordination]\nslices = 4\n[batch]\nmax_rows = 40\nlinger = \"10ms\"\nmax_in_flight = 1\n",
    );
    let summary = refresh(&config);
    assert_eq!(summary_total(&summary, "events"), produced);
    assert!(
        summary_total(&summary, "merges") > 20,
        "tiny batches: {summary}"
    );
    assert_matches_oracle(&stack.url(), &setups, history.oracle());
}

#[test]
fn incremental_refreshes_resume_where_the_last_one_stopped() {
    let stack = Stack::start();
    let setups = salesdb_setups();
    stack.prepare(&setups, 3);
    let mut history = generator(
        &setups,
        GenConfig {
            partitions: 3,
            ..GenConfig::hostile(5, 12_000)
        },
    );
    let config = stack.config("inc", &setups, "");
    let mut total = 0;
    for round in 0..4 {
        let n = produce(stack.kafka.bootstrap(), history.by_ref().take(3_000));
        let summary = refresh(&config);
        assert_eq!(
            summary_total(&summary, "events"),
            n,
            "round {round}: {summary}"
        );
        total += n;
        assert_matches_oracle(&stack.url(), &setups, history.oracle());
    }
    assert_eq!(total, 12_000);
}

/// The consumer group's committed offsets for these partitions (what lag tools read).
fn committed(
    bootstrap: &str,
    group: &str,
    marks: &std::collections::BTreeMap<(String, i32), i64>,
) -> std::collections::BTreeMap<(String, i32), i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut list = rdkafka::TopicPartitionList::new();
    for (topic, partition) in marks.keys() {
        list.add_partition(topic, *partition);
    }
    let got = consumer
        .committed_offsets(list, std::time::Duration::from_secs(10))
        .expect("committed offsets");
    got.elements()
        .iter()
        .filter_map(|e| match e.offset() {
            rdkafka::Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
            _ => None,
        })
        .collect()
}

/// `kafka.commit_offsets` (on by default): after a run, the consumer group `tidemark-<cluster>`
/// has exactly the warehouse's next offsets, for lag tools; switched off, it has none.
#[test]
fn applied_offsets_are_committed_to_kafka_for_lag_tools_and_only_when_asked() {
    let stack = Stack::start();
    let setups = vec![salesdb_setups().remove(1)];
    stack.prepare(&setups, 3);
    let mut history = generator(
        &setups,
        GenConfig {
            partitions: 3,
            ..GenConfig::hostile(13, 3_000)
        },
    );
    produce(stack.kafka.bootstrap(), history.by_ref());
    let on = stack.config("commits", &setups, "[coordination]\ncluster = \"lagged\"\n");
    refresh(&on);
    let marks = watermarks(&stack.url());
    assert_eq!(marks.len(), 3);
    assert_eq!(
        committed(stack.kafka.bootstrap(), "tidemark-lagged", &marks),
        marks
    );

    let off = stack.config(
        "no-commits",
        &setups,
        "[coordination]\ncluster = \"quiet\"\n",
    );
    let text = std::fs::read_to_string(&off).unwrap().replacen(
        "[kafka]\n",
        "[kafka]\ncommit_offsets = false\n",
        1,
    );
    std::fs::write(&off, text).unwrap();
    refresh(&off);
    assert!(committed(
        stack.kafka.bootstrap(),
        "tidemark-quiet",
        &watermarks_of(&stack.url(), "quiet")
    )
    .is_empty());
}

/// Stored next offsets of one pipeline.
fn watermarks_of(url: &str, pipeline: &str) -> std::collections::BTreeMap<(String, i32), i64> {
    block_on(async {
        let client = tidemark_testkit::connect(url).await.unwrap();
        client
            .query(
                "SELECT topic, partition, next_offset FROM tidemark.watermarks WHERE pipeline = $1",
                &[&pipeline],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    (r.get::<_, String>(0), r.get::<_, i32>(1)),
                    r.get::<_, i64>(2),
                )
            })
            .collect()
    })
}
