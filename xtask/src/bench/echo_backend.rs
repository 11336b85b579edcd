//! The benchmark's floor, backend side. It makes the same two Dapr calls the real backend makes
//! for a save (save the value, then read it back for its ETag), so the floor pays for daprd and
//! SQLite exactly as the real pair does, and the ratio ours/floor shows only what the real apps
//! add: parsing and checking input, problem bodies, the app-token check, the log line.
//! The body it gets is stored, unread, as the value of one fixed key.

#[path = "echo.rs"]
mod echo;

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
    // daprd's trace context goes on with both calls, as the real backend's does.
    let trace = headers.get("traceparent").cloned();
    let with_trace = |request: reqwest::RequestBuilder| match &trace {
        Some(traceparent) => request.header("traceparent", traceparent),
        None => request,
    };
    let mut items = Vec::with_capacity(body.len() + 64);
    items.extend_from_slice(br#"[{"key":"echo","value":"#);
    items.extend_from_slice(&body);
    items.extend_from_slice(br#","options":{"consistency":"strong"}}]"#);
    let saved = with_trace(sidecar.request(Method::POST, "/v1.0/state/statestore"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(items)
        .send()
        .await;
    if !saved.is_ok_and(|answer| answer.status().is_success()) {
        return StatusCode::BAD_GATEWAY.into_response();
    }
    let read = with_trace(sidecar.request(
        Method::GET,
        "/v1.0/state/statestore/echo?consistency=strong",
    ))
    .send()
    .await;
    match read {
        Ok(answer) if answer.status().is_success() => {
            let etag = answer
                .headers()
                .get(header::ETAG)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            // Drain the body so the pooled connection can be reused, as the real backend does.
            let _ = answer.bytes().await;
            (
                [(header::CONTENT_TYPE, "application/json")],
                format!(r#"{{"key":"echo","etag":"{etag}"}}"#),
            )
                .into_response()
        }
        _ => StatusCode::BAD_GATEWAY.into_response(),
    }
}
