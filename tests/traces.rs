//! Traces over OTLP: a real OTLP receiver, over HTTP (protobuf) and over gRPC, gets one `batch`
//! trace per committed micro-batch, with the messaging attributes, the `merge` span under it
//! and the statement spans (stage, delete, insert, watermark, commit; an upsert of bound arrays
//! has no stage) under that, and a link to
//! the producer's span of each record that carried a `traceparent` header. The HTTP export is
//! configured by the standard variables (winning over the file's `[telemetry]`), the gRPC one
//! by the config file alone.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use tidemark_e2e::*;

const TOPIC: &str = "shop.shop.items";
const ID: &str = r#"{"type":"int32","optional":false,"field":"id"}"#;
const PRODUCER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

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

/// An OTLP/gRPC receiver: a tonic server of the collector's `TraceService`; keeps every
/// request with its `authorization` metadata.
fn grpc_receiver() -> (u16, Arc<Mutex<Vec<Authorized>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("non-blocking");
    let port = listener.local_addr().expect("addr").port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let service = TraceServiceServer::new(GrpcReceiver(received.clone()));
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await
                .expect("serve");
        });
    });
    (port, received)
}

/// A request with the `authorization` it came with.
type Authorized = (Option<String>, ExportTraceServiceRequest);

struct GrpcReceiver(Arc<Mutex<Vec<Authorized>>>);

#[tonic::async_trait]
impl TraceService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        self.0
            .lock()
            .expect("lock")
            .push((authorization, request.into_inner()));
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// A stack with three records on `TOPIC`, the one at offset 1 carrying a producer's
/// `traceparent`.
fn stack_with_records() -> Stack {
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
    stack
}

/// Runs `tidemark refresh --json` with these variables (and no other `OTEL_*` one of this
/// process); returns the number of merges of the summary.
fn refresh_traced(config: &Path, env: &[(&str, String)]) -> u64 {
    let mut command = std::process::Command::new(tidemark_bin());
    command
        .args([
            "refresh",
            "--json",
            "--config",
            &config.display().to_string(),
        ])
        .env("TIDEMARK_LOG", "info");
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("OTEL_")) {
        command.env_remove(name);
    }
    let out = command
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run tidemark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary");
    summary["tables"][0]["merges"].as_u64().expect("merges")
}

#[test]
fn every_batch_is_one_trace_with_merge_and_statement_spans_linked_to_its_producers() {
    let stack = stack_with_records();
    // The standard variables win over the file: its endpoint receives nothing.
    let ignored = "[telemetry]\notlp_endpoint = \"http://127.0.0.1:9\"\notlp_protocol = \"grpc\"\n\
                   service_name = \"from-the-file\"\n";
    let config = stack.auto_table_config("traces", TOPIC, "public.items", ignored);
    let (port, received) = otlp_http_receiver();
    let merges = refresh_traced(
        &config,
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{port}"),
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()),
            ("OTEL_SERVICE_NAME", "tidemark-under-test".into()),
        ],
    );
    let requests = received.lock().expect("lock").clone();
    assert_batch_traces(&requests, "tidemark-under-test", merges);
}

#[test]
fn grpc_export_configured_in_the_config_file_gets_the_same_traces() {
    let stack = stack_with_records();
    let (port, received) = grpc_receiver();
    let telemetry = format!(
        "[telemetry]\notlp_endpoint = \"http://127.0.0.1:{port}\"\notlp_protocol = \"grpc\"\n\
         service_name = \"tidemark-over-grpc\"\n\
         [telemetry.otlp_headers]\nauthorization = \"Bearer test-token\"\n"
    );
    let config = stack.auto_table_config("traces", TOPIC, "public.items", &telemetry);
    let merges = refresh_traced(&config, &[]);
    let received = received.lock().expect("lock").clone();
    assert!(
        received
            .iter()
            .all(|(auth, _)| auth.as_deref() == Some("Bearer test-token")),
        "every export carries telemetry.otlp_headers"
    );
    let requests: Vec<_> = received.into_iter().map(|(_, r)| r).collect();
    assert_batch_traces(&requests, "tidemark-over-grpc", merges);
}

/// The spans of `requests`, all of `service`: one `batch` trace per committed micro-batch
/// (`merges` of them) with its attributes, `merge` under it, the statement spans under that,
/// and the producer's link.
fn assert_batch_traces(requests: &[ExportTraceServiceRequest], service: &str, merges: u64) {
    let mut spans: Vec<Span> = Vec::new();
    for request in requests {
        for resource in &request.resource_spans {
            let name = resource
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                .and_then(|a| a.value.as_ref()?.value.clone());
            assert_eq!(name, Some(AnyValue::StringValue(service.into())));
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
        let statements = children(merge);
        let mut names: Vec<&str> = statements.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        // The upsert binds a piece's values as arrays (no stage, and a delete only for delete
        // winners); other pieces are staged, then deleted and inserted from the stage.
        let bound = statements.iter().any(|s| {
            s.name == "insert" && attribute(s, "tidemark.values").as_deref() == Some("bound arrays")
        });
        let expected: &[&str] = if bound {
            &["commit", "insert", "watermark"]
        } else {
            &["commit", "delete", "insert", "stage", "watermark"]
        };
        for &statement in expected {
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
