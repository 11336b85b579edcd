//! The frontend in `jwt` mode against a wiremock issuer (discovery and key set): which tokens
//! get in, what the 401s say, and how often the key set is fetched.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use clap::Parser;
use frontend::allowlist::Allowlist;
use frontend::auth::{AuthSettings, Authenticator};
use frontend::routes::CallState;
use frontend::startup::app;
use serde_json::{Value, json};
use service_kit::SidecarClient;
use test_support::tokens::{self, SigningKey};
use tower::ServiceExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const AUDIENCE: &str = "dapr-pair-api";

#[derive(Parser)]
struct Settings {
    #[command(flatten)]
    auth: AuthSettings,
}

struct TestApp {
    issuer: MockServer,
    sidecar: MockServer,
    router: axum::Router,
    key: SigningKey,
}

/// The frontend for tokens of `issuer`, calling this sidecar.
fn router_for(issuer: &str, sidecar: &MockServer, settings: &[&str]) -> axum::Router {
    let settings = Settings::parse_from(
        [
            "frontend",
            "--oidc-issuer",
            issuer,
            "--oidc-audience",
            AUDIENCE,
        ]
        .iter()
        .chain(settings),
    );
    let authenticator = Authenticator::from_settings(&settings.auth).unwrap();
    let client = SidecarClient::new(sidecar.uri(), None, Duration::from_secs(2)).unwrap();
    app(
        CallState {
            sidecar: client,
            allowlist: Arc::new(Allowlist::DEFAULT.parse().unwrap()),
        },
        None,
        Arc::new(authenticator),
        None,
    )
}

impl TestApp {
    /// The frontend with an issuer whose key set holds `key`, fetched again at most once a minute.
    async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// The same with more settings (`--auth-mode easyauth`, `--jwks-min-refresh-secs 2`).
    async fn spawn_with(settings: &[&str]) -> Self {
        let issuer = MockServer::start().await;
        let key = SigningKey::generate("key-1");
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": issuer.uri(),
                "jwks_uri": format!("{}/jwks", issuer.uri()),
            })))
            .mount(&issuer)
            .await;
        let sidecar = MockServer::start().await;
        let router = router_for(&issuer.uri(), &sidecar, settings);
        Self {
            issuer,
            sidecar,
            router,
            key,
        }
    }

    async fn serve_keys(&self, keys: &[&SigningKey], expected_fetches: impl Into<wiremock::Times>) {
        Mock::given(method("GET"))
            .and(path("/jwks"))
            .respond_with(ResponseTemplate::new(200).set_body_json(tokens::key_set(keys)))
            .expect(expected_fetches)
            .mount(&self.issuer)
            .await;
    }

    fn claims(&self, lifetime_secs: i64) -> Value {
        tokens::claims(&self.issuer.uri(), AUDIENCE, "ada", lifetime_secs)
    }

    async fn get_page(&self, token: Option<&str>) -> (StatusCode, String, Option<String>) {
        self.get_page_with(token, &[]).await
    }

    async fn get_page_with(
        &self,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, String, Option<String>) {
        let mut request = Request::get("/");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap(), challenge)
    }

    /// Asserts a 401 problem whose detail contains `detail` and does not echo the token.
    async fn assert_refused(&self, token: Option<&str>, detail: &str) {
        let (status, body, challenge) = self.get_page(token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(challenge.unwrap().starts_with("Bearer"));
        let problem: Value = serde_json::from_str(&body).unwrap();
        let found = problem["detail"].as_str().unwrap();
        assert!(found.contains(detail), "expected {detail:?} in {found:?}");
        if let Some(token) = token {
            assert!(!body.contains(token), "the token was echoed: {body}");
        }
    }
}

#[tokio::test]
async fn a_valid_token_gets_in_and_the_page_names_the_caller() {
    let app = TestApp::spawn().await;
    app.serve_keys(&[&app.key], 1).await;
    let token = app.key.sign(&app.claims(300));
    let (status, body, _) = app.get_page(Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("Signed in as <strong>Test ada</strong>"),
        "{body}"
    );
    // The key set is cached: a second request does not fetch it again (expect(1) above).
    assert_eq!(app.get_page(Some(&token)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn each_kind_of_bad_token_gets_a_401_that_says_what_was_wrong() {
    let app = TestApp::spawn().await;
    app.serve_keys(&[&app.key], 1..=2).await;
    let issuer = app.issuer.uri();
    let stranger = SigningKey::generate("not-the-issuers");
    let good = app.key.sign(&app.claims(300));

    app.assert_refused(None, "missing bearer token").await;
    app.assert_refused(Some(&app.key.sign(&app.claims(-600))), "expired")
        .await;
    app.assert_refused(
        Some(
            &app.key
                .sign(&tokens::claims(&issuer, "another-api", "ada", 300)),
        ),
        "another audience",
    )
    .await;
    app.assert_refused(
        Some(
            &app.key
                .sign(&tokens::claims("http://evil.example", AUDIENCE, "ada", 300)),
        ),
        "another issuer",
    )
    .await;
    app.assert_refused(
        Some(&stranger.sign(&app.claims(300))),
        "not one of the issuer's keys",
    )
    .await;
    app.assert_refused(Some(&tokens::tampered(&good)), "signature is not valid")
        .await;
    app.assert_refused(
        Some(&tokens::unsigned(&app.claims(300), "key-1")),
        "not a well-formed JWT",
    )
    .await;
    app.assert_refused(Some("not.a.jwt"), "not a well-formed JWT")
        .await;
}

#[tokio::test]
async fn each_listed_algorithm_gets_in_with_a_key_of_its_own_family() {
    // JWT_ALGORITHMS=RS256,ES256 (documented as valid) with an issuer that has one key of each.
    let app = TestApp::spawn_with(&["--jwt-algorithms", "RS256,ES256"]).await;
    let ec = SigningKey::generate_es256("key-ec");
    app.serve_keys(&[&app.key, &ec], 1).await;
    for key in [&app.key, &ec] {
        let (status, body, _) = app.get_page(Some(&key.sign(&app.claims(300)))).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", key.kid);
    }
    // An ES256 token where only RS256 is listed is still refused before any key is used.
    let rs256_only = TestApp::spawn().await;
    let ec = SigningKey::generate_es256("key-ec");
    rs256_only.serve_keys(&[&ec], 0).await;
    rs256_only
        .assert_refused(Some(&ec.sign(&rs256_only.claims(300))), "ES256")
        .await;
}

#[tokio::test]
async fn a_token_issued_in_the_future_is_refused() {
    let app = TestApp::spawn().await;
    app.serve_keys(&[&app.key], 1).await;
    // Beyond the leeway (30 s): refused, as daprd's bearer check refuses it.
    let mut claims = app.claims(3600);
    claims["iat"] = json!(tokens::now() + 600);
    app.assert_refused(Some(&app.key.sign(&claims)), "issued in the future")
        .await;
    // Within the leeway: a clock a little ahead is fine.
    claims["iat"] = json!(tokens::now() + 10);
    let (status, body, _) = app.get_page(Some(&app.key.sign(&claims))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_key_id_of_sixty_kilobytes_is_not_echoed_whole() {
    let app = TestApp::spawn().await;
    app.serve_keys(&[&app.key], 1).await;
    let huge_kid = SigningKey::generate(&"k".repeat(60_000));
    let (status, body, _) = app.get_page(Some(&huge_kid.sign(&app.claims(300)))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("not one of the issuer's keys"), "{body}");
    assert!(body.len() < 1024, "a {}-byte 401", body.len());
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_keys_at_most_once_per_interval() {
    let app = TestApp::spawn_with(&["--jwks-min-refresh-secs", "2"]).await;
    // Keys are made up front: making one can take longer than the interval on a busy machine.
    let rotated = SigningKey::generate("key-2");
    let made_up = [
        SigningKey::generate("made-up-1"),
        SigningKey::generate("made-up-2"),
    ];
    // The issuer's first key set has only key-1; later ones (after a rotation) key-2 as well.
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(tokens::key_set(&[&app.key])))
        .up_to_n_times(1)
        .expect(1)
        .mount(&app.issuer)
        .await;
    app.serve_keys(&[&app.key, &rotated], 1).await;

    assert_eq!(
        app.get_page(Some(&app.key.sign(&app.claims(300)))).await.0,
        StatusCode::OK
    );
    // A token with the new key right after the first fetch: too soon to fetch again.
    let with_new_key = rotated.sign(&app.claims(300));
    app.assert_refused(Some(&with_new_key), "not one of the issuer's keys")
        .await;
    // Once the interval has passed, the unknown kid makes the app fetch the keys again.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(app.get_page(Some(&with_new_key)).await.0, StatusCode::OK);
    // Made-up kids right after that are refused without a fetch (the expect counts above).
    for other in &made_up {
        app.assert_refused(
            Some(&other.sign(&app.claims(300))),
            "not one of the issuer's keys",
        )
        .await;
    }
}

#[tokio::test]
async fn the_callers_token_stays_with_the_frontend() {
    let app = TestApp::spawn().await;
    app.serve_keys(&[&app.key], 1).await;
    let token = app.key.sign(&app.claims(300));
    Mock::given(method("POST"))
        .and(path("/v1.0/invoke/backend/method/savestate"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"key": "k"})))
        .expect(1)
        .mount(&app.sidecar)
        .await;
    let request = Request::post("/call")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"appId": "backend", "method": "savestate", "payload": {"key": "k", "data": 1}})
                .to_string(),
        ))
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The backend has no use for the user's token: it is not passed on.
    let received = app.sidecar.received_requests().await.unwrap();
    assert!(received[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn health_probes_need_no_token() {
    let app = TestApp::spawn().await;
    let response = app
        .router
        .clone()
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_issuer_whose_keys_cannot_be_fetched_is_a_503_not_a_401() {
    // No key set is served: the issuer answers 404 for it.
    let app = TestApp::spawn().await;
    let token = app.key.sign(&app.claims(300));
    // Every request, not only the one that tried the fetch: the requests after it, within the
    // refetch interval, must not become 401s for a key "not one of the issuer's".
    for attempt in 1..=3 {
        let (status, body, _) = app.get_page(Some(&token)).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "request {attempt}: {body}"
        );
        assert!(body.contains("keys could not be fetched"), "{body}");
    }
}

#[tokio::test]
async fn an_unreachable_issuer_is_a_503_that_says_so_on_every_request() {
    let sidecar = MockServer::start().await;
    // Nothing listens on port 1.
    let router = router_for("http://127.0.0.1:1", &sidecar, &[]);
    let key = SigningKey::generate("key-1");
    let token = key.sign(&tokens::claims("http://127.0.0.1:1", AUDIENCE, "ada", 300));
    for attempt in 1..=3 {
        let request = Request::get("/")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .unwrap();
        let body = String::from_utf8_lossy(&body);
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "request {attempt}: {body}"
        );
        assert!(body.contains("the issuer is unreachable"), "{body}");
        // Its address is for the log, not for the caller.
        assert!(!body.contains("127.0.0.1"), "{body}");
    }
}

#[tokio::test]
async fn easyauth_takes_the_caller_from_the_principal_headers_and_checks_a_bearer_token() {
    use base64::Engine;
    let app = TestApp::spawn_with(&["--auth-mode", "easyauth"]).await;
    app.serve_keys(&[&app.key], 1).await;
    let principal = base64::engine::general_purpose::STANDARD
        .encode(r#"{"auth_typ":"aad","claims":[{"typ":"name","val":"Grace Hopper"}]}"#);
    let signed_in = [
        ("x-ms-client-principal", principal.as_str()),
        ("x-ms-client-principal-id", "oid-grace"),
    ];

    let (status, body, _) = app.get_page_with(None, &signed_in).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("Signed in as <strong>Grace Hopper</strong>"),
        "{body}"
    );

    app.assert_refused(None, "X-MS-CLIENT-PRINCIPAL headers are missing")
        .await;
    // A bearer token, when there is one, is checked even with the headers present.
    let expired = app.key.sign(&app.claims(-600));
    let (status, body, _) = app.get_page_with(Some(&expired), &signed_in).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body, _) = app.get_page(Some(&app.key.sign(&app.claims(300)))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Test ada"), "{body}");
}

/// On Container Apps only the ingress strips and sets the principal headers; another app of
/// the environment invoking `frontend` through Dapr could send any it likes. A request that
/// came through a sidecar (it carries `dapr-caller-app-id` or the sidecar's `dapr-api-token`)
/// is never signed in by them; a bearer token still is.
#[tokio::test]
async fn easyauth_does_not_trust_principal_headers_that_came_through_dapr() {
    use base64::Engine;
    let app = TestApp::spawn_with(&["--auth-mode", "easyauth"]).await;
    app.serve_keys(&[&app.key], 1).await;
    let principal = base64::engine::general_purpose::STANDARD
        .encode(r#"{"auth_typ":"aad","claims":[{"typ":"name","val":"Grace Hopper"}]}"#);
    for through_dapr in [
        ("dapr-caller-app-id", "intruder"),
        ("dapr-api-token", "whatever-the-sidecar-sends"),
    ] {
        let forged = [
            ("x-ms-client-principal", principal.as_str()),
            ("x-ms-client-principal-id", "oid-grace"),
            through_dapr,
        ];
        let (status, body, challenge) = app.get_page_with(None, &forged).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{through_dapr:?}: {body}");
        assert!(challenge.unwrap().starts_with("Bearer"));
        assert!(body.contains("through Dapr"), "{body}");

        let token = app.key.sign(&app.claims(300));
        let (status, body, _) = app.get_page_with(Some(&token), &[through_dapr]).await;
        assert_eq!(status, StatusCode::OK, "{through_dapr:?}: {body}");
    }
}
