//! Spans, made with OpenTelemetry directly: a server span per request and a client span per call
//! to the sidecar. While a request is handled, its span's context is the current OpenTelemetry
//! context ([`crate::telemetry::observe_request`]), so a call's span is its child and a log line
//! written meanwhile names both ids.
//!
//! With an exporter the spans are the SDK's, recorded and exported. Without one nothing is
//! recorded: a span is only its context (a new span id, in the caller's trace or a new one),
//! which is all the `traceparent` that daprd continues and the log lines need, at next to no
//! cost per request.

use std::sync::OnceLock;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    SpanContext, SpanKind, Status, TraceContextExt, TraceFlags, TraceState, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracer};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer;

/// The tracer spans are recorded with when they are exported; set once, by `telemetry::init`.
/// Unset (as in unit tests), or set to `None`, spans are context only.
static EXPORTING: OnceLock<Option<SdkTracer>> = OnceLock::new();

pub(crate) fn install(exporting: Option<SdkTracer>) {
    let _ = EXPORTING.set(exporting);
}

/// A span's name and attributes, asked for only when the span is recorded.
pub(crate) type Describe<'a> = &'a dyn Fn() -> (String, Vec<KeyValue>);

/// The server span of a request with these headers: the child of the caller's `traceparent`, if
/// it sent a valid one, else the root of a new trace.
pub(crate) fn server_span(headers: &HeaderMap, describe: Describe<'_>) -> Context {
    let caller = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    start(&caller, SpanKind::Server, describe)
}

/// A client span, the child of the current span; none outside a request (the readiness checks
/// at start-up are no one's trace).
pub(crate) fn client_span(describe: Describe<'_>) -> Option<Context> {
    let current = Context::current();
    let inside_a_request = current.span().span_context().is_valid();
    inside_a_request.then(|| start(&current, SpanKind::Client, describe))
}

fn start(parent: &Context, kind: SpanKind, describe: Describe<'_>) -> Context {
    if let Some(tracer) = EXPORTING.get().and_then(Option::as_ref) {
        let (name, attributes) = describe();
        let span = tracer
            .span_builder(name)
            .with_kind(kind)
            .with_attributes(attributes)
            .start_with_context(tracer, parent);
        return parent.with_span(span);
    }
    // The sampling flag of a new trace is "sampled", as the SDK's default sampler would decide:
    // daprd records what the caller samples.
    let ids = RandomIdGenerator::default();
    let caller = parent.span().span_context().clone();
    let (trace_id, flags, state) = if caller.is_valid() {
        let state = caller.trace_state().clone();
        (caller.trace_id(), caller.trace_flags(), state)
    } else {
        (
            ids.new_trace_id(),
            TraceFlags::SAMPLED,
            TraceState::default(),
        )
    };
    let context = SpanContext::new(trace_id, ids.new_span_id(), flags, false, state);
    parent.with_remote_span_context(context)
}

/// Ends the span of `span` with the HTTP status that was answered, or `None` if the call got no
/// answer. A 5xx or no answer marks the span as an error.
pub(crate) fn end(span: &Context, status: Option<StatusCode>) {
    let span = span.span();
    if !span.is_recording() {
        return;
    }
    if let Some(status) = status {
        let code = i64::from(status.as_u16());
        span.set_attribute(KeyValue::new("http.response.status_code", code));
    }
    if status.is_none_or(|status| status.is_server_error()) {
        span.set_status(Status::error(""));
    }
    span.end();
}

/// Writes the trace context of `span` into `headers` as W3C `traceparent` (and `tracestate`),
/// so the receiver (daprd) continues the trace.
pub(crate) fn inject(span: &Context, headers: &mut HeaderMap) {
    TraceContextPropagator::new().inject_context(span, &mut HeaderInjector(headers));
}

/// Adds each event it sees to the current span as a span event, when that span is recorded: the
/// telemetry layer gives it this project's warnings and errors, so a trace shows what went wrong
/// where.
pub(crate) struct EventsOnSpans;

impl<S: Subscriber> Layer<S> for EventsOnSpans {
    fn on_event(&self, event: &Event<'_>, _: layer::Context<'_, S>) {
        Context::map_current(|current| {
            let span = current.span();
            if !span.is_recording() {
                return;
            }
            let mut fields = EventFields::default();
            event.record(&mut fields);
            let level = KeyValue::new("level", event.metadata().level().as_str());
            fields.attributes.push(level);
            span.add_event(fields.message, fields.attributes);
        });
    }
}

#[derive(Default)]
struct EventFields {
    message: String,
    attributes: Vec<KeyValue>,
}

impl Visit for EventFields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let value = format!("{value:?}");
        if field.name() == "message" {
            self.message = value;
        } else {
            self.attributes.push(KeyValue::new(field.name(), value));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.message);
        } else {
            self.attributes
                .push(KeyValue::new(field.name(), value.to_owned()));
        }
    }
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

/// For this crate's tests: requests that arrive with a caller's trace context.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// The caller's `traceparent`: trace `0af7…319c`, parent span `b7ad…3331`, sampled.
    pub(crate) const CALLER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    pub(crate) fn headers(traceparent: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_str(traceparent).unwrap());
        headers
    }

    /// The server span of a request from [`CALLER`] (nothing is exported in tests).
    pub(crate) fn request_from_caller() -> Context {
        server_span(&headers(CALLER), &nothing)
    }

    pub(crate) fn nothing() -> (String, Vec<KeyValue>) {
        unreachable!("nothing is recorded without an exporter")
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{CALLER, headers, nothing, request_from_caller};
    use super::*;

    #[test]
    fn a_request_continues_the_callers_trace_with_a_span_of_its_own() {
        let span = request_from_caller();
        let context = span.span().span_context().clone();
        assert_eq!(
            context.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_ne!(context.span_id().to_string(), "b7ad6b7169203331");
        assert!(context.is_sampled());

        // What goes to the sidecar is the same trace, with this span as the parent.
        let mut outgoing = HeaderMap::new();
        inject(&span, &mut outgoing);
        let sent = outgoing["traceparent"].to_str().unwrap();
        assert_eq!(
            sent,
            format!(
                "00-0af7651916cd43dd8448eb211c80319c-{}-01",
                context.span_id()
            )
        );
    }

    #[test]
    fn without_a_valid_traceparent_a_request_starts_a_sampled_trace() {
        for incoming in [HeaderMap::new(), headers("00-garbage")] {
            let context = server_span(&incoming, &nothing)
                .span()
                .span_context()
                .clone();
            assert!(context.is_valid() && context.is_sampled());
        }
        // The caller's decision not to sample is kept.
        let unsampled = CALLER.replace("-01", "-00");
        let context = server_span(&headers(&unsampled), &nothing);
        assert!(!context.span().span_context().is_sampled());
    }

    #[test]
    fn a_call_is_a_child_of_the_current_request_and_outside_one_there_is_none() {
        assert!(client_span(&nothing).is_none());
        let request = request_from_caller();
        let _current = request.clone().attach();
        let call = client_span(&nothing).expect("a span inside a request");
        let (request, call) = (request.span(), call.span());
        let (request, call) = (request.span_context(), call.span_context());
        assert_eq!(call.trace_id(), request.trace_id());
        assert_ne!(call.span_id(), request.span_id());
    }
}
