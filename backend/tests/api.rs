//! The backend's handlers against a wiremock stand-in for the Dapr sidecar.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use backend::startup::app;
use backend::state_store::{Consistency, StateClient};
use serde_json::{Value, json};
use service_kit::SidecarClient;
use service_kit::settings::Secret;
use test_support::Answer;
use tower::ServiceExt;
use wiremock::matchers::{body_json, header as has_header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

struct TestApp {
    sidecar: MockServer,
    router: axum::Router,
}

async fn spawn_app(app_token: Option<&str>) -> TestApp {
    let sidecar = MockServer::start().await;
    let client = SidecarClient::new(sidecar.uri(), None, Duration::from_secs(2)).unwrap();
    let store = StateClient::new(client.clone(), "statestore".into(), Consistency::Strong);
    let router = app(
        store,
        &client,
        app_token.map(|t| Secret::from(t.to_owned())),
    );
    TestApp { sidecar, router }
}

impl TestApp {
    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let answer = Answer {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        };
        if !answer.text.is_empty() {
            answer.json(); // every answer with a body is JSON
        }
        answer
    }

    async fn save(&self, body: &str) -> Answer {
        let request = Request::post("/savestate").header(header::CONTENT_TYPE, "application/json");
        self.send(request.body(Body::from(body.to_owned())).unwrap())
            .await
    }

    async fn stored_value(&self, key_path: &str, value: &str, etag: &str) {
        Mock::given(method("GET"))
            .and(path(format!("/v1.0/state/statestore/{key_path}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("ETag", etag)
                    .set_body_raw(value, "application/json"),
            )
            .mount(&self.sidecar)
            .await;
    }
}

#[tokio::test]
async fn a_plain_save_is_one_state_call_storing_json_and_claims_no_etag() {
    let app = spawn_app(None).await;
    for (data, expected) in [
        (r#""123""#, json!("123")),
        (r#"{"name":"geert"}"#, json!({"name": "geert"})),
    ] {
        app.sidecar.reset().await;
        Mock::given(method("POST"))
            .and(path("/v1.0/state/statestore"))
            .and(body_json(
                json!([{"key": "mykey", "value": expected, "options": {"consistency": "strong"}}]),
            ))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&app.sidecar)
            .await;

        let answer = app
            .save(&format!(r#"{{"key":"mykey","data":{data}}}"#))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body());
        assert_eq!(answer.body(), json!({"key": "mykey"}));
        assert!(!answer.headers.contains_key(header::ETAG));
        let calls = app.sidecar.received_requests().await.unwrap();
        assert_eq!(calls.len(), 1, "one state operation, no read-back");
    }
}

#[tokio::test]
async fn asked_for_its_etag_a_save_reads_back_the_version_it_wrote() {
    let app = spawn_app(None).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&app.sidecar)
        .await;
    // The store re-serializes JSON: the same value, other text.
    app.stored_value("k", r#"{"n":1,"a":"x"}"#, "7").await;
    let answer = app
        .save(r#"{"key":"k","data":{"a":"x","n":1.0},"returnEtag":true}"#)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body());
    assert_eq!(answer.body(), json!({"key": "k", "etag": "7"}));
    assert_eq!(answer.headers[header::ETAG], "\"7\"");
}

#[tokio::test]
async fn when_another_write_lands_before_the_read_back_no_etag_is_claimed() {
    let app = spawn_app(None).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&app.sidecar)
        .await;
    // Another writer's value is there by the time of the read-back.
    app.stored_value("k", r#"{"n":2}"#, "8").await;
    let answer = app
        .save(r#"{"key":"k","data":{"n":1},"returnEtag":true}"#)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body());
    assert_eq!(answer.body()["etag"], Value::Null);
    assert!(
        answer.body()["etagUnknown"]
            .as_str()
            .unwrap()
            .contains("written again"),
        "{:?}",
        answer.body()
    );
    assert!(!answer.headers.contains_key(header::ETAG));
}

#[tokio::test]
async fn a_stale_etag_is_412_without_writing() {
    let app = spawn_app(None).await;
    app.stored_value("k", "1", "new").await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .expect(0)
        .mount(&app.sidecar)
        .await;
    let request = Request::post("/savestate").header(header::IF_MATCH, "\"old\"");
    let answer = app
        .send(request.body(Body::from(r#"{"key":"k","data":1}"#)).unwrap())
        .await;
    assert_eq!(answer.status, StatusCode::PRECONDITION_FAILED);
    assert!(answer.is_problem());
}

#[tokio::test]
async fn a_version_written_in_between_is_412_from_the_store() {
    let app = spawn_app(None).await;
    app.stored_value("k", "1", "5").await;
    Mock::given(method("POST"))
        .and(body_json(
            json!([{"key": "k", "value": 2, "etag": "5", "options": {"consistency": "strong"}}]),
        ))
        .respond_with(ResponseTemplate::new(409).set_body_json(
            json!({"errorCode": "ERR_STATE_SAVE", "message": "possible etag mismatch"}),
        ))
        .expect(1)
        .mount(&app.sidecar)
        .await;
    let answer = app.save(r#"{"key":"k","data":2,"etag":"5"}"#).await;
    assert_eq!(answer.status, StatusCode::PRECONDITION_FAILED);
    assert!(answer.is_problem());
}

/// Cosmos DB's ETags carry their own quotes: callers see them bare (quoted once in the header),
/// and the store gets its own text back on a conditional write.
#[tokio::test]
async fn quoted_store_etags_are_bare_for_callers_and_verbatim_for_the_store() {
    let app = spawn_app(None).await;
    app.stored_value("k", "1", "\"00000000-0001\"").await;
    let answer = app
        .send(Request::get("/state/k").body(Body::empty()).unwrap())
        .await;
    assert_eq!(answer.headers[header::ETAG], "\"00000000-0001\"");

    // The conditional save reads the version (the store's own text goes back to it), writes,
    // and answers its new version's ETag, read back after the write.
    app.sidecar.reset().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("ETag", "\"00000000-0001\"")
                .set_body_raw("1", "application/json"),
        )
        .up_to_n_times(1)
        .mount(&app.sidecar)
        .await;
    Mock::given(method("POST"))
        .and(body_json(json!([{"key": "k", "value": 2, "etag": "\"00000000-0001\"", "options": {"consistency": "strong"}}])))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&app.sidecar)
        .await;
    app.stored_value("k", "2", "\"00000000-0002\"").await;
    let request = Request::post("/savestate").header(header::IF_MATCH, "\"00000000-0001\"");
    let answer = app
        .send(request.body(Body::from(r#"{"key":"k","data":2}"#)).unwrap())
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body());
    assert_eq!(answer.body()["etag"], "00000000-0002");
    assert_eq!(answer.headers[header::ETAG], "\"00000000-0002\"");
}

#[tokio::test]
async fn bad_input_gets_a_specific_status_and_problem() {
    let app = spawn_app(None).await;
    let cases = [
        (
            r#"{"data":1}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field `key`",
        ),
        (
            r#"{"key":"k"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field `data`",
        ),
        (
            r#"{"key":7,"data":1}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid type",
        ),
        (
            r#"{"key":"k","data":null}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "data is null",
        ),
        (r#"{"key":"","data":1}"#, StatusCode::BAD_REQUEST, "empty"),
        (
            r#"{"key":"a||b","data":1}"#,
            StatusCode::BAD_REQUEST,
            "'||'",
        ),
        (
            r#"{"key":"k","data":"#,
            StatusCode::BAD_REQUEST,
            "not valid JSON",
        ),
    ];
    for (body, status, detail) in cases {
        let answer = app.save(body).await;
        assert_eq!(answer.status, status, "{body}");
        assert!(answer.is_problem(), "{body}");
        assert!(
            answer.body()["detail"].as_str().unwrap().contains(detail),
            "{body}: {:?}",
            answer.body()
        );
    }
    let request = Request::post("/savestate").header(header::CONTENT_TYPE, "text/plain");
    let answer = app.send(request.body(Body::from("x")).unwrap()).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(answer.is_problem());
    assert!(
        app.sidecar.received_requests().await.unwrap().is_empty(),
        "bad input must not reach the store"
    );
}

#[tokio::test]
async fn reading_answers_the_value_with_its_etag_or_404() {
    let app = spawn_app(None).await;
    app.stored_value("a%2Fb%2Bc", r#"{"name":"geert"}"#, "3")
        .await;
    let answer = app
        .send(Request::get("/state/a/b+c").body(Body::empty()).unwrap())
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body(), json!({"name": "geert"}));
    assert_eq!(answer.headers[header::ETAG], "\"3\"");

    let answer = app
        .send(Request::get("/state/%FF%FE").body(Body::empty()).unwrap())
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.is_problem(), "{:?}", answer.body());

    Mock::given(method("GET"))
        .and(path("/v1.0/state/statestore/gone"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&app.sidecar)
        .await;
    let answer = app
        .send(Request::get("/state/gone").body(Body::empty()).unwrap())
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.is_problem());
}

#[tokio::test]
async fn deleting_passes_if_match_on_to_the_store_in_its_own_form() {
    // SQLite's bare ETags and Cosmos DB's quoted ones; callers send either quoted once.
    for store_etag in ["5", "\"5\""] {
        let app = spawn_app(None).await;
        app.stored_value("k", "1", store_etag).await;
        Mock::given(method("DELETE"))
            .and(path("/v1.0/state/statestore/k"))
            .and(has_header("if-match", store_etag))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&app.sidecar)
            .await;
        let request = Request::delete("/state/k").header(header::IF_MATCH, "\"5\"");
        let answer = app.send(request.body(Body::empty()).unwrap()).await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT);
    }
}

#[tokio::test]
async fn an_unreachable_sidecar_is_503_and_dapr_failures_are_502() {
    let app = spawn_app(None).await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"errorCode": "ERR_STATE_GET", "message": "db locked"})),
        )
        .mount(&app.sidecar)
        .await;
    let answer = app
        .send(Request::get("/state/k").body(Body::empty()).unwrap())
        .await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert_eq!(answer.body()["errorCode"], "ERR_STATE_GET");
    assert!(
        !answer.body().to_string().contains("db locked"),
        "internals stay in the log"
    );

    let nobody = service_kit::testing::absent_sidecar(Duration::from_secs(2));
    let router = backend::startup::app(
        StateClient::new(nobody.clone(), "statestore".into(), Consistency::Strong),
        &nobody,
        None,
    );
    let response = router
        .oneshot(Request::get("/state/k").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_store_too_busy_to_write_is_503_with_retry_after() {
    let app = spawn_app(None).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "errorCode": "ERR_STATE_SAVE",
            "message": "failed saving state in state store statestore: database is locked (5) (SQLITE_BUSY)"
        })))
        .mount(&app.sidecar)
        .await;
    let answer = app.save(r#"{"key":"k","data":1}"#).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers[header::RETRY_AFTER], "1");
    assert_eq!(answer.body()["retryAfter"], 1);
    assert!(answer.is_problem());
}

#[tokio::test]
async fn with_an_app_token_only_the_sidecar_gets_in() {
    let app = spawn_app(Some("from-daprd")).await;
    let answer = app
        .send(Request::get("/state/k").body(Body::empty()).unwrap())
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.is_problem());
    app.stored_value("k", "1", "1").await;
    let request = Request::get("/state/k").header("dapr-api-token", "from-daprd");
    let answer = app.send(request.body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, StatusCode::OK);
}
