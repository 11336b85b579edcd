//! What a hostile caller sends the backend that it must refuse, with a specific 4xx problem,
//! before any call to its sidecar: keys no path can name, data the store would not keep as it
//! was sent, a weak `If-Match`, a body that is not an object. No sidecar is there to answer.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use backend::startup::app;
use backend::state_store::{Consistency, StateClient};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The backend with a state store and a sidecar that are not there: any call to them would
/// be a 5xx, so every 4xx here was decided before one.
fn backend() -> axum::Router {
    let store = StateClient::connect(
        "http://127.0.0.1:1",
        None,
        "statestore".into(),
        Consistency::Strong,
        Duration::from_secs(1),
    )
    .unwrap();
    let sidecar = service_kit::testing::absent_sidecar(Duration::from_secs(1));
    app(store, &sidecar, None)
}

async fn send(request: Request<Body>) -> (StatusCode, Value) {
    let response = backend().oneshot(request).await.unwrap();
    let status = response.status();
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json",
        "{status}"
    );
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

async fn save(body: String) -> (StatusCode, String) {
    let request = Request::post("/savestate")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    let (status, problem) = send(request).await;
    (status, problem["detail"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn keys_that_no_path_can_name_are_400() {
    for key in [".", "..", "a/..", "a//b", "/a", "a/", "100%", "a?b", "a#b"] {
        let (status, detail) = save(json!({"key": key, "data": 1}).to_string()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{key:?}: {detail}");
        assert!(detail.contains("path /state/{key}"), "{key:?}: {detail}");
    }
}

#[tokio::test]
async fn data_the_store_would_not_keep_exactly_is_422_and_says_why() {
    for (data, why) in [
        ("123456789012345678901234567890", "beyond ±(2^53 − 1)"),
        ("9007199254740993", "beyond ±(2^53 − 1)"),
        ("0.30000000000000001", "would read back as 0.3"),
        ("1e400", "out of the range of a 64-bit float"),
        ("-1e400", "out of the range of a 64-bit float"),
        ("1e-400", "read back as 0"),
        ("5e-324", "read back as 0"),
        (r#""\ud800""#, "unpaired UTF-16 surrogate"),
        (r#"{"a":1,"a":2}"#, "member \"a\" twice"),
    ] {
        let (status, detail) = save(format!(r#"{{"key":"k","data":{data}}}"#)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{data}: {detail}");
        assert!(detail.contains(why), "{data}: {detail}");
    }
    let deep = |levels: usize| {
        format!(
            r#"{{"key":"k","data":{}{}}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    let (status, detail) = save(deep(100)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(detail.contains("more than 64 levels"), "{detail}");
    let (status, detail) = save(deep(10_000)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(detail.contains("more than 128 levels"), "{detail}");
}

#[tokio::test]
async fn a_weak_if_match_never_matches() {
    let request = Request::post("/savestate")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::IF_MATCH, "W/\"1\"")
        .body(Body::from(json!({"key": "k", "data": 1}).to_string()))
        .unwrap();
    let (status, problem) = send(request).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("weak ETag"));

    let request = Request::delete("/state/k")
        .header(header::IF_MATCH, "W/\"1\"")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(request).await.0, StatusCode::PRECONDITION_FAILED);
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_422() {
    let (status, detail) = save(r#"["k", 1]"#.to_owned()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(detail.contains("an array, not an object"), "{detail}");
}

#[tokio::test]
async fn an_if_match_that_is_not_text_is_400() {
    let request = Request::delete("/state/k")
        .header(
            header::IF_MATCH,
            axum::http::HeaderValue::from_bytes(b"\"\xff\"").unwrap(),
        )
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(request).await.0, StatusCode::BAD_REQUEST);
}
