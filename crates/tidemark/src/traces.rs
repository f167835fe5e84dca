//! Logs and traces. Logs go to stderr as text, or as JSON lines with `TIDEMARK_LOG_FORMAT=json`.
//! Traces are exported with OTLP when the standard variables ask for it (off otherwise):
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`),
//! `OTEL_EXPORTER_OTLP_PROTOCOL` = `grpc` or `http/protobuf` (the default), `OTEL_SERVICE_NAME`
//! (default `tidemark`). One trace per micro-batch: see `tidemark_pipeline`'s `batch` span.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::status_line;

/// Installs the global subscriber; returns the tracer provider to shut down at exit (which
/// exports what is still buffered), if traces are exported.
pub fn init(filter: EnvFilter) -> Option<SdkTracerProvider> {
    let json = std::env::var("TIDEMARK_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let logs = tracing_subscriber::fmt::layer().with_writer(status_line::LogWriter);
    let logs = if json {
        // One JSON object per line: timestamp, level, target, message and fields, spans.
        logs.json().with_current_span(true).boxed()
    } else {
        logs.with_ansi(std::io::stderr().is_terminal()).boxed()
    };
    let (provider, error) = match provider() {
        Ok(p) => (p, None),
        Err(e) => (None, Some(e)),
    };
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("tidemark")));
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(otel)
        .init();
    if let Some(e) = error {
        tracing::error!(error = %e, "cannot export traces (OTEL_EXPORTER_OTLP_*): running without them");
    }
    provider
}

/// The runtime of the gRPC exporter's connection (one worker), if it could be started.
fn otlp_runtime() -> Option<&'static tokio::runtime::Runtime> {
    static RUNTIME: std::sync::OnceLock<Option<tokio::runtime::Runtime>> =
        std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("otlp-grpc")
                .enable_all()
                .build()
                .ok()
        })
        .as_ref()
}

/// The OTLP tracer provider the environment asks for, if any.
fn provider() -> Result<Option<SdkTracerProvider>, opentelemetry_otlp::ExporterBuildError> {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    if !set("OTEL_EXPORTER_OTLP_ENDPOINT") && !set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return Ok(None);
    }
    let protocol = std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_default();
    // The endpoint, headers and timeout come from the standard variables.
    let exporter = if protocol.trim() == "grpc" {
        // tonic's channel needs a Tokio runtime for its connection tasks, and the batch
        // processor exports from a thread of its own: the channel gets a small runtime of its
        // own, alive for the process (found by the chart check: `validate` panicked without).
        let _context = otlp_runtime().map(tokio::runtime::Runtime::enter);
        SpanExporter::builder().with_tonic().build()?
    } else {
        SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build()?
    };
    let service = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "tidemark".to_string());
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name(service).build())
            .build(),
    ))
}
