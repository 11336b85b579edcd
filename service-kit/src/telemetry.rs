//! Logs and traces.
//!
//! Logs: JSON when stdout is not a terminal (containers, log collectors), text for people.
//! Level from `RUST_LOG` (default `info`). One line per request with method, path, status and
//! latency: no headers, query strings or bodies, so tokens, cookies and OAuth codes never reach
//! the log. A JSON line written inside a request carries that request's `trace_id` and
//! `span_id`, so a log line leads to its trace.
//!
//! Traces: every request is a server span that continues the caller's W3C `traceparent` (daprd
//! sends one), and every call to the sidecar is a client span whose `traceparent` daprd continues
//! ([`crate::SidecarClient::send`]). Spans are exported over OTLP/gRPC only when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; the OpenTelemetry
//! SDK reads the other standard variables itself (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`, `OTEL_BSP_*`, `OTEL_EXPORTER_OTLP_*`).
//! Without an endpoint the spans still exist, so trace context still flows and log lines still
//! carry ids, but nothing is exported and no exporter runs.

use std::io::IsTerminal;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::field::Empty;
use tracing::{Dispatch, Instrument, Level};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, filter};

use crate::json_lines::JsonLines;
use crate::metrics;

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

/// Installs the global subscriber: logs, and spans for OpenTelemetry. Call once, from `main`,
/// inside the Tokio runtime (the OTLP exporter's connection runs on it).
pub fn init(service: &'static str, format: LogFormat) -> Telemetry {
    let (provider, export) = tracer_provider(service);
    // Only this project's spans (and its warnings, as span events) go to OpenTelemetry, never
    // those of its dependencies: the exporter's own HTTP/2 client would otherwise trace itself.
    let ours = filter::filter_fn(move |meta| {
        (meta.is_span() || *meta.level() <= Level::WARN)
            && (meta.target().starts_with("service_kit") || meta.target().starts_with(service))
    });
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service))
        // No code location, target, thread, level or busy/idle time on spans: attributes nobody
        // reads that cost every request (busy/idle time reads the clock on every poll). Nor is
        // each span's OpenTelemetry context made current while it is entered (on every poll):
        // nothing here reads `opentelemetry::Context::current()`; the sidecar client takes the
        // span's context explicitly.
        .with_location(false)
        .with_target(false)
        .with_threads(false)
        .with_level(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false)
        .with_filter(ours);

    let levels = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let dispatch_slot = Arc::new(OnceLock::new());
    let logs = if json {
        tracing_subscriber::fmt::layer()
            .event_format(JsonLines {
                dispatch: dispatch_slot.clone(),
            })
            // Events only: the JSON lines carry no span fields, and a span the log layer
            // enables gets its fields formatted for nothing on every request.
            .with_filter(levels.and(filter::filter_fn(|meta| meta.is_event())))
            .boxed()
    } else {
        tracing_subscriber::fmt::layer().with_filter(levels).boxed()
    };

    let dispatch = Dispatch::new(tracing_subscriber::registry().with(spans).with(logs));
    let _ = dispatch_slot.set(dispatch.downgrade());
    dispatch.init();

    let exporting = match export {
        Export::Off => false,
        Export::To(endpoint) => {
            tracing::info!(%endpoint, "exporting traces over OTLP/gRPC");
            true
        }
        Export::Failed(error) => {
            tracing::error!(%error, "cannot export traces; running without");
            false
        }
    };
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

/// Middleware: for each request a server span (continuing the caller's `traceparent`), its
/// metrics, and one log line inside the span.
pub async fn observe_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // The route template (`/state/{*key}`), not the path: span names and metric labels stay few.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched
        .as_ref()
        .map_or(metrics::UNMATCHED_ROUTE, MatchedPath::as_str);
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method.as_str(),
        http.route = route,
        url.path = path.as_str(),
        http.response.status_code = Empty,
    );
    let _ =
        span.set_parent(TraceContextPropagator::new().extract(&HeaderExtractor(request.headers())));

    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    let elapsed = started.elapsed();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
    metrics::record_request(&method, route, status, elapsed);
    let caller = response.extensions().get::<LoggedCaller>();
    span.in_scope(|| {
        tracing::info!(
            method = method.as_str(),
            path = path.as_str(),
            status = status.as_u16(),
            caller = caller.map(|c| c.subject.as_str()),
            caller_name = caller.and_then(|c| c.name.as_deref()),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    });
    response
}

/// Writes `span`'s trace context into `headers` as W3C `traceparent` (and `tracestate`), so the
/// receiver (daprd) continues the trace.
pub fn inject_trace_context(span: &tracing::Span, headers: &mut HeaderMap) {
    TraceContextPropagator::new().inject_context(&span.context(), &mut HeaderInjector(headers));
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(key), HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TraceContextExt;

    use super::*;

    #[test]
    fn trace_context_goes_out_and_comes_back_in_w3c_headers() {
        let incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static(incoming));
        let context = TraceContextPropagator::new().extract(&HeaderExtractor(&headers));
        assert_eq!(
            context.span().span_context().trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );

        let mut outgoing = HeaderMap::new();
        TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(&mut outgoing));
        assert_eq!(outgoing["traceparent"], incoming);
    }
}
