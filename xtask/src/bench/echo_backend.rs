//! The benchmark's floor, backend side: the cheapest thing that does the backend's job. It
//! saves the body it gets, unread, with one state operation through daprd's HTTP state API
//! (`POST /v1.0/state/statestore`, JSON stored as JSON), and answers. No parsing, no checks,
//! no problem bodies, no token check, no log line: so the floor is what daprd, SQLite and the
//! HTTP stack cost by themselves, and ours/floor is what the real apps add. Of daprd's two
//! state APIs, HTTP cost no more than gRPC when measured side by side (`--floors http,grpc`,
//! `echo_backend_grpc.rs`; docs/benchmark.md).
//!
//! The key: `echo-` and a hash of the body, so requests with different bodies (the bench's
//! distinct-keys level) write different keys as the real backend does, and the one-key levels
//! one key.

#[path = "echo.rs"]
mod echo;
#[path = "echo_key.rs"]
mod echo_key;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use echo::Sidecar;
use reqwest::Method;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    echo::serve(Router::new().route("/savestate", post(save))).await;
}

async fn save(State(sidecar): State<Sidecar>, headers: HeaderMap, body: Bytes) -> Response {
    let key = echo_key::key_of(&body);
    let mut items = Vec::with_capacity(body.len() + 80);
    items.extend_from_slice(br#"[{"key":""#);
    items.extend_from_slice(key.as_bytes());
    items.extend_from_slice(br#"","value":"#);
    items.extend_from_slice(&body);
    items.extend_from_slice(br#","options":{"consistency":"strong"}}]"#);
    let mut request = sidecar
        .request(Method::POST, "/v1.0/state/statestore")
        .header(header::CONTENT_TYPE, "application/json")
        .body(items);
    let pattern = echo::CallPattern::get();
    // daprd's trace context goes on with the save, as the real backend's does.
    if let Some(traceparent) = headers.get("traceparent").filter(|_| pattern.trace) {
        request = request.header("traceparent", traceparent);
    }
    match request.send().await {
        Ok(answer) if answer.status().is_success() => echo::saved(&key),
        _ => StatusCode::BAD_GATEWAY.into_response(),
    }
}
