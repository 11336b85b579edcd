//! The frontend's sidecar in the login topology (issue 21, §4): a client without the frontend
//! app's own credential (the sidecar's `dapr-api-token`) tries every API on both of its daprd's
//! ports, and reaches nothing; through the front door it reaches the bearer-gated invocation of
//! the frontend app, and nothing else. The app, with its credential, still uses both.

use std::collections::HashMap;

use crate::support::TestPair;
use dapr::dapr::proto::common::v1::{InvokeRequest, StateItem};
use dapr::dapr::proto::runtime::v1::dapr_client::DaprClient;
use dapr::dapr::proto::runtime::v1::{
    GetMetadataRequest, GetStateRequest, InvokeServiceRequest, SaveStateRequest,
};
use launcher::{Login, TopologyOptions};
use reqwest::Method;
use serde_json::json;
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

/// The frontend's sessions (components/session/sessionstore.yaml).
const SESSION_STORE: &str = "sessionstore";

fn forged_save() -> serde_json::Value {
    json!({"key": "exposure", "data": "forged"})
}

/// Each HTTP API of daprd, as a client without the credential would call it.
fn http_attempts(sidecar: &str) -> Vec<(&'static str, Method, String, Option<serde_json::Value>)> {
    let save = forged_save();
    vec![
        (
            "invoke the backend",
            Method::POST,
            format!("{sidecar}/v1.0/invoke/backend/method/savestate"),
            Some(save.clone()),
        ),
        (
            "invoke the frontend (no bearer token)",
            Method::POST,
            format!("{sidecar}/v1.0/invoke/frontend/method/call"),
            Some(json!({"appId": "backend", "method": "savestate", "payload": save})),
        ),
        (
            "read a session",
            Method::GET,
            format!("{sidecar}/v1.0/state/{SESSION_STORE}/session-x"),
            None,
        ),
        (
            "write a session",
            Method::POST,
            format!("{sidecar}/v1.0/state/{SESSION_STORE}"),
            Some(json!([{"key": "session-x", "value": {"subject": "mallory"}}])),
        ),
        (
            "metadata",
            Method::GET,
            format!("{sidecar}/v1.0/metadata"),
            None,
        ),
        (
            "a secret",
            Method::GET,
            format!("{sidecar}/v1.0/secrets/session-secrets/ENCRYPTION_KEY"),
            None,
        ),
        (
            "publish",
            Method::POST,
            format!("{sidecar}/v1.0/publish/pubsub/topic"),
            Some(json!({})),
        ),
        (
            "a binding",
            Method::POST,
            format!("{sidecar}/v1.0/bindings/binding"),
            Some(json!({"operation": "create"})),
        ),
        (
            "shutdown",
            Method::POST,
            format!("{sidecar}/v1.0/shutdown"),
            None,
        ),
    ]
}

/// A gRPC client of the daprd at `port`, sending `token` as `dapr-api-token` if any.
fn grpc_request<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("dapr-api-token", MetadataValue::try_from(token).unwrap());
    }
    request
}

async fn grpc_client(port: u16) -> DaprClient<Channel> {
    let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .expect("the frontend's daprd's gRPC API");
    DaprClient::new(channel)
}

/// What each gRPC API answered a client sending `token`: `Ok(())` or the status code.
async fn grpc_attempts(
    port: u16,
    token: Option<&str>,
) -> Vec<(&'static str, Result<(), tonic::Code>)> {
    let mut client = grpc_client(port).await;
    let code = |result: Result<(), tonic::Status>| result.map_err(|status| status.code());
    let mut answers = Vec::new();
    let read = client
        .get_state(grpc_request(
            GetStateRequest {
                store_name: SESSION_STORE.into(),
                key: "session-x".into(),
                consistency: 0,
                metadata: HashMap::new(),
            },
            token,
        ))
        .await
        .map(drop);
    answers.push(("read a session", code(read)));
    let write = client
        .save_state(grpc_request(
            SaveStateRequest {
                store_name: SESSION_STORE.into(),
                states: vec![StateItem {
                    key: "session-forged".into(),
                    value: br#"{"subject":"mallory","name":"Mallory"}"#.to_vec(),
                    ..StateItem::default()
                }],
            },
            token,
        ))
        .await
        .map(drop);
    answers.push(("write a session", code(write)));
    #[allow(deprecated)]
    let invoke = client
        .invoke_service(grpc_request(
            InvokeServiceRequest {
                id: "backend".into(),
                message: Some(InvokeRequest {
                    method: "savestate".into(),
                    data: None,
                    content_type: "application/json".into(),
                    http_extension: None,
                }),
            },
            token,
        ))
        .await
        .map(drop);
    answers.push(("invoke the backend", code(invoke)));
    let metadata = client
        .get_metadata(grpc_request(GetMetadataRequest {}, token))
        .await
        .map(drop);
    answers.push(("metadata", code(metadata)));
    answers
}

#[tokio::test]
async fn without_the_apps_credential_the_frontends_sidecar_serves_only_the_gated_invocation() {
    let pair = TestPair::spawn_with(TopologyOptions {
        login: Login::Session,
        ..TopologyOptions::default()
    })
    .await;
    let frontend = &pair.topology.frontend;
    let sidecar = frontend.sidecar_url();

    // Every HTTP API at daprd's own port, straight (as a process in the pod, or anyone the
    // network lets in): each is refused before it reaches anything.
    let mut seen = Vec::new();
    for (what, method, url, body) in http_attempts(&sidecar) {
        let mut request = pair.http.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = pair.send(request).await;
        seen.push(format!(
            "HTTP {what}: {} {}",
            answer.status,
            answer.text.trim()
        ));
    }
    // The invocation by header (`dapr-app-id`), on any path, is the same API.
    let by_header = pair
        .send(
            pair.http
                .post(format!("{sidecar}/savestate"))
                .header("dapr-app-id", "backend")
                .json(&forged_save()),
        )
        .await;
    seen.push(format!(
        "HTTP invoke the backend by dapr-app-id: {} {}",
        by_header.status,
        by_header.text.trim()
    ));
    // Both ports: gRPC's every API too.
    for (what, answer) in grpc_attempts(frontend.dapr_grpc_port, None).await {
        seen.push(format!("gRPC {what}: {answer:?}"));
    }
    eprintln!("without the credential:\n  {}", seen.join("\n  "));
    for line in &seen {
        // 401: daprd's API token check, before any route; on gRPC the API allow list comes
        // first (Unimplemented for what the app does not use), then the token.
        let refused = line.contains(": 401 invalid api token")
            || line.contains("Err(Unauthenticated)")
            || line.contains("Err(Unimplemented)");
        assert!(refused, "not refused: {line}\nall:\n{}", seen.join("\n"));
    }
    assert_eq!(pair.dapr_state("exposure").await, None, "nothing was saved");
    // What daprd leaves open without the token (pkg/api/http/middlewares.go): GET of its own
    // health, which says nothing but 204.
    for path in ["/v1.0/healthz", "/v1.0/healthz/outbound"] {
        let health = pair.send(pair.http.get(format!("{sidecar}{path}"))).await;
        assert_eq!((health.status, health.text.as_str()), (204, ""), "{path}");
    }

    // Through the front door: without a bearer token the sidecar's bearer middleware refuses
    // the invocation of the app (daprd's plain-text 401, not the app's problem).
    let door = pair.topology.login_url();
    let at_door = pair
        .send(
            pair.http.post(format!("{door}call")).json(
                &json!({"appId": "backend", "method": "savestate", "payload": forged_save()}),
            ),
        )
        .await;
    assert_eq!(at_door.status, 401, "{}", at_door.text);
    assert_ne!(
        at_door
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap()),
        Some("application/problem+json"),
        "the front door let a request without a bearer token through to the app"
    );
    // Nothing else is behind the front door: not another app by header, not another path.
    let token = pair
        .topology
        .identity_provider
        .as_ref()
        .unwrap()
        .client_credentials_token()
        .await
        .unwrap();
    // Another path is not behind it.
    let elsewhere = pair
        .send(
            pair.http
                .post(door.replace("/invoke/frontend/", "/invoke/backend/") + "savestate")
                .bearer_auth(&token)
                .json(&forged_save()),
        )
        .await;
    assert_eq!(elsewhere.status, 404, "{}", elsewhere.text);
    // A `dapr-app-id` header does not turn the invocation to another app: the frontend app
    // answers (its /call saves through the backend, as asked in the body).
    let by_header = pair
        .send(
            pair.http
                .post(format!("{door}call"))
                .header("dapr-app-id", "backend")
                .bearer_auth(&token)
                .json(&json!({"appId": "backend", "method": "savestate",
                    "payload": {"key": "exposure-door", "data": "through the app"}})),
        )
        .await;
    assert_eq!(by_header.status, 200, "{}", by_header.text);
    assert_eq!(
        pair.dapr_state("exposure-door").await,
        Some(json!("through the app"))
    );
    // Nor does Basic authentication as `dapr-app-id:backend`, daprd's other way to name a target.
    let by_basic = pair
        .send(
            pair.http
                .post(format!("{door}call"))
                .basic_auth("dapr-app-id", Some("backend"))
                .json(&forged_save()),
        )
        .await;
    assert!(
        matches!(by_basic.status, 400 | 401),
        "{} {}",
        by_basic.status,
        by_basic.text
    );
    assert_eq!(pair.dapr_state("exposure").await, None, "nothing was saved");

    // The app's own credential opens what the app uses, and only that: the refusals above are
    // about the credential.
    let credential = frontend
        .dapr_api_token
        .as_deref()
        .expect("the frontend's sidecar asks for the app's credential");
    let with_credential = grpc_attempts(frontend.dapr_grpc_port, Some(credential)).await;
    assert_eq!(
        with_credential[0],
        ("read a session", Ok(())),
        "{with_credential:?}"
    );
    let saved = pair
        .send(
            pair.http
                .post(format!("{sidecar}/v1.0/invoke/backend/method/savestate"))
                .header("dapr-api-token", credential)
                .json(&json!({"key": "exposure-app", "data": "the app's"})),
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.text);
}
