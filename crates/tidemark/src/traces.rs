//! Logs and traces. Logs go to stderr as text, or as JSON lines with `TIDEMARK_LOG_FORMAT=json`.
//! Traces are exported with OTLP (gRPC or HTTP/protobuf) when the config's `[telemetry]` or the
//! standard variables ask for it, off otherwise: [`otlp_settings`] decides, each standard
//! variable winning over its config key (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_SERVICE_NAME`).
//! One trace per micro-batch: see `tidemark_pipeline`'s `batch` span.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use opentelemetry_otlp::{
    ExporterBuildError, Protocol, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tidemark_config::{OtlpProtocol, Secret, TelemetryConfig};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::status_line;

const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
const SDK_DISABLED: &str = "OTEL_SDK_DISABLED";

/// Why traces cannot be exported (the process then runs without them).
#[derive(Debug, thiserror::Error)]
pub enum TracesError {
    #[error("{setting}: {reason}")]
    Setting { setting: String, reason: String },
    #[error("cannot start the runtime of the OTLP/gRPC exporter")]
    Runtime(#[source] std::io::Error),
    #[error("cannot build the OTLP exporter for {endpoint}")]
    Exporter {
        endpoint: String,
        #[source]
        source: ExporterBuildError,
    },
}

/// Where and how spans are exported, as [`otlp_settings`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Otlp {
    /// The URL spans are sent to: for http/protobuf the traces URL itself (`…/v1/traces`).
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    pub service_name: String,
    /// The config's headers; the exporter adds `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS` to them,
    /// which win for a header both name.
    pub headers: BTreeMap<String, Secret>,
}

/// The one place that decides the OTLP settings: each standard variable over its `[telemetry]`
/// key (blank variables count as unset), `None` for no traces. `env` reads a variable.
pub fn otlp_settings(
    file: &TelemetryConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Otlp>, TracesError> {
    let var = |name: &str| {
        env(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    if var(SDK_DISABLED).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    let from_env = [TRACES_PROTOCOL, PROTOCOL]
        .into_iter()
        .find_map(|name| Some((name, var(name)?)));
    let protocol = match from_env {
        Some((_, v)) if v == "grpc" => OtlpProtocol::Grpc,
        Some((_, v)) if v == "http/protobuf" => OtlpProtocol::HttpProtobuf,
        Some((name, v)) => {
            let reason = format!("{v:?} is not \"grpc\" or \"http/protobuf\"");
            let setting = name.to_string();
            return Err(TracesError::Setting { setting, reason });
        }
        None => file.otlp_protocol,
    };
    let base = || {
        let file = file.otlp_endpoint.as_deref().map(str::trim);
        var(ENDPOINT).or_else(|| file.filter(|e| !e.is_empty()).map(String::from))
    };
    // A traces endpoint is the URL as is; a base one gets the traces path over HTTP.
    let endpoint = match (var(TRACES_ENDPOINT), base()) {
        (Some(url), _) => url,
        (None, Some(base)) if protocol == OtlpProtocol::HttpProtobuf => {
            format!("{}/v1/traces", base.trim_end_matches('/'))
        }
        (None, Some(base)) => base,
        (None, None) => return Ok(None),
    };
    let service_name = var(SERVICE_NAME)
        .or_else(|| Some(file.service_name.trim().to_string()).filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "tidemark".to_string());
    for (name, value) in &file.otlp_headers {
        check_header(name, value)?;
    }
    Ok(Some(Otlp {
        endpoint,
        protocol,
        service_name,
        headers: file.otlp_headers.clone(),
    }))
}

/// A header name must be an HTTP token and its value visible ASCII; the error never shows it.
fn check_header(name: &str, value: &Secret) -> Result<(), TracesError> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let reason = if name.is_empty() || !name.chars().all(token) {
        "is not a valid header name"
    } else if !value
        .expose()
        .chars()
        .all(|c| c == '\t' || (' '..='~').contains(&c))
    {
        "has a value that is not visible ASCII"
    } else {
        return Ok(());
    };
    Err(TracesError::Setting {
        setting: format!("telemetry.otlp_headers.{name}"),
        reason: reason.to_string(),
    })
}

/// Installs the global subscriber, with the traces `telemetry` and the environment ask for;
/// returns the tracer provider to shut down at exit (which exports what is still buffered), if
/// traces are exported.
pub fn init(filter: EnvFilter, telemetry: &TelemetryConfig) -> Option<SdkTracerProvider> {
    let json = std::env::var("TIDEMARK_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let logs = tracing_subscriber::fmt::layer().with_writer(status_line::LogWriter);
    let logs = if json {
        // One JSON object per line: timestamp, level, target, message and fields, spans.
        logs.json().with_current_span(true).boxed()
    } else {
        logs.with_ansi(std::io::stderr().is_terminal()).boxed()
    };
    let settings = otlp_settings(telemetry, |name| std::env::var(name).ok());
    let built = settings.and_then(|s| s.map(|s| Ok((provider(&s)?, s))).transpose());
    let (provider, error) = match built {
        Ok(p) => (p, None),
        Err(e) => (None, Some(e)),
    };
    let otel = provider
        .as_ref()
        .map(|(p, _)| tracing_opentelemetry::layer().with_tracer(p.tracer("tidemark")));
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(otel)
        .init();
    if let Some(e) = error {
        let error = crate::error::chain(&e);
        tracing::error!(%error, "cannot export traces: running without them");
    }
    provider.map(|(provider, s)| {
        tracing::debug!(endpoint = %s.endpoint, protocol = ?s.protocol, service = %s.service_name, "exporting traces over OTLP");
        provider
    })
}

/// The runtime of the gRPC exporter's connection (one worker), alive for the process.
fn otlp_runtime() -> Result<&'static tokio::runtime::Runtime, TracesError> {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("otlp-grpc")
        .enable_all()
        .build()
        .map_err(TracesError::Runtime)?;
    Ok(RUNTIME.get_or_init(|| runtime))
}

/// The tracer provider exporting to `settings`, in batches.
fn provider(settings: &Otlp) -> Result<SdkTracerProvider, TracesError> {
    let endpoint = settings.endpoint.clone();
    let built = match settings.protocol {
        OtlpProtocol::Grpc => {
            // tonic's channel needs a Tokio runtime for its connection tasks, and the batch
            // processor exports from a thread of its own: the channel gets a small runtime of
            // its own (found by the chart check: `validate` panicked without).
            let _context = otlp_runtime()?.enter();
            SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .with_metadata(metadata(&settings.headers)?)
                .build()
        }
        OtlpProtocol::HttpProtobuf => {
            let headers = settings.headers.iter();
            SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(endpoint.clone())
                .with_headers(
                    headers
                        .map(|(k, v)| (k.clone(), v.expose().into()))
                        .collect(),
                )
                .build()
        }
    };
    let exporter = built.map_err(|source| TracesError::Exporter { endpoint, source })?;
    let resource = Resource::builder()
        .with_service_name(settings.service_name.clone())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The headers as gRPC metadata.
fn metadata(headers: &BTreeMap<String, Secret>) -> Result<MetadataMap, TracesError> {
    let mut map = MetadataMap::new();
    for (name, value) in headers {
        let invalid = |reason: &str| TracesError::Setting {
            setting: format!("telemetry.otlp_headers.{name}"),
            reason: reason.to_string(),
        };
        let key = tonic::metadata::AsciiMetadataKey::from_bytes(name.as_bytes())
            .map_err(|_| invalid("is not a valid gRPC metadata key"))?;
        let value = value
            .expose()
            .parse()
            .map_err(|_| invalid("has a value that is not valid gRPC metadata"))?;
        map.insert(key, value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(section: serde_json::Value) -> TelemetryConfig {
        serde_json::from_value(section).expect("a [telemetry] section")
    }

    fn grpc_file() -> TelemetryConfig {
        file(serde_json::json!({
            "otlp_endpoint": "http://file:4317",
            "otlp_protocol": "grpc",
            "service_name": "from-file",
        }))
    }

    fn with_header(name: &str, value: &str) -> TelemetryConfig {
        file(serde_json::json!({"otlp_endpoint": "http://c", "otlp_headers": {name: value}}))
    }

    fn settings(file: &TelemetryConfig, env: &[(&str, &str)]) -> Result<Option<Otlp>, TracesError> {
        otlp_settings(file, |name| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    fn on(file: &TelemetryConfig, env: &[(&str, &str)]) -> Otlp {
        settings(file, env).expect("valid").expect("traces on")
    }

    #[test]
    fn off_without_an_endpoint() {
        let none = TelemetryConfig::default();
        assert!(settings(&none, &[]).expect("valid").is_none());
        let blank = file(serde_json::json!({"otlp_endpoint": "  "}));
        assert!(settings(&blank, &[(ENDPOINT, "")])
            .expect("valid")
            .is_none());
    }

    #[test]
    fn the_file_alone_configures_traces() {
        let grpc = on(&grpc_file(), &[]);
        assert_eq!(grpc.endpoint, "http://file:4317");
        assert_eq!(grpc.protocol, OtlpProtocol::Grpc);
        assert_eq!(grpc.service_name, "from-file");
        let http = on(
            &file(serde_json::json!({"otlp_endpoint": "http://file:4318/"})),
            &[],
        );
        assert_eq!(http.endpoint, "http://file:4318/v1/traces");
        assert_eq!(http.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(http.service_name, "tidemark");
    }

    #[test]
    fn the_environment_alone_configures_traces() {
        let s = on(
            &TelemetryConfig::default(),
            &[(ENDPOINT, "http://env:4318")],
        );
        assert_eq!(s.endpoint, "http://env:4318/v1/traces");
        assert_eq!(s.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(s.service_name, "tidemark");
    }

    #[test]
    fn each_variable_wins_over_its_key_alone() {
        let f = grpc_file();
        let s = on(&f, &[(ENDPOINT, "http://env:4317")]);
        assert_eq!(
            (s.endpoint.as_str(), s.protocol, s.service_name.as_str()),
            ("http://env:4317", OtlpProtocol::Grpc, "from-file")
        );
        let s = on(&f, &[(PROTOCOL, "http/protobuf")]);
        assert_eq!(s.endpoint, "http://file:4317/v1/traces");
        let s = on(&f, &[(SERVICE_NAME, "from-env")]);
        assert_eq!(
            (s.endpoint.as_str(), s.service_name.as_str()),
            ("http://file:4317", "from-env")
        );
    }

    #[test]
    fn the_traces_variables_win_over_the_generic_ones() {
        let env = [
            (ENDPOINT, "http://generic:4317"),
            (TRACES_ENDPOINT, "http://traces:4318/custom/path"),
            (PROTOCOL, "grpc"),
            (TRACES_PROTOCOL, "http/protobuf"),
        ];
        let s = on(&grpc_file(), &env);
        assert_eq!(s.endpoint, "http://traces:4318/custom/path", "used as is");
        assert_eq!(s.protocol, OtlpProtocol::HttpProtobuf);
    }

    #[test]
    fn the_sdk_can_be_disabled_from_the_environment() {
        let s = settings(&grpc_file(), &[(SDK_DISABLED, "TRUE")]).expect("valid");
        assert!(s.is_none());
        assert!(on(&grpc_file(), &[(SDK_DISABLED, "false")])
            .endpoint
            .contains("file"));
    }

    #[test]
    fn bad_settings_are_errors_naming_them_but_never_a_header_value() {
        let err = settings(&grpc_file(), &[(PROTOCOL, "http/json")]).unwrap_err();
        assert!(err.to_string().contains(PROTOCOL), "{err}");
        let err = settings(&with_header("x token", "s3cret"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("telemetry.otlp_headers.x token"), "{err}");
        let err = settings(&with_header("x", "s3cret\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("otlp_headers.x") && !err.contains("s3cret"),
            "{err}"
        );
    }

    #[test]
    fn headers_become_grpc_metadata() {
        let s = on(&with_header("Authorization", "Bearer t"), &[]);
        assert!(
            !format!("{s:?}").contains("Bearer"),
            "headers are not shown"
        );
        let map = metadata(&s.headers).expect("metadata");
        let value = map.get("authorization").and_then(|v| v.to_str().ok());
        assert_eq!(value, Some("Bearer t"));
        let bin = [("x-bin".to_string(), Secret::new("v"))].into();
        assert!(metadata(&bin).is_err());
    }
}
