//! The benchmark's floor, frontend side: the least an app can do in the frontend's place.
//! `POST /call` hands its body, unread, to its sidecar's `/v1.0/invoke/backend/method/savestate`
//! and answers with what came back. No parsing, no checks, no logging: what remains of a
//! request's cost is daprd's and the HTTP stack's, so `scripts/bench.sh` can show what the
//! real frontend adds on top.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use e2e::echo::{self, Sidecar};
use reqwest::Method;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    echo::serve(Router::new().route("/call", post(call))).await;
}

async fn call(State(sidecar): State<Sidecar>, body: Bytes) -> Response {
    let answer = sidecar
        .request(Method::POST, "/v1.0/invoke/backend/method/savestate")
        .header(header::CONTENT_TYPE, "application/json")
        .header("traceparent", echo::new_traceparent())
        .body(body)
        .send()
        .await;
    match answer {
        Ok(answer) => (answer.status(), answer.bytes().await.unwrap_or_default()).into_response(),
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}
