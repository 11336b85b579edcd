//! What the benchmark's two echo apps (`echo_frontend.rs`, `echo_backend.rs`) share: the settings the launcher
//! gives every app, a pooled client to the sidecar, a `/readyz` that asks the sidecar, as the
//! real apps' does (so the floor's start-to-ready is measured the same way), and trace context:
//! like any app in Dapr's tracing they pass W3C `traceparent` on, or daprd would start a new
//! trace at every hop and do less work than it does for the real pair. Both run on a
//! single-threaded runtime, as the real apps do by default (`WORKER_THREADS=1`).
//!
//! [`CallPattern`] varies how they call daprd, one thing at a time, for the bench's other
//! floors (`--floors`): what each difference from the real pair's pattern costs daprd.

// Each echo binary includes this file and uses part of it.
#![allow(dead_code)]
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use reqwest::{Method, RequestBuilder};
use tokio::net::TcpListener;

/// How the echo apps call daprd, from the environment the bench gives them (each unset:
/// the real pair's way).
pub struct CallPattern {
    /// `ECHO_TRACE=off`: no `traceparent` sent (the frontend) or passed on (the backend), so
    /// daprd starts a new trace at each hop.
    pub trace: bool,
    /// `ECHO_ANSWER=empty`: the backend answers a bare 200 rather than `{"key":…}`.
    pub answer_body: bool,
    /// `ECHO_VALUE=raw` (gRPC only): the value saved as bytes, without the `contentType`
    /// metadata that makes daprd parse it as JSON (the store then keeps base64 text).
    pub json_value: bool,
}

impl CallPattern {
    pub fn get() -> &'static CallPattern {
        static PATTERN: std::sync::OnceLock<CallPattern> = std::sync::OnceLock::new();
        PATTERN.get_or_init(|| {
            let is = |name: &str, value: &str| std::env::var(name).is_ok_and(|v| v == value);
            CallPattern {
                trace: !is("ECHO_TRACE", "off"),
                answer_body: !is("ECHO_ANSWER", "empty"),
                json_value: !is("ECHO_VALUE", "raw"),
            }
        })
    }
}

#[derive(Clone)]
pub struct Sidecar {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Sidecar {
    /// A request to `path` (`/v1.0/...`) on the sidecar, with its API token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("dapr-api-token", &self.token)
    }
}

/// The echo backend's answer to a save of `key`: `{"key":…}` as the real backend's, or a bare
/// 200 with `ECHO_ANSWER=empty`.
pub fn saved(key: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    if !CallPattern::get().answer_body {
        return StatusCode::OK.into_response();
    }
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        format!(r#"{{"key":"{key}"}}"#),
    )
        .into_response()
}

/// Serves `api`, `/healthz` and `/readyz` on `127.0.0.1:$PORT`, with a client for the sidecar
/// on `127.0.0.1:$DAPR_HTTP_PORT` as the handlers' state. (`/healthz` is what daprd's app
/// health check probes: without it daprd finds the app unhealthy and invokes nothing.)
pub async fn serve(api: Router<Sidecar>) {
    let (listener, sidecar) = listen_with_sidecar().await;
    let app = api
        .route("/healthz", get(|| async { StatusCode::OK }))
        .route("/readyz", get(ready))
        .with_state(sidecar);
    axum::serve(listener, app).await.expect("serving");
}

async fn listen_with_sidecar() -> (TcpListener, Sidecar) {
    let setting = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let listener = TcpListener::bind(format!("127.0.0.1:{}", setting("PORT")))
        .await
        .expect("binding the app port");
    let sidecar = Sidecar {
        http: reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client"),
        base: format!("http://127.0.0.1:{}", setting("DAPR_HTTP_PORT")),
        token: setting("DAPR_API_TOKEN"),
    };
    (listener, sidecar)
}

async fn ready(State(sidecar): State<Sidecar>) -> StatusCode {
    match sidecar
        .request(Method::GET, "/v1.0/healthz/outbound")
        .send()
        .await
    {
        Ok(answer) if answer.status().is_success() => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}
