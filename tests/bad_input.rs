//! Records that cannot be decoded stop the pipeline with an error naming topic, partition and
//! offset; everything before them is applied and the watermark never passes them.

use std::collections::BTreeMap;

use tidemark_cdcgen::{GenConfig, Generator, TableDef};
use tidemark_e2e::*;
use tidemark_testkit::ProduceRecord;

struct Case {
    name: &'static str,
    key: Option<&'static str>,
    value: Option<&'static str>,
    /// A word the error must contain.
    reason: &'static str,
}

const VALID_AFTER: &str = r#"{"before":null,"after":{"CUST_ID":999999,"NAME":"x","MKTSEGMENT":null},"source":{"connector":"mysql"},"ts_ms":1"#;

#[test]
fn undecodable_records_stop_at_their_offset_and_are_never_skipped() {
    let stack = Stack::start();
    let missing_op = format!("{VALID_AFTER}}}");
    let missing_op: &'static str = Box::leak(missing_op.into_boxed_str());
    let valid = format!("{VALID_AFTER},\"op\":\"c\"}}");
    let valid: &'static str = Box::leak(valid.into_boxed_str());
    let cases = [
        Case {
            name: "invalid_json",
            key: Some(r#"{"CUST_ID":999999}"#),
            value: Some("{\"op\":\"c\", not json"),
            reason: "JSON",
        },
        Case {
            name: "missing_op",
            key: Some(r#"{"CUST_ID":999999}"#),
            value: Some(missing_op),
            reason: "op",
        },
        Case {
            name: "missing_key",
            key: None,
            value: Some(valid),
            reason: "key",
        },
    ];
    for case in cases {
        let mut def = TableDef::salesdb_customer();
        def.server = case.name.to_string();
        let setup = TableSetup {
            def: def.clone(),
            target: format!("public.{}", case.name),
            with_pk: false,
            renames: BTreeMap::new(),
            key_fields: None,
            refresh_time_column: false,
        };
        let setups = vec![setup];
        stack.prepare(&setups, 1);
        let topic = def.topic();
        let mut history = Generator::new(
            vec![def],
            GenConfig {
                partitions: 1,
                snapshot_rows: 0,
                ..GenConfig::default()
            },
        );
        let good_before = produce(stack.kafka.bootstrap(), history.by_ref().take(40)) as i64;
        let bad = ProduceRecord {
            headers: Vec::new(),
            topic: topic.clone(),
            partition: 0,
            key: case.key.map(|k| k.as_bytes().to_vec()),
            value: case.value.map(|v| v.as_bytes().to_vec()),
        };
        block_on(tidemark_testkit::produce(stack.kafka.bootstrap(), [bad])).expect("produce bad");
        produce(stack.kafka.bootstrap(), history.by_ref().take(10));
        let config = stack.config(case.name, &setups, "[batch]\nmax_rows = 7\n");

        for attempt in 0..2 {
            let out = tidemark(&["refresh", "--config", &config.display().to_string()]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{}: must fail:\n{stderr}", case.name);
            let coords = format!("topic {topic:?} partition 0 offset {good_before}");
            assert!(
                stderr.contains(&coords),
                "{} (attempt {attempt}): expected {coords:?} in:\n{stderr}",
                case.name
            );
            assert!(
                stderr.contains(case.reason),
                "{}: expected {:?} in:\n{stderr}",
                case.name,
                case.reason
            );
            assert_eq!(
                watermarks(&stack.url()).get(&(topic.clone(), 0)),
                Some(&good_before),
                "{}: everything before the bad record is applied, nothing after",
                case.name
            );
        }
    }
}

/// The key a table was merged by is recorded; a later run configured with another key stops
/// at start, naming both, before it reads or writes anything.
#[test]
fn a_changed_key_setting_for_a_merged_table_stops_at_start_naming_both_keys() {
    let stack = Stack::start();
    let mut setups = vec![salesdb_setups().remove(0)];
    stack.prepare(&setups, 1);
    let mut history = Generator::new(
        setups.iter().map(|s| s.def.clone()).collect(),
        GenConfig {
            partitions: 1,
            ..GenConfig::hostile(71, 500)
        },
    );
    produce(stack.kafka.bootstrap(), history.by_ref());
    refresh(&stack.config("by-message-key", &setups, ""));
    let before = watermarks(&stack.url());

    setups[0].key_fields = Some(vec!["NAME".into()]);
    let config = stack.config("by-name", &setups, "");
    let out = tidemark(&["refresh", "--config", &config.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "configured as [customer_name] but the table has been merged by [customer_id]"
        ),
        "{stderr}"
    );
    assert_eq!(watermarks(&stack.url()), before, "nothing was applied");
}
