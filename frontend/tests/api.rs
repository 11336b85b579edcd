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
use test_support::Answer;
use test_support::answer::PROBLEM;
use tower::ServiceExt;
use wiremock::matchers::{body_string, header as has_header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

struct TestApp {
    sidecar: MockServer,
    router: axum::Router,
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
        None,
    );
    TestApp { sidecar, router }
}

async fn answer_of(response: axum::response::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
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
    assert_eq!(answer.body(), json!({"moved": true}));
    assert_eq!(
        answer.headers["location"],
        format!("{}/steal", elsewhere.uri()),
        "where it points is passed on"
    );
}

#[tokio::test]
async fn the_targets_retry_after_is_passed_on() {
    let app = spawn_app().await;
    Mock::given(path("/v1.0/invoke/backend/method/savestate"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("Retry-After", "1")
                .set_body_raw(
                    r#"{"status":503,"detail":"busy"}"#,
                    "application/problem+json",
                ),
        )
        .mount(&app.sidecar)
        .await;
    let answer = app
        .call(json!({"appId": "backend", "method": "savestate", "payload": {}}))
        .await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers["retry-after"], "1");
    assert_eq!(answer.body()["detail"], "busy");
}

#[tokio::test]
async fn the_targets_own_problem_with_an_error_code_is_its_answer_not_daprs() {
    let app = spawn_app().await;
    // The backend's answer when its state store fails: a problem naming Dapr's error code.
    let problem = json!({"type": "about:blank", "title": "Bad Gateway", "status": 502, "detail": "the state store failed (ERR_STATE_GET)", "errorCode": "ERR_STATE_GET"});
    Mock::given(path("/v1.0/invoke/backend/method/state/k"))
        .respond_with(
            ResponseTemplate::new(502)
                .insert_header("Date", "Wed, 02 Dec 2026 10:00:00 GMT")
                .set_body_raw(problem.to_string(), "application/problem+json"),
        )
        .mount(&app.sidecar)
        .await;
    let answer = app
        .call(json!({"appId": "backend", "method": "state/k", "httpMethod": "GET"}))
        .await;
    assert_eq!(
        (answer.status, answer.content_type()),
        (StatusCode::BAD_GATEWAY.as_u16(), Some(PROBLEM))
    );
    assert_eq!(answer.body(), problem, "unchanged");
}

#[tokio::test]
async fn daprs_plain_text_errors_become_problems_but_a_targets_plain_text_passes() {
    let app = spawn_app().await;
    // daprd's own http.Error (a wrong token to the sidecar). (Go's server's own answers to
    // requests it cannot read have no Date, which wiremock always sends: see routes.rs' tests.)
    Mock::given(path("/v1.0/invoke/backend/method/state/token"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("Date", "Wed, 02 Dec 2026 10:00:00 GMT")
                .insert_header("X-Content-Type-Options", "nosniff")
                .set_body_raw("invalid api token\n", "text/plain; charset=utf-8"),
        )
        .mount(&app.sidecar)
        .await;
    let answer = app
        .call(json!({"appId": "backend", "method": "state/token", "httpMethod": "GET"}))
        .await;
    answer.assert_problem(
        StatusCode::BAD_GATEWAY,
        "Dapr refused the request to invoke backend/state/token (401 Unauthorized)",
    );
    assert_eq!(answer.body()["target"], "backend/state/token");

    // A target's own plain-text error, as daprd passes it on (with a Date).
    Mock::given(path("/v1.0/invoke/backend/method/state/plain"))
        .respond_with(
            ResponseTemplate::new(404)
                .insert_header("Date", "Wed, 02 Dec 2026 10:00:00 GMT")
                .set_body_raw("no such thing", "text/plain"),
        )
        .mount(&app.sidecar)
        .await;
    let request = Request::post("/call")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"appId": "backend", "method": "state/plain", "httpMethod": "GET"}).to_string(),
        ))
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"no such thing");
}

#[tokio::test]
async fn methods_and_headers_daprd_would_choke_on_are_400_and_never_sent() {
    let app = spawn_app().await;
    for (method, detail) in [
        ("state/%FF", "not a percent-escape of UTF-8"),
        ("state/%zz", "not a percent-escape"),
        ("state/100%", "not a percent-escape"),
        ("state/k?x=%C3", "not a percent-escape of UTF-8"),
        ("state/a%252Fb", "percent-encoded '%'"),
        ("state/a%3Fb", "percent-encoded '%', '?' or '#'"),
        ("state/a%23b", "percent-encoded '%', '?' or '#'"),
    ] {
        let answer = app
            .call(json!({"appId": "backend", "method": method}))
            .await;
        answer.assert_problem(StatusCode::BAD_REQUEST, detail);
    }
    let long = format!("state/{}", "k".repeat(100_000));
    let answer = app.call(json!({"appId": "backend", "method": long})).await;
    answer.assert_problem(StatusCode::BAD_REQUEST, "longer than 2048 bytes");
    let body = answer.body();
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.len() < 300,
        "the method is not echoed whole: {}",
        detail.len()
    );

    let mut request = Request::post("/call")
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::IF_MATCH,
            axum::http::HeaderValue::from_bytes(b"\"\xff\xfe\"").unwrap(),
        )
        .body(Body::from(
            json!({"appId": "backend", "method": "state/k", "httpMethod": "DELETE"}).to_string(),
        ))
        .unwrap();
    let answer = answer_of(app.router.clone().oneshot(request).await.unwrap()).await;
    answer.assert_problem(
        StatusCode::BAD_REQUEST,
        "If-Match header holds bytes that are not visible ASCII",
    );
    request = Request::post("/call")
        .header(header::IF_MATCH, "x".repeat(2000))
        .body(Body::from(
            json!({"appId": "backend", "method": "state/k", "httpMethod": "DELETE"}).to_string(),
        ))
        .unwrap();
    let answer = answer_of(app.router.clone().oneshot(request).await.unwrap()).await;
    answer.assert_problem(StatusCode::BAD_REQUEST, "longer than 1024 bytes");
    assert!(app.sidecar.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_array_or_a_payload_nested_too_deep_is_refused_before_the_sidecar() {
    let app = spawn_app().await;
    let request = Request::post("/call")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"["backend", "savestate"]"#))
        .unwrap();
    let answer = answer_of(app.router.clone().oneshot(request).await.unwrap()).await;
    answer.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "not an object");

    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let request = Request::post("/call")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(format!(
            r#"{{"appId":"backend","method":"savestate","payload":{{"key":"k","data":{deep}}}}}"#
        )))
        .unwrap();
    let answer = answer_of(app.router.clone().oneshot(request).await.unwrap()).await;
    answer.assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "nested more than 128 levels",
    );
    // The same as JSON text in a string payload.
    let deeper = format!(
        r#"{{"key":"k","data":{}{}}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    let answer = app
        .call(json!({"appId": "backend", "method": "savestate", "payload": deeper}))
        .await;
    answer.assert_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "payload is nested more than 128 levels",
    );
    let answer = app
        .call(json!({"appId": "backend", "method": "savestate", "payload": r#"{"key":"k","data":1e400}"#}))
        .await;
    answer.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "1e400");
    assert!(app.sidecar.received_requests().await.unwrap().is_empty());
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
    assert_eq!(answer.body(), json!({"key": "mykey", "etag": "1"}));

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
        (answer.status, answer.content_type()),
        (StatusCode::NOT_FOUND.as_u16(), Some(PROBLEM))
    );
    assert_eq!(answer.body()["detail"], "no value");
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
        answer.assert_problem(StatusCode::FORBIDDEN, "not on this frontend's allowlist");
    }
    assert!(app.sidecar.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_input_gets_a_specific_status_and_problem() {
    let app = spawn_app().await;
    app.call(json!({"appId": "backend", "method": "../v1.0/secrets"}))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "segments");
    app.call(json!({"method": "savestate"}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "missing field `appId`");
    app.call(json!({"appId": 1, "method": "savestate"}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid type");
    app.call(json!({"appId": "backend", "method": "savestate", "httpMethod": "HEAD"}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "httpMethod");
    assert!(app.sidecar.received_requests().await.unwrap().is_empty());
}

/// A target replica whose sidecar has not yet found its app healthy refuses before anything
/// reaches the app: the save is sent again (the next lookup may pick another replica), a few
/// times at most. Any other failure of Dapr is not: it may have reached the app.
#[tokio::test]
async fn a_call_refused_before_it_reached_the_app_is_sent_again_and_only_that_one() {
    let app = spawn_app().await;
    let save = || {
        app.call(
            json!({"appId": "backend", "method": "savestate", "payload": {"key": "k", "data": 1}}),
        )
    };
    let unhealthy = json!({"errorCode": "ERR_DIRECT_INVOKE", "message": "failed to invoke, id: backend, err: rpc error: code = Internal desc = app is not in a healthy state"});
    Mock::given(path("/v1.0/invoke/backend/method/savestate"))
        .respond_with(ResponseTemplate::new(500).set_body_json(unhealthy.clone()))
        .up_to_n_times(2)
        .mount(&app.sidecar)
        .await;
    Mock::given(path("/v1.0/invoke/backend/method/savestate"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"key": "k"})))
        .mount(&app.sidecar)
        .await;
    let answer = save().await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body());
    assert_eq!(app.sidecar.received_requests().await.unwrap().len(), 3);

    // Refused every time: three more tries, then the caller hears of it.
    app.sidecar.reset().await;
    Mock::given(path("/v1.0/invoke/backend/method/savestate"))
        .respond_with(ResponseTemplate::new(500).set_body_json(unhealthy))
        .mount(&app.sidecar)
        .await;
    let answer = save().await;
    answer.assert_problem(StatusCode::BAD_GATEWAY, "backend/savestate");
    assert_eq!(app.sidecar.received_requests().await.unwrap().len(), 4);

    // Another failure (it may have reached the app): sent once.
    app.sidecar.reset().await;
    Mock::given(path("/v1.0/invoke/backend/method/savestate"))
        .respond_with(ResponseTemplate::new(500).set_body_json(
            json!({"errorCode": "ERR_DIRECT_INVOKE", "message": "failed to invoke, id: backend, err: rpc error: code = Internal desc = connection reset"}),
        ))
        .mount(&app.sidecar)
        .await;
    let answer = save().await;
    answer.assert_problem(StatusCode::BAD_GATEWAY, "backend/savestate");
    assert_eq!(app.sidecar.received_requests().await.unwrap().len(), 1);
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
    answer.assert_problem(StatusCode::BAD_GATEWAY, "backend/savestate");
    assert_eq!(answer.body()["errorCode"], "ERR_DIRECT_INVOKE");

    Mock::given(path("/v1.0/invoke/backend/method/state/k"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"errorCode": "ERR_DIRECT_INVOKE", "message": "access control policy has denied access"})))
        .mount(&app.sidecar)
        .await;
    let answer = app
        .call(json!({"appId": "backend", "method": "state/k", "httpMethod": "GET"}))
        .await;
    answer.assert_problem(StatusCode::FORBIDDEN, "access control");
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
    answer.assert_problem(StatusCode::BAD_GATEWAY, "not confirmed");
    assert_eq!(answer.body()["target"], "backend/savestate");

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
    answer.assert_problem(StatusCode::GATEWAY_TIMEOUT, "backend/savestate");

    let nobody = service_kit::testing::absent_sidecar(Duration::from_secs(1));
    let router = app_with(nobody);
    let request = Request::post("/call")
        .body(Body::from(r#"{"appId":"backend","method":"savestate"}"#))
        .unwrap();
    let answer = answer_of(router.oneshot(request).await.unwrap()).await;
    answer.assert_problem(
        StatusCode::BAD_GATEWAY,
        "could not be reached while invoking backend/savestate",
    );
    let body = answer.body().to_string();
    assert!(
        !body.contains("127.0.0.1"),
        "no internal address in a problem: {body}"
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
        None,
    )
}
