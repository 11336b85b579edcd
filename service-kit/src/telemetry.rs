//! Logs and traces.
//!
//! Logs: JSON when stdout is not a terminal (containers, log collectors), text for people.
//! Level from `RUST_LOG` (default `info`). One line per request with method, path, status and
//! latency: no headers, query strings or bodies, so tokens, cookies and OAuth codes never reach
//! the log. A JSON line written inside a request carries that request's `trace_id` and
//! `span_id`, so a log line leads to its trace.
//!
//! Traces ([`crate::trace`]): every request is a server span that continues the caller's W3C
//! `traceparent` (daprd sends one), and every call to the sidecar is a client span whose
//! `traceparent` daprd continues ([`crate::SidecarClient::send`]). Spans are exported over
//! OTLP/gRPC only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
//! set; the OpenTelemetry SDK reads the other standard variables itself (`OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`, `OTEL_BSP_*`,
//! `OTEL_EXPORTER_OTLP_*`). Without an endpoint nothing is recorded or exported, but trace
//! context still flows and log lines still carry ids.

use std::io::IsTerminal;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::KeyValue;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, filter};

use crate::json_lines::JsonLines;
use crate::{metrics, trace};

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Auto,
    Json,
    Text,
}

/// The tracer provider, kept so that spans still queued are exported before the process ends.
pub struct Telemetry {
    provider: SdkTracerProvider,
    exporting: bool,
}

impl Telemetry {
    /// Exports what is still queued and stops the exporter. Call once, at the end of `main`.
    pub async fn shutdown(self) {
        if !self.exporting {
            return;
        }
        // Shutting down blocks until the export finishes, which needs the runtime: off it.
        let provider = self.provider;
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "could not export the last spans"),
            Err(error) => tracing::warn!(%error, "could not export the last spans"),
        }
    }
}

/// Installs the global log subscriber and the tracer. Call once, from `main`, inside the Tokio
/// runtime (the OTLP exporter's connection runs on it).
pub fn init(service: &'static str, format: LogFormat) -> Telemetry {
    let (provider, export) = tracer_provider(service);
    let exporting = matches!(export, Export::To(_));
    trace::install(exporting.then(|| provider.tracer(service)));

    // Events only: nothing here makes `tracing` spans, and a span a dependency makes would have
    // its fields formatted for nothing.
    let levels = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let events = levels.and(filter::filter_fn(|meta| meta.is_event()));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let logs = if json {
        let lines = tracing_subscriber::fmt::layer().event_format(JsonLines);
        lines.with_filter(events).boxed()
    } else {
        tracing_subscriber::fmt::layer().with_filter(events).boxed()
    };
    // This project's warnings and errors, never its dependencies' (the exporter's own HTTP/2
    // client would report on itself), also go on the current span as events.
    let ours = filter::filter_fn(move |meta| {
        *meta.level() <= Level::WARN
            && (meta.target().starts_with("service_kit") || meta.target().starts_with(service))
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(trace::EventsOnSpans.with_filter(ours))
        .init();

    match export {
        Export::Off => {}
        Export::To(endpoint) => tracing::info!(%endpoint, "exporting traces over OTLP/gRPC"),
        Export::Failed(error) => tracing::error!(%error, "cannot export traces; running without"),
    }
    Telemetry {
        provider,
        exporting,
    }
}

enum Export {
    Off,
    To(String),
    Failed(String),
}

fn tracer_provider(service: &'static str) -> (SdkTracerProvider, Export) {
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service);
    }
    // The sampler comes from OTEL_TRACES_SAMPLER(_ARG); the default, ParentBased(AlwaysOn),
    // follows the caller's sampling decision, as daprd's sampler does.
    let provider = SdkTracerProvider::builder().with_resource(resource.build());
    let Some(endpoint) = otlp_endpoint() else {
        return (provider.build(), Export::Off);
    };
    let protocol = env_value("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| env_value("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_else(|| "grpc".to_owned());
    if protocol != "grpc" {
        let error = format!("OTLP protocol {protocol:?} is not supported; only grpc is");
        return (provider.build(), Export::Failed(error));
    }
    // The exporter reads the endpoint, headers, timeout and compression from the environment.
    match opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
    {
        Ok(exporter) => (
            provider.with_batch_exporter(exporter).build(),
            Export::To(endpoint),
        ),
        Err(error) => (provider.build(), Export::Failed(error.to_string())),
    }
}

/// The collector traces go to, if any: export is off unless an endpoint is set.
fn otlp_endpoint() -> Option<String> {
    if env_value("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return None;
    }
    env_value("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| env_value("OTEL_EXPORTER_OTLP_ENDPOINT"))
}

fn env_value(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// Who made a request (a token's subject, and a name when there is one), put on the response by
/// an authentication layer so the request's log line can name the caller.
#[derive(Debug, Clone)]
pub struct LoggedCaller {
    pub subject: String,
    pub name: Option<String>,
}

/// Middleware: for each request a server span (continuing the caller's `traceparent`) that is
/// the current context while the request is handled, its metrics, and one log line.
pub async fn observe_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // The route template (`/state/{*key}`), not the path: span names and metric labels stay few.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched
        .as_ref()
        .map_or(metrics::UNMATCHED_ROUTE, MatchedPath::as_str);
    let span = trace::server_span(request.headers(), &|| {
        let attributes = vec![
            KeyValue::new("http.request.method", method.as_str().to_owned()),
            KeyValue::new("http.route", route.to_owned()),
            KeyValue::new("url.path", path.clone()),
        ];
        (format!("{method} {route}"), attributes)
    });

    let response = next.run(request).with_context(span.clone()).await;
    let status = response.status();
    let elapsed = started.elapsed();
    metrics::record_request(&method, route, status, elapsed);
    let caller = response.extensions().get::<LoggedCaller>();
    {
        let _in_the_span = span.clone().attach();
        tracing::info!(
            method = method.as_str(),
            path = path.as_str(),
            status = status.as_u16(),
            caller = caller.map(|c| c.subject.as_str()),
            caller_name = caller.and_then(|c| c.name.as_deref()),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    }
    trace::end(&span, Some(status));
    response
}
