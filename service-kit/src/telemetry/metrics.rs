//! Request metrics in the Prometheus text format, on a port of their own (`METRICS_PORT`), the
//! way daprd exposes its own: scrapers (Prometheus, Azure Monitor managed Prometheus on AKS)
//! reach it, while the app's port, behind ingress and the app token, does not serve it.
//!
//! Per method, route template and status class (`2xx`..`5xx`):
//! `http_server_requests_total` and `http_server_request_duration_seconds` (a histogram).

use std::borrow::Cow;
use std::sync::LazyLock;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The route label of requests no route matched (404s): one value, whatever the path was.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The OpenTelemetry HTTP server-duration buckets, with two below 5 ms: these services answer
/// in about a millisecond when the sidecar is quick.
const DURATION_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: Cow<'static, str>,
    route: String,
    status_class: &'static str,
}

struct RequestMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<RequestLabels, Histogram, fn() -> Histogram>,
}

/// One set per process, like the process it describes.
static METRICS: LazyLock<RequestMetrics> = LazyLock::new(|| {
    let requests = Family::<RequestLabels, Counter>::default();
    let duration: Family<RequestLabels, Histogram, fn() -> Histogram> =
        Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS));
    let mut registry = Registry::default();
    registry.register(
        "http_server_requests",
        "HTTP requests served",
        requests.clone(),
    );
    registry.register_with_unit(
        "http_server_request_duration",
        "Time from receiving a request to having its response",
        Unit::Seconds,
        duration.clone(),
    );
    RequestMetrics {
        registry,
        requests,
        duration,
    }
});

pub fn record_request(method: &Method, route: &str, status: StatusCode, elapsed: Duration) {
    let labels = RequestLabels {
        method: method_label(method),
        route: route.to_owned(),
        status_class: status_class(status),
    };
    METRICS.requests.get_or_create(&labels).inc();
    METRICS
        .duration
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
}

/// `GET /metrics`, for the metrics port.
pub fn router() -> Router {
    Router::new().route("/metrics", get(exposition))
}

async fn exposition() -> Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &METRICS.registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Known methods by name, anything else as one value, so a client cannot add label values.
fn method_label(method: &Method) -> Cow<'static, str> {
    match *method {
        Method::GET => "GET".into(),
        Method::POST => "POST".into(),
        Method::PUT => "PUT".into(),
        Method::PATCH => "PATCH".into(),
        Method::DELETE => "DELETE".into(),
        Method::HEAD => "HEAD".into(),
        Method::OPTIONS => "OPTIONS".into(),
        _ => "_OTHER".into(),
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn scrape() -> String {
        let response = router()
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn requests_are_counted_and_timed_per_route_and_status_class() {
        let route = "/metrics-test/{id}";
        record_request(
            &Method::POST,
            route,
            StatusCode::CREATED,
            Duration::from_millis(3),
        );
        record_request(
            &Method::POST,
            route,
            StatusCode::OK,
            Duration::from_millis(30),
        );
        record_request(
            &Method::POST,
            route,
            StatusCode::BAD_GATEWAY,
            Duration::from_millis(2),
        );
        let text = scrape().await;
        let labels = r#"method="POST",route="/metrics-test/{id}""#;
        assert!(
            text.contains(&format!(
                r#"http_server_requests_total{{{labels},status_class="2xx"}} 2"#
            )),
            "{text}"
        );
        assert!(text.contains(&format!(
            r#"http_server_requests_total{{{labels},status_class="5xx"}} 1"#
        )));
        assert!(text.contains(&format!(
            r#"http_server_request_duration_seconds_bucket{{le="0.005",{labels},status_class="2xx"}} 1"#
        )), "{text}");
        assert!(text.contains(&format!(
            r#"http_server_request_duration_seconds_count{{{labels},status_class="2xx"}} 2"#
        )));
    }

    #[test]
    fn unusual_methods_share_one_label_value() {
        assert_eq!(
            method_label(&Method::from_bytes(b"BREW").unwrap()),
            "_OTHER"
        );
        assert_eq!(status_class(StatusCode::NOT_FOUND), "4xx");
    }
}
