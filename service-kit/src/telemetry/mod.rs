//! Logs, traces and request metrics: what the app tells about its work.
//!
//! Logs: JSON when stdout is not a terminal (containers, log collectors), text for people.
//! Level from `RUST_LOG` (default `info`). One line per request with method, path, status and
//! latency: no headers, query strings or bodies, so tokens, cookies and OAuth codes never reach
//! the log. A JSON line written inside a request carries that request's `trace_id` and
//! `span_id`, so a log line leads to its trace.
//!
//! Traces: every request is a server span that continues the caller's W3C `traceparent` (daprd
//! sends one), and every call to the sidecar is a client span whose `traceparent` daprd
//! continues ([`crate::SidecarClient::send`]). Whether a new trace is sampled is the app's own
//! setting ([`SamplingSettings`]: `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`), and daprd
//! records what the app samples. Spans are exported over OTLP/gRPC only when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; the
//! OpenTelemetry SDK reads the other standard variables itself (`OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`, `OTEL_EXPORTER_OTLP_*`). Without an endpoint nothing
//! is recorded or exported, but trace context and its sampling decision still flow and log
//! lines still carry ids.
//!
//! One file for each part:
//!
//! - `init`: installs the log subscriber and the tracer, once, from `main`.
//! - `export`: the OTLP exporter, when an endpoint is set.
//! - `sampling`: which new traces are sampled.
//! - `trace`: the spans of requests and of calls to the sidecar, and their W3C trace context.
//! - `span_events`: this project's warnings and errors as events on the current span.
//! - `json_lines`: the JSON log line format.
//! - `log_output`: log lines to stdout, a batch at a time ([`flush_logs`] when the runtime parks).
//! - `request`: for each request, its span, its metrics and one log line.
//! - [`metrics`]: request count and latency per route, for Prometheus, on a port of its own.

mod export;
mod init;
mod json_lines;
mod log_output;
pub mod metrics;
mod request;
mod sampling;
mod span_events;
pub(crate) mod trace;

pub use init::{LogFormat, Telemetry, init};
pub use log_output::flush as flush_logs;
pub use request::{LoggedCaller, observe_request};
pub use sampling::{SamplerName, SamplingSettings};
