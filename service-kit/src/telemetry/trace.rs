//! Spans, made with OpenTelemetry directly: a server span per request and a client span per call
//! to the sidecar. While a request is handled, its span's context is the current OpenTelemetry
//! context ([`super::observe_request`]), so a call's span is its child and a log line written
//! meanwhile names both ids.
//!
//! With an exporter the spans are the SDK's, recorded and exported. Without one nothing is
//! recorded: a span is only its context (a new span id, in the caller's trace or a new one),
//! which is all the `traceparent` that daprd continues and the log lines need, at next to no
//! cost per request. Either way the app's sampler ([`super::SamplingSettings`]) decides whether
//! a span is sampled, and with it whether daprd records its part of the trace.

use std::sync::OnceLock;

use http::{HeaderMap, StatusCode};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    SpanContext, SpanKind, Status, TraceContextExt, TraceFlags, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, Sampler, SamplingDecision, SdkTracer, ShouldSample,
};

use super::SamplingSettings;

/// How this process makes its spans.
pub(crate) enum Spans {
    /// With the SDK's tracer, whose sampler decides: recorded and exported.
    Recorded(SdkTracer),
    /// As their context only, sampled as this sampler decides.
    ContextOnly(Sampler),
}

/// Set once, by `telemetry::init`. Unset, as in unit tests, spans are context only and sampled
/// as by default.
static SPANS: OnceLock<Spans> = OnceLock::new();

pub(crate) fn install(spans: Spans) {
    let _ = SPANS.set(spans);
}

fn spans() -> &'static Spans {
    SPANS.get_or_init(|| Spans::ContextOnly(SamplingSettings::default().sampler()))
}

/// A span's name and attributes, asked for only when the span is recorded.
pub(crate) type Describe<'a> = &'a dyn Fn() -> (String, Vec<KeyValue>);

/// The server span of a request with these headers: the child of the caller's `traceparent`, if
/// it sent a valid one, else the root of a new trace.
pub(crate) fn server_span(headers: &HeaderMap, describe: Describe<'_>) -> Context {
    spans().start(&caller(headers), SpanKind::Server, describe)
}

/// The caller's trace context, from its `traceparent` (and `tracestate`).
fn caller(headers: &HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// A client span, the child of the current span; none outside a request (the readiness checks
/// at start-up are no one's trace).
pub(crate) fn client_span(describe: Describe<'_>) -> Option<Context> {
    let current = Context::current();
    let inside_a_request = current.span().span_context().is_valid();
    inside_a_request.then(|| spans().start(&current, SpanKind::Client, describe))
}

impl Spans {
    fn start(&self, parent: &Context, kind: SpanKind, describe: Describe<'_>) -> Context {
        match self {
            Self::Recorded(tracer) => {
                let (name, attributes) = describe();
                let span = tracer
                    .span_builder(name)
                    .with_kind(kind)
                    .with_attributes(attributes)
                    .start_with_context(tracer, parent);
                parent.with_span(span)
            }
            Self::ContextOnly(sampler) => {
                let ids = RandomIdGenerator::default();
                let span = parent.span();
                let caller = span.span_context();
                let trace_id = if caller.is_valid() {
                    caller.trace_id()
                } else {
                    ids.new_trace_id()
                };
                // The SDK's samplers read neither the name nor the attributes, so a span that
                // is not recorded is not described.
                let sampling = sampler.should_sample(Some(parent), trace_id, "", &kind, &[], &[]);
                let flags = if sampling.decision == SamplingDecision::RecordAndSample {
                    TraceFlags::SAMPLED
                } else {
                    TraceFlags::default()
                };
                let context = SpanContext::new(
                    trace_id,
                    ids.new_span_id(),
                    flags,
                    false,
                    sampling.trace_state,
                );
                parent.with_remote_span_context(context)
            }
        }
    }
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

/// For this crate's tests: requests that arrive with a caller's trace context.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// The caller's `traceparent`: trace `0af7…319c`, parent span `b7ad…3331`, sampled.
    pub(crate) const CALLER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    pub(crate) fn headers(traceparent: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            http::HeaderValue::from_str(traceparent).unwrap(),
        );
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

    #[test]
    fn the_sampler_decides_for_new_traces_and_a_parent_based_one_follows_the_caller() {
        let sampled = |sampler: Sampler, incoming: &HeaderMap| {
            let span =
                Spans::ContextOnly(sampler).start(&caller(incoming), SpanKind::Server, &nothing);
            span.span().span_context().is_sampled()
        };
        let new_trace = HeaderMap::new();
        let from_sampled_caller = headers(CALLER);
        let from_unsampled_caller = headers(&CALLER.replace("-01", "-00"));
        let parent_based = |root| Sampler::ParentBased(Box::new(root));

        assert!(!sampled(Sampler::AlwaysOff, &new_trace));
        assert!(!sampled(Sampler::AlwaysOff, &from_sampled_caller));
        assert!(sampled(Sampler::AlwaysOn, &from_unsampled_caller));
        assert!(!sampled(Sampler::TraceIdRatioBased(0.0), &new_trace));
        assert!(sampled(Sampler::TraceIdRatioBased(1.0), &new_trace));
        assert!(!sampled(parent_based(Sampler::AlwaysOff), &new_trace));
        assert!(sampled(
            parent_based(Sampler::AlwaysOff),
            &from_sampled_caller
        ));
        assert!(!sampled(
            parent_based(Sampler::AlwaysOn),
            &from_unsampled_caller
        ));
        let none_of_the_new = parent_based(Sampler::TraceIdRatioBased(0.0));
        assert!(sampled(none_of_the_new.clone(), &from_sampled_caller));
        assert!(!sampled(none_of_the_new, &new_trace));
    }
}
