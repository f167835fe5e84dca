//! The HTTP endpoints of `run` (see `[http]` in the config): health for the orchestrator's
//! probes, Prometheus metrics, and the status JSON. Served by actix-web on the replica's actix
//! system, one worker: these are scraped every few seconds, never a hot path.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use tidemark_config::Config;
use tidemark_model::TopicPartition;
use tidemark_pipeline::RunSummary;
use tidemark_ports::Broker;

use crate::error::CliError;

/// How often the consumer lag of the committed partitions is measured.
const LAG_EVERY: Duration = Duration::from_secs(5);

/// Starts the endpoints (unless disabled) and the lag measurement; stops with the actix system.
pub fn serve(
    config: &Config,
    broker: Arc<dyn Broker>,
    summary: Arc<Mutex<RunSummary>>,
) -> Result<(), CliError> {
    if !config.http.enabled {
        return Ok(());
    }
    let status_config = web::Data::new(config.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(status_config.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
            .route("/status", web::get().to(status))
    })
    .workers(1)
    // tidemark's own signal handling drains the pipeline; the server stops with the system.
    .disable_signals()
    .bind(&config.http.listen)
    .map_err(|source| CliError::Io {
        context: format!("listening on http.listen = {}", config.http.listen),
        source,
    })?
    .run();
    actix::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "the HTTP endpoints stopped");
        }
    });
    std::thread::Builder::new()
        .name("lag".into())
        .spawn(move || measure_lag(&*broker, &summary))
        .map_err(|source| CliError::Io {
            context: "starting the lag measurement thread".into(),
            source,
        })?;
    tracing::info!(listen = %config.http.listen, "serving /healthz, /readyz, /metrics, /status");
    Ok(())
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().body("ok\n")
}

async fn readyz() -> HttpResponse {
    match tidemark_telemetry::health().readiness() {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "ready": true })),
        Err(reasons) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "ready": false, "reasons": reasons })),
    }
}

async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(tidemark_telemetry::metrics().encode())
}

async fn status(config: web::Data<Config>) -> HttpResponse {
    let config = config.into_inner();
    match web::block(move || crate::commands::status::status_json(&config)).await {
        Ok(Ok(json)) => HttpResponse::Ok().json(json),
        Ok(Err(e)) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "error": tidemark_model::ErrorChain(&e).to_string() })),
        Err(e) => {
            HttpResponse::InternalServerError().json(serde_json::json!({ "error": e.to_string() }))
        }
    }
}

/// Every `LAG_EVERY`: for each partition this replica owns, the high-water
/// mark minus its next offset (resumed or committed). Blocking metadata calls: on a thread of
/// its own.
fn measure_lag(broker: &dyn Broker, summary: &Mutex<RunSummary>) {
    let lag = &tidemark_telemetry::metrics().consumer_lag;
    loop {
        std::thread::sleep(LAG_EVERY);
        let owned = tidemark_telemetry::metrics().owned();
        // The next offset of each partition: the newer of where this replica last resumed it
        // and what it has committed since.
        let mut next_offsets = tidemark_telemetry::metrics().resumed();
        match summary.lock() {
            Ok(s) => {
                for (topic, t) in &s.tables {
                    for (p, o) in &t.offsets {
                        let next = next_offsets.entry((topic.clone(), *p)).or_insert(*o);
                        *next = (*next).max(*o);
                    }
                }
            }
            Err(_) => return,
        }
        for ((topic, partition), next) in next_offsets {
            if !owned.contains(&(topic.clone(), partition)) {
                continue;
            }
            let tp = TopicPartition::new(topic.as_str(), partition);
            match broker.watermarks(&tp, Duration::from_secs(10)) {
                Ok((_, high)) => lag
                    .with_label_values(&[topic.as_str(), &partition.to_string()])
                    .set((high - next).max(0)),
                Err(e) => {
                    tracing::debug!(%tp, error = %tidemark_model::ErrorChain(&e), "measuring lag failed")
                }
            }
        }
    }
}
