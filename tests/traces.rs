//! Traces over OTLP: a real OTLP/HTTP (protobuf) receiver gets one `batch` trace per committed
//! micro-batch, with the messaging attributes, the `merge` span under it and the statement
//! spans (stage, delete, insert, watermark, commit) under that, and a link to the producer's
//! span of each record that carried a `traceparent` header.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tidemark_e2e::*;

const TOPIC: &str = "shop.shop.items";
const ID: &str = r#"{"type":"int32","optional":false,"field":"id"}"#;
const PRODUCER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

/// An OTLP/HTTP receiver: accepts `POST /v1/traces` (protobuf) and keeps every request.
fn receiver() -> (u16, Arc<Mutex<Vec<ExportTraceServiceRequest>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let keep = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            if let Ok(request) = ExportTraceServiceRequest::decode(body.as_slice()) {
                keep.lock().expect("lock").push(request);
            }
            let mut stream = reader.into_inner();
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    (port, received)
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            AnyValue::StringValue(s) => s.clone(),
            AnyValue::IntValue(i) => i.to_string(),
            other => format!("{other:?}"),
        })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_batch_is_one_trace_with_merge_and_statement_spans_linked_to_its_producers() {
    let stack = Stack::start();
    stack.kafka.create_topic(TOPIC, 1).expect("topic");
    let traceparent = format!("00-{PRODUCER_TRACE}-b7ad6b7169203331-01");
    let records: Vec<_> = (0..3)
        .map(|id| {
            let mut r = connect_record(TOPIC, 0, id, ID, &[ID], &format!(r#"{{"id":{id}}}"#));
            if id == 1 {
                r.headers = vec![("traceparent".into(), traceparent.clone().into_bytes())];
            }
            r
        })
        .collect();
    stack.send(records);
    let config = stack.auto_table_config("traces", TOPIC, "public.items", "");
    let (port, received) = receiver();
    let out = std::process::Command::new(tidemark_bin())
        .args([
            "refresh",
            "--json",
            "--config",
            &config.display().to_string(),
        ])
        .env("TIDEMARK_LOG", "info")
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        )
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env("OTEL_SERVICE_NAME", "tidemark-under-test")
        .output()
        .expect("run tidemark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary");
    let merges = summary["tables"][0]["merges"].as_u64().expect("merges");

    let requests = received.lock().expect("lock").clone();
    let mut spans: Vec<Span> = Vec::new();
    for request in &requests {
        for resource in &request.resource_spans {
            let service = resource
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                .and_then(|a| a.value.as_ref()?.value.clone());
            assert_eq!(
                service,
                Some(AnyValue::StringValue("tidemark-under-test".into()))
            );
            for scope in &resource.scope_spans {
                spans.extend(scope.spans.iter().cloned());
            }
        }
    }
    let by_id: HashMap<Vec<u8>, &Span> = spans.iter().map(|s| (s.span_id.clone(), s)).collect();
    let children = |parent: &Span| -> Vec<&Span> {
        spans
            .iter()
            .filter(|s| s.parent_span_id == parent.span_id && s.trace_id == parent.trace_id)
            .collect()
    };
    let committed: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "batch" && children(s).iter().any(|c| c.name == "merge"))
        .collect();
    assert_eq!(
        committed.len() as u64,
        merges,
        "one trace per committed batch; spans: {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let mut linked = false;
    for batch in &committed {
        assert!(batch.parent_span_id.is_empty(), "a batch is a trace's root");
        assert_eq!(
            attribute(batch, "messaging.system").as_deref(),
            Some("kafka")
        );
        assert_eq!(
            attribute(batch, "messaging.destination.name").as_deref(),
            Some(TOPIC)
        );
        assert!(attribute(batch, "messaging.batch.message_count").is_some());
        assert!(attribute(batch, "tidemark.offsets").is_some_and(|o| o.starts_with("0:")));
        let merge = children(batch)
            .into_iter()
            .find(|c| c.name == "merge")
            .expect("merge span");
        assert_eq!(attribute(merge, "table").as_deref(), Some("public.items"));
        let mut names: Vec<&str> = children(merge).iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for statement in ["commit", "delete", "insert", "stage", "watermark"] {
            assert!(
                names.contains(&statement),
                "{statement} under merge: {names:?}"
            );
        }
        linked |= batch
            .links
            .iter()
            .any(|l| hex(&l.trace_id) == PRODUCER_TRACE && hex(&l.span_id) == "b7ad6b7169203331");
    }
    assert!(
        linked,
        "the batch holding offset 1 links to its producer's span"
    );
    assert!(by_id.len() == spans.len(), "span ids are unique");
}
