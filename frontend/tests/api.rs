//! The frontend's `/call` against a wiremock stand-in for the Dapr sidecar.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use frontend::allowlist::Allowlist;
use frontend::auth::Authenticator;
use frontend::routes::CallState;
use frontend::startup::app;
use serde_json::{Value, json};
use service_kit::SidecarClient;
use tower::ServiceExt;
use wiremock::matchers::{body_string, header as has_header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

struct TestApp {
    sidecar: MockServer,
    router: axum::Router,
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: Value,
}

async fn spawn_app() -> TestApp {
    let sidecar = MockServer::start().await;
    let client = SidecarClient::new(sidecar.uri(), None, Duration::from_millis(500)).unwrap();
    let router = app(
        CallState {
            sidecar: client,
            allowlist: Arc::new(Allowlist::DEFAULT.parse().unwrap()),
        },
        None,
        Arc::new(Authenticator::Off),
    );
    TestApp { sidecar, router }
}

async fn answer_of(response: axum::response::Response) -> Answer {
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        content_type,
        body,
    }
}

impl TestApp {
    async fn call(&self, body: Value) -> Answer {
        let request = Request::post("/call")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()));
        answer_of(self.router.clone().oneshot(request.unwrap()).await.unwrap()).await
    }
}

fn assert_problem(answer: &Answer, status: StatusCode, detail: &str) {
    assert_eq!(answer.status, status, "{:?}", answer.body);
    assert_eq!(answer.content_type, "application/problem+json");
    assert!(
        answer.body["detail"].as_str().unwrap().contains(detail),
        "{:?}",
        answer.body
    );
}

#[tokio::test]
async fn a_redirect_from_the_target_is_passed_back_not_followed() {
    let app = spawn_app().await;
    // Where the redirect points: it must never see the request (nor the sidecar's token).
    let elsewhere = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&elsewhere)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/invoke/backend/method/savestate"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("Location", format!("{}/steal", elsewhere.uri()))
                .set_body_json(json!({"moved": true})),
        )
        .mount(&app.sidecar)
        .await;
    let answer = app
        .call(
            json!({"appId": "backend", "method": "savestate", "payload": {"key": "k", "data": 1}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(answer.body, json!({"moved": true}));
}

#[tokio::test]
async fn forwards_over_http_invocation_and_returns_the_targets_answer_unchanged() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/invoke/backend/method/savestate"))
        .and(has_header("content-type", "application/json"))
        .and(body_string(r#"{"key":"mykey","data":"123"}"#))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("ETag", "\"1\"")
                .set_body_json(json!({"key": "mykey", "etag": "1"})),
        )
        .expect(1)
        .mount(&app.sidecar)
        .await;
    let answer = app
        .call(json!({"appId": "backend", "method": "savestate", "httpMethod": "POST", "payload": "{\"key\":\"mykey\",\"data\":\"123\"}"}))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, json!({"key": "mykey", "etag": "1"}));

    // The target's own errors pass through as they are.
    Mock::given(method("GET"))
        .and(path("/v1.0/invoke/backend/method/state/missing"))
        .respond_with(ResponseTemplate::new(404).set_body_raw(
            r#"{"status":404,"detail":"no value"}"#,
            "application/problem+json",
        ))
        .mount(&app.sidecar)
        .await;
    let answer = app
        .call(json!({"appId": "backend", "method": "state/missing", "httpMethod": "GET"}))
        .await;
    assert_eq!(
        (answer.status, answer.content_type.as_str()),
        (StatusCode::NOT_FOUND, "application/problem+json")
    );
    assert_eq!(answer.body["detail"], "no value");
}

#[tokio::test]
async fn only_allowlisted_targets_are_invoked() {
    let app = spawn_app().await;
    for (app_id, method) in [
        ("backend", "admin"),
        ("payments", "charge"),
        ("frontend", "call"),
    ] {
        let answer = app.call(json!({"appId": app_id, "method": method})).await;
        assert_problem(
            &answer,
            StatusCode::FORBIDDEN,
            "not on this frontend's allowlist",
        );
    }
    assert!(app.sidecar.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_input_gets_a_specific_status_and_problem() {
    let app = spawn_app().await;
    assert_problem(
        &app.call(json!({"appId": "backend", "method": "../v1.0/secrets"}))
            .await,
        StatusCode::BAD_REQUEST,
        "segments",
    );
    assert_problem(
        &app.call(json!({"method": "savestate"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "missing field `appId`",
    );
    assert_problem(
        &app.call(json!({"appId": 1, "method": "savestate"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid type",
    );
    assert_problem(
        &app.call(json!({"appId": "backend", "method": "savestate", "httpMethod": "HEAD"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "httpMethod",
    );
    assert!(app.sidecar.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn dapr_failures_become_problems_that_name_the_target() {
    let app = spawn_app().await;
    Mock::given(path("/v1.0/invoke/backend/method/savestate"))
        .respond_with(ResponseTemplate::new(500).set_body_json(
            json!({"errorCode": "ERR_DIRECT_INVOKE", "message": "connection refused"}),
        ))
        .mount(&app.sidecar)
        .await;
    let answer = app
        .call(json!({"appId": "backend", "method": "savestate", "payload": {}}))
        .await;
    assert_problem(&answer, StatusCode::BAD_GATEWAY, "backend/savestate");
    assert_eq!(answer.body["errorCode"], "ERR_DIRECT_INVOKE");

    Mock::given(path("/v1.0/invoke/backend/method/state/k"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"errorCode": "ERR_DIRECT_INVOKE", "message": "access control policy has denied access"})))
        .mount(&app.sidecar)
        .await;
    let answer = app
        .call(json!({"appId": "backend", "method": "state/k", "httpMethod": "GET"}))
        .await;
    assert_problem(&answer, StatusCode::FORBIDDEN, "access control");
}

#[tokio::test]
async fn a_bare_200_from_the_sidecar_is_not_taken_as_the_targets_answer() {
    let app = spawn_app().await;
    // What daprd 1.16 answers when an invocation ends without the target's answer.
    Mock::given(path("/v1.0/invoke/backend/method/savestate"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&app.sidecar)
        .await;
    let answer = app
        .call(json!({"appId": "backend", "method": "savestate", "payload": {}}))
        .await;
    assert_problem(&answer, StatusCode::BAD_GATEWAY, "not confirmed");
    assert_eq!(answer.body["target"], "backend/savestate");

    // An empty answer that says what it is, or a 204, is the target's and passes unchanged.
    Mock::given(path("/v1.0/invoke/backend/method/state/k"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&app.sidecar)
        .await;
    let answer = app
        .call(json!({"appId": "backend", "method": "state/k", "httpMethod": "DELETE"}))
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_slow_sidecar_is_504_and_an_absent_one_502() {
    let app = spawn_app().await;
    Mock::given(path("/v1.0/invoke/backend/method/savestate"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&app.sidecar)
        .await;
    let answer = app
        .call(json!({"appId": "backend", "method": "savestate", "payload": {}}))
        .await;
    assert_problem(&answer, StatusCode::GATEWAY_TIMEOUT, "backend/savestate");

    let nobody = service_kit::testing::absent_sidecar(Duration::from_secs(1));
    let router = app_with(nobody);
    let request = Request::post("/call")
        .body(Body::from(r#"{"appId":"backend","method":"savestate"}"#))
        .unwrap();
    let answer = answer_of(router.oneshot(request).await.unwrap()).await;
    assert_problem(
        &answer,
        StatusCode::BAD_GATEWAY,
        "could not be reached while invoking backend/savestate",
    );
}

fn app_with(sidecar: SidecarClient) -> axum::Router {
    app(
        CallState {
            sidecar,
            allowlist: Arc::new(Allowlist::DEFAULT.parse().unwrap()),
        },
        None,
        Arc::new(Authenticator::Off),
    )
}
