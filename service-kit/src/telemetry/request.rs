//! What is told about each request: its server span, its metrics and one log line.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use opentelemetry::KeyValue;
use opentelemetry::context::FutureExt as _;

use super::{metrics, trace};

/// Who made a request (a token's subject, and a name when there is one), put on the response by
/// an authentication layer so the request's log line can name the caller.
#[derive(Debug, Clone)]
pub struct LoggedCaller {
    pub subject: String,
    pub name: Option<String>,
}

/// For each request a server span (continuing the caller's `traceparent`) that is the current
/// context while `handle` answers it, its metrics, and one log line.
pub async fn observe_request<F>(request: Request, handle: impl FnOnce(Request) -> F) -> Response
where
    F: Future<Output = Response>,
{
    let started = Instant::now();
    let method = request.method().clone();
    // As long as the client likes: the log line and the span carry its start.
    let path = crate::problem::echo(request.uri().path()).into_owned();
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

    let response = handle(request).with_context(span.clone()).await;
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
