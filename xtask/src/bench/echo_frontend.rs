//! The benchmark's floor, frontend side: the least an app can do in the frontend's place.
//! `POST /call` hands its body, unread, to its sidecar's `/v1.0/invoke/backend/method/savestate`
//! and answers with what came back. No parsing, no checks, no logging: what remains of a
//! request's cost is daprd's and the HTTP stack's, so `scripts/bench.sh` can show what the
//! real frontend adds on top.

#[path = "echo.rs"]
mod echo;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use echo::Sidecar;
use reqwest::Method;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    echo::serve(Router::new().route("/call", post(call))).await;
}

async fn call(State(sidecar): State<Sidecar>, body: Bytes) -> Response {
    let mut request = sidecar
        .request(Method::POST, "/v1.0/invoke/backend/method/savestate")
        .header(header::CONTENT_TYPE, "application/json")
        .body(body);
    if echo::CallPattern::get().trace {
        request = request.header("traceparent", new_traceparent());
    }
    let answer = request.send().await;
    match answer {
        Ok(answer) => (answer.status(), answer.bytes().await.unwrap_or_default()).into_response(),
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

/// A W3C `traceparent` that starts a new sampled trace, as an app instrumented for Dapr's
/// tracing sends with its first call.
pub fn new_traceparent() -> String {
    let mut trace_id = [0u8; 16];
    let mut span_id = [0u8; 8];
    getrandom::fill(&mut trace_id).expect("random bytes");
    getrandom::fill(&mut span_id).expect("random bytes");
    let (trace_id, span_id) = (u128::from_be_bytes(trace_id), u64::from_be_bytes(span_id));
    format!("00-{trace_id:032x}-{span_id:016x}-01")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_new_traceparent_is_w3c_and_new_each_time() {
        let first = super::new_traceparent();
        let parts: Vec<&str> = first.split('-').collect();
        assert_eq!(parts.len(), 4, "{first}");
        assert_eq!((parts[0], parts[3]), ("00", "01"));
        assert_eq!((parts[1].len(), parts[2].len()), (32, 16), "{first}");
        assert!(
            parts[1..3]
                .iter()
                .all(|id| id.bytes().all(|b| b.is_ascii_hexdigit()))
        );
        assert_ne!(first, super::new_traceparent());
    }
}
