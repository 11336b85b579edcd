//! Who must bring the app token (`dapr-api-token`, what daprd sends the app). With the session
//! login browsers reach the app's port straight from the front door (AKS) and cannot send it:
//! only `/call`, the path API clients reach through the sidecar, needs it. Every other mode
//! needs it on every route but the health probes.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use support::{APP_TOKEN, router};
use tower::ServiceExt;

/// The status and whether the answer is the app token's refusal.
async fn send(router: &axum::Router, method: &str, path: &str, token: bool) -> (StatusCode, bool) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "pair.example.com")
        .header("content-type", "application/json")
        .header("sec-fetch-site", "same-origin");
    if token {
        request = request.header("dapr-api-token", APP_TOKEN);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::from("{}")).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        String::from_utf8_lossy(&body).contains("dapr-api-token"),
    )
}

const BROWSER_ROUTES: [(&str, &str); 6] = [
    ("GET", "/"),
    ("GET", "/page/app.js"),
    ("POST", "/page/call"),
    ("GET", "/auth/login"),
    ("GET", "/auth/callback"),
    ("POST", "/auth/logout"),
];

#[tokio::test]
async fn session_mode_wants_the_app_token_on_call_only() {
    let router = router("session");
    let (status, refused) = send(&router, "POST", "/call", false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        refused,
        "/call without the app token is refused for the token"
    );
    // With it, the bearer check comes next (no bearer token: 401, not for the app token).
    let (status, refused) = send(&router, "POST", "/call", true).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        !refused,
        "/call with the app token reaches the bearer check"
    );
    for (method, path) in BROWSER_ROUTES {
        let (status, refused) = send(&router, method, path, false).await;
        assert!(
            !refused,
            "{method} {path} without the app token is refused for it ({status}): browsers cannot send it"
        );
    }
    // No session: a page load is sent to sign in.
    let (status, _) = send(&router, "GET", "/", false).await;
    assert!(status.is_redirection(), "GET / without a session: {status}");
}

#[tokio::test]
async fn other_modes_want_the_app_token_everywhere_but_the_probes() {
    for mode in ["jwt", "off"] {
        let router = router(mode);
        for (method, path) in [
            ("POST", "/call"),
            ("GET", "/"),
            ("GET", "/page/app.js"),
            ("POST", "/page/call"),
        ] {
            let (status, refused) = send(&router, method, path, false).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{mode}: {method} {path}");
            assert!(
                refused,
                "{mode}: {method} {path} is refused for the app token"
            );
        }
        let (status, _) = send(&router, "GET", "/healthz", false).await;
        assert_eq!(status, StatusCode::OK, "{mode}: /healthz needs no token");
    }
}
