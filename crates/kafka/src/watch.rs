//! Telling a security refusal from a network failure.
//!
//! librdkafka reports a failed SASL authentication or an untrusted broker certificate in its
//! log (facility `FAIL`) and as an error event on the client's queue (not always both: a
//! repeated failure is logged once per client); the
//! request that needed the connection fails as a transport error or a timeout, which is
//! retried. The metadata client's [`SecurityWatch`] context remembers such a refusal, and
//! [`classify`] then reports the failed request as [`BrokerError::Refused`], which is not
//! retried: wrong credentials or a wrong CA do not get better by waiting.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use tidemark_ports::BrokerError;

/// The metadata client: a consumer with nothing assigned, watched for refusals.
pub(crate) type MetadataClient = BaseConsumer<SecurityWatch>;

/// How many queued events one classification serves (non-blocking polls; the metadata client
/// has only log and error events queued, a handful per failed connection).
const MAX_EVENTS: usize = 256;

/// What librdkafka's `FAIL` log lines say when the peer refused us for a security reason
/// (librdkafka 2.x wording: `rdkafka_sasl*.c`, `rdkafka_ssl.c`).
const REFUSALS: &[&str] = &[
    "SASL authentication error",
    "certificate verify failed",
    "SSL handshake failed",
];

/// A client context that logs like librdkafka's default and remembers the last refusal.
#[derive(Clone, Default)]
pub(crate) struct SecurityWatch {
    refusal: Arc<Mutex<Option<String>>>,
}

impl ClientContext for SecurityWatch {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        if fac == "FAIL" && REFUSALS.iter().any(|r| log_message.contains(r)) {
            if let Ok(mut refusal) = self.refusal.lock() {
                *refusal = Some(log_message.to_string());
            }
        }
        DefaultClientContext.log(level, fac, log_message);
    }
}

impl ConsumerContext for SecurityWatch {}

/// An error event saying authentication or TLS failed.
fn is_refusal(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL)
    )
}

/// `err` as [`BrokerError::Refused`] when `client` saw a refusal since the last
/// classification; otherwise `err` unchanged.
pub(crate) fn classify(client: &MetadataClient, err: BrokerError) -> BrokerError {
    // Serve the queued events: error events come back from the poll, log lines reach the
    // context.
    let mut refusal = None;
    for _ in 0..MAX_EVENTS {
        // `None` also after serving a log line, so it does not mean the queue is empty.
        if let Some(Err(e)) = client.poll(Duration::ZERO) {
            if is_refusal(&e) {
                refusal = Some(e.to_string());
            }
        }
    }
    let logged = client
        .context()
        .refusal
        .lock()
        .ok()
        .and_then(|mut r| r.take());
    let refusal = logged.or(refusal);
    match (err, refusal) {
        (BrokerError::Client { context, .. }, Some(reason)) => {
            BrokerError::Refused { context, reason }
        }
        (err, _) => err,
    }
}
