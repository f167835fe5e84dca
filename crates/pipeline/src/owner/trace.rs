//! The trace of a micro-batch: one `batch` span per batch, from its first record to its commit,
//! with OpenTelemetry's messaging attributes, and a link to the producer's span of each record
//! that carries a W3C `traceparent` header (links, not parents: a batch has many producers).
//! The merger's `merge` span and the writer's statement spans are its children.

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// At most this many producer links per batch (a batch may hold 10,000 records).
const MAX_LINKS: usize = 128;

/// A new root span for a batch of `topic`.
pub(super) fn batch_span(topic: &str) -> tracing::Span {
    tracing::info_span!(
        parent: None,
        "batch",
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.operation.type = "process",
        messaging.destination.name = topic,
        messaging.batch.message_count = Empty,
        messaging.destination.partition.id = Empty,
        tidemark.offsets = Empty,
        tidemark.rows = Empty,
        tidemark.dead_letters = Empty,
    )
}

/// Links the batch to the producer span a record's `traceparent` header names, if any.
pub(super) fn link_producer(
    span: &tracing::Span,
    headers: &[(String, Option<Vec<u8>>)],
    links: &mut usize,
) {
    if *links >= MAX_LINKS || span.is_disabled() {
        return;
    }
    let parent = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("traceparent"))
        .and_then(|(_, v)| v.as_deref())
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(parse_traceparent);
    if let Some(context) = parent {
        span.add_link(context);
        *links += 1;
    }
}

/// `00-<trace id>-<span id>-<flags>` (W3C Trace Context); `None` if malformed or all-zero.
fn parse_traceparent(value: &str) -> Option<SpanContext> {
    let mut parts = value.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version.len() != 2 || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
        return None;
    }
    let trace = TraceId::from_hex(trace).ok()?;
    let span = SpanId::from_hex(span).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    let context = SpanContext::new(
        trace,
        span,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    );
    context.is_valid().then_some(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_headers_are_read_strictly() {
        let c = parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
            .expect("valid");
        assert_eq!(c.trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(c.span_id().to_string(), "b7ad6b7169203331");
        assert!(c.is_sampled() && c.is_remote());
        for bad in [
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
            "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319z-b7ad6b7169203331-01",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
    }
}
