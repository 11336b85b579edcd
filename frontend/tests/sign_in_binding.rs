//! The callback is bound to the browser that started the sign-in (RFC 6749 §10.12): without
//! that browser's attempt cookie for its `state` it signs nobody in, whatever the code. On the
//! router itself; the real provider, daprd and Chromium are in tests/login_binding.rs.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use frontend::auth::session::attempt_cookie;
use frontend::auth::session::keys::SessionKeys;
use frontend::auth::session::records::LoginAttempt;
use support::SESSION_KEY as KEY;
use tower::ServiceExt;

/// The frontend with the session login (support::router): the issuer and the sidecar are
/// unreachable, so a callback that gets past the browser check fails at the provider (503),
/// and one that does not is refused before it (400).
fn router() -> axum::Router {
    support::router("session")
}

const OTHER_KEY: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

fn state(letter: char) -> String {
    letter.to_string().repeat(43)
}

fn attempt_cookie(key: &str, state: &str) -> String {
    let keys = SessionKeys::from_hex(key).unwrap();
    let attempt = LoginAttempt {
        pkce_verifier: "v".repeat(43),
        nonce: "n".repeat(43),
        return_to: "/".to_owned(),
    };
    attempt_cookie::make(&keys.attempts, state, attempt).unwrap()
}

/// `GET /auth/callback` for `state` with these cookies: the status, the body, the Set-Cookies.
async fn callback(state: &str, cookies: &[String]) -> (StatusCode, String, Vec<String>) {
    let mut request = Request::get(format!("/auth/callback?state={state}&code=the-code"));
    if !cookies.is_empty() {
        request = request.header(header::COOKIE, cookies.join("; "));
    }
    let response = router()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let set_cookies = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        String::from_utf8_lossy(&body).into_owned(),
        set_cookies,
    )
}

#[tokio::test]
async fn a_callback_without_its_browsers_attempt_signs_nobody_in() {
    let a = state('A');
    let refusals = [
        ("no cookie", vec![]),
        (
            "another state's cookie",
            vec![attempt_cookie(KEY, &state('B'))],
        ),
        (
            "another state's value under this state's name",
            vec![attempt_cookie(KEY, &state('B')).replace(&state('B'), &a)],
        ),
        (
            "sealed with another key",
            vec![attempt_cookie(OTHER_KEY, &a)],
        ),
        (
            "not sealed at all",
            vec![format!("{}{a}=eyJhdHRlbXB0Ijp7fX0", attempt_cookie::PREFIX)],
        ),
    ];
    for (what, cookies) in refusals {
        let (status, body, set_cookies) = callback(&a, &cookies).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert!(
            body.contains("not started in this browser"),
            "{what}: {body}"
        );
        assert!(
            !set_cookies.iter().any(|c| c.starts_with("__Host-session=")),
            "{what}: {set_cookies:?}"
        );
        // Its attempt cookie, if any, is cleared.
        assert!(
            set_cookies.iter().any(
                |c| c.starts_with(&format!("{}{a}=;", attempt_cookie::PREFIX))
                    && c.contains("Max-Age=0")
            ),
            "{what}: {set_cookies:?}"
        );
    }
    // With its own attempt it gets as far as the provider (unreachable here: 503).
    let (status, body, set_cookies) = callback(&a, &[attempt_cookie(KEY, &a)]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("identity provider"), "{body}");
    assert!(
        !set_cookies.iter().any(|c| c.starts_with("__Host-session=")),
        "{set_cookies:?}"
    );
}
