//! Topic → table routing by pattern: `topics = "<regex>"` with a target template routes every
//! matching topic to its own table, beside explicit entries (which win); Kafka's own `__`
//! topics are never matched; and in `run` a matching topic created later is picked up.

use std::time::{Duration, Instant};

use tidemark_e2e::*;

const ID: &str = r#"{"type":"int32","optional":false,"field":"id"}"#;
const NAME: &str = r#"{"type":"string","optional":true,"field":"name"}"#;

fn produce(stack: &Stack, topic: &str, id: i64, name: &str) {
    let record = connect_record(
        topic,
        0,
        id,
        ID,
        &[ID, NAME],
        &format!(r#"{{"id":{id},"name":"{name}"}}"#),
    );
    stack.send([record]);
}

fn tables(url: &str) -> Vec<String> {
    query_text(
        url,
        "SELECT schemaname || '.' || tablename FROM pg_tables \
         WHERE schemaname IN ('public', 'sales', 'other') ORDER BY 1",
    )
    .into_iter()
    .filter_map(|r| r.into_iter().next().flatten())
    .collect()
}

#[test]
fn patterns_route_each_matching_topic_to_its_own_table_and_pick_up_new_ones() {
    let stack = Stack::start();
    for topic in [
        "salesdb.salesdb.CUSTOMER",
        "salesdb.salesdb.ORDERS",
        "salesdb.salesdb.SPECIAL",
        "salesdb.other.NOT_MATCHED",
    ] {
        stack.kafka.create_topic(topic, 1).expect("topic");
    }
    produce(&stack, "salesdb.salesdb.CUSTOMER", 1, "ann");
    produce(&stack, "salesdb.salesdb.ORDERS", 7, "order");
    produce(&stack, "salesdb.salesdb.SPECIAL", 3, "special");
    produce(&stack, "salesdb.other.NOT_MATCHED", 4, "no");
    let config = stack.dir.path().join("routing.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbrokers = {:?}\n[warehouse]\nurl = {:?}\nauto_create = true\n\
             [[tables]]\ntopic = \"salesdb.salesdb.SPECIAL\"\ntarget = \"other.special_one\"\n\
             [[tables]]\ntopics = 'salesdb\\.salesdb\\..*'\ntarget = \"sales.${{table}}\"\n",
            stack.kafka.bootstrap(),
            stack.url()
        ),
    )
    .expect("config");
    let summary = refresh(&config);
    let routed: Vec<(String, String)> = summary["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .map(|t| {
            (
                t["topic"].as_str().unwrap_or_default().to_string(),
                t["target"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        routed,
        [
            pair("salesdb.salesdb.CUSTOMER", "sales.CUSTOMER"),
            pair("salesdb.salesdb.ORDERS", "sales.ORDERS"),
            pair("salesdb.salesdb.SPECIAL", "other.special_one"),
        ]
    );
    assert_eq!(
        tables(&stack.url()),
        ["other.special_one", "sales.CUSTOMER", "sales.ORDERS"]
    );
    assert_eq!(
        query_text(&stack.url(), r#"SELECT name FROM sales."CUSTOMER""#),
        [[Some("ann".to_string())]]
    );

    // In `run`, a matching topic created later gets its table within a topic refresh.
    let mut running = Running::start(&config, stack.dir.path().join("run.log"));
    produce(&stack, "salesdb.salesdb.CUSTOMER", 2, "bob");
    let names = || {
        query_text(
            &stack.url(),
            r#"SELECT name FROM sales."CUSTOMER" ORDER BY id"#,
        )
    };
    let both = [[Some("ann".to_string())], [Some("bob".to_string())]];
    let deadline = Instant::now() + Duration::from_secs(30);
    // Running with the three tables before the new topic exists.
    while names() != both {
        running.assert_alive();
        assert!(Instant::now() < deadline, "{}", running.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    stack
        .kafka
        .create_topic("salesdb.salesdb.LATER", 1)
        .expect("topic");
    produce(&stack, "salesdb.salesdb.LATER", 9, "late");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let created = query_text(&stack.url(), r#"SELECT to_regclass('sales."LATER"')::text"#);
        if created != [[None]]
            && query_text(&stack.url(), r#"SELECT name FROM sales."LATER""#)
                == [[Some("late".to_string())]]
        {
            break;
        }
        running.assert_alive();
        assert!(
            Instant::now() < deadline,
            "the new topic's table did not fill within 60 s:\n{}",
            running.log_text()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(
        query_text(
            &stack.url(),
            r#"SELECT name FROM sales."CUSTOMER" ORDER BY id"#
        ),
        [[Some("ann".to_string())], [Some("bob".to_string())]]
    );
    let status = running.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status}\n{}", running.log_text());
    assert!(
        running
            .log_text()
            .contains("the routed topics changed: starting again with the new tables"),
        "{}",
        running.log_text()
    );
}
