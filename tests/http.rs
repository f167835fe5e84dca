//! The HTTP endpoints of `run`: `/healthz`, `/readyz` (ready once connected and running; 503
//! "draining" during a SIGTERM drain), `/metrics` (the counters of what was applied, freshness,
//! owned partitions, lag falling to 0 after catch-up) and `/status`.

use std::time::{Duration, Instant};

use tidemark_e2e::*;

const ID: &str = r#"{"type":"int32","optional":false,"field":"id"}"#;
const NAME: &str = r#"{"type":"string","optional":true,"field":"name"}"#;
const TOPIC: &str = "shop.shop.items";

fn wait_for(what: &str, running: &mut Running, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        running.assert_alive();
        assert!(
            Instant::now() < deadline,
            "{what}: not within 60 s\n{}",
            running.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn produce(stack: &Stack, ids: std::ops::Range<i64>) {
    let records = ids
        .map(|id| {
            connect_record(
                TOPIC,
                0,
                id,
                ID,
                &[ID, NAME],
                &format!(r#"{{"id":{id},"name":"n{id}"}}"#),
            )
        })
        .collect::<Vec<_>>();
    stack.send(records);
}

#[test]
fn health_metrics_and_status_are_served_and_readiness_drops_while_draining() {
    let stack = Stack::start();
    stack.kafka.create_topic(TOPIC, 1).expect("topic");
    let config = stack.auto_table_config("http", TOPIC, "public.items", "");
    produce(&stack, 0..100);
    let mut running = Running::start(&config, stack.dir.path().join("run.log"));
    let port = running.http_port;
    wait_for("/readyz 200", &mut running, || {
        http_get(port, "/readyz").is_some_and(|(s, _)| s == 200)
    });
    assert_eq!(http_get(port, "/healthz"), Some((200, "ok\n".to_string())));

    let table = "table=\"public.items\"";
    wait_for("100 rows upserted", &mut running, || {
        http_get(port, "/metrics").and_then(|(_, m)| {
            metric_sample(&m, &format!("tidemark_rows_upserted_total{{{table}}}"))
        }) == Some(100.0)
    });
    let (status, metrics) = http_get(port, "/metrics").expect("/metrics");
    assert_eq!(status, 200);
    let expect = |line: &str, want: f64| {
        assert_eq!(
            metric_sample(&metrics, line),
            Some(want),
            "{line} in\n{metrics}"
        );
    };
    expect(
        &format!("tidemark_events_read_total{{topic=\"{TOPIC}\"}}"),
        100.0,
    );
    expect(
        &format!("tidemark_freshness_seconds_count{{{table}}}"),
        100.0,
    );
    // Every record carries `source.ts_ms`: each is measured from the source database too,
    // within the minute the test takes.
    expect(
        &format!("tidemark_source_freshness_seconds_count{{{table}}}"),
        100.0,
    );
    assert!(
        metric_sample(
            &metrics,
            &format!("tidemark_source_freshness_seconds_sum{{{table}}}")
        )
        .is_some_and(|s| s > 0.0 && s < 100.0 * 60.0),
        "{metrics}"
    );
    expect("tidemark_owned_partitions", 1.0);
    expect(&format!("tidemark_dead_letters_total{{{table}}}"), 0.0);
    assert!(
        metric_sample(&metrics, &format!("tidemark_batches_total{{{table}}}"))
            .is_some_and(|b| b >= 1.0)
    );
    assert!(metric_sample(
        &metrics,
        &format!("tidemark_merge_duration_seconds_count{{{table}}}")
    )
    .is_some_and(|b| b >= 1.0));
    let lag = format!("tidemark_consumer_lag_messages{{partition=\"0\",topic=\"{TOPIC}\"}}");
    wait_for("lag measured as 0", &mut running, || {
        http_get(port, "/metrics").and_then(|(_, m)| metric_sample(&m, &lag)) == Some(0.0)
    });
    // Every metric the shipped Grafana dashboard queries exists on this live replica.
    let listed = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/helm/dashboard_metrics.py"
        ))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/grafana/tidemark-dashboard.json"
        ))
        .output()
        .expect("python3 runs tests/helm/dashboard_metrics.py");
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let (_, metrics) = http_get(port, "/metrics").expect("/metrics");
    let names: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert!(names.len() >= 10, "{names:?}");
    for name in &names {
        assert!(
            metrics.contains(&format!("# TYPE {name} ")),
            "the dashboard queries {name}, which the replica does not expose:\n{metrics}"
        );
    }
    let (status, body) = http_get(port, "/status").expect("/status");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("status JSON");
    assert_eq!(json["partitions"][0]["next_offset"], 100, "{json}");
    assert_eq!(json["partitions"][0]["lag"], 0, "{json}");

    // Hold the next merge on a table lock, so the drain takes as long as the test wants.
    let lock = TableLock::hold(&stack.url(), "public.items");
    produce(&stack, 100..101);
    std::thread::sleep(Duration::from_millis(500));
    running.signal(libc::SIGTERM);
    wait_for("/readyz 503 draining", &mut running, || {
        http_get(port, "/readyz").is_some_and(|(s, body)| s == 503 && body.contains("draining"))
    });
    lock.release();
    let exit = running.terminate(Duration::from_secs(30));
    assert!(exit.success(), "{exit}\n{}", running.log_text());
    assert_eq!(
        query_text(&stack.url(), "SELECT count(*)::text FROM public.items"),
        [[Some("101".to_string())]],
        "the drain applied the held record"
    );
}
