//! `GET /`: a small page for people who signed in with a browser. It says who they are and
//! saves a key through `/call`, then reads it back. Everything it needs is served from here
//! (no external scripts or fonts), so it works offline and under a strict
//! Content-Security-Policy.

use axum::http::{HeaderValue, Method, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Router};
use service_kit::description::Route;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::auth::Caller;

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
/// Only this app's own script and `fetch` to itself; inline style for the one style block.
/// Forms go to this app, and with the session login also to the provider (the sign-out form's
/// redirect to its end-session endpoint, which `form-action` governs too).
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The sign-out button of the session login: a form, so it works without the script.
const SIGN_OUT: &str = r#"<form id="sign-out" method="post" action="auth/logout"><button type="submit" id="logout">Sign out</button></form>"#;

/// How the page is served: with the session login's sign-out (and the provider's origin its
/// form may be sent on to), or without.
#[derive(Clone, Default)]
pub struct PageOptions {
    pub sign_out_to: Option<String>,
}

/// The page's routes, as `dapr-pair describe` tells them (held to the router by
/// tests/description.rs).
pub const ROUTES: &[Route] = &[
    Route {
        path: "/",
        methods: &[Method::GET],
    },
    Route {
        path: "/page/app.js",
        methods: &[Method::GET],
    },
];

/// The page and its script, each with the security headers: the CSP, `nosniff`, `no-store`.
pub fn router(options: PageOptions) -> Router {
    let csp = match &options.sign_out_to {
        Some(origin) => format!("{CSP} {origin}"),
        None => CSP.to_owned(),
    };
    let csp = HeaderValue::from_str(&csp).unwrap_or(HeaderValue::from_static(CSP));
    let sign_out = options.sign_out_to.is_some();
    Router::new()
        .route("/", get(move |caller| index(caller, sign_out)))
        .route("/page/app.js", get(script))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            csp,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

async fn index(caller: Option<Extension<Caller>>, sign_out: bool) -> impl IntoResponse {
    let who = match &caller {
        Some(Extension(caller)) => caller.display_name(),
        None => "nobody (AUTH_MODE=off)",
    };
    let html = INDEX
        .replace("{{caller}}", &escape_html(who))
        .replace("{{sign-out}}", if sign_out { SIGN_OUT } else { "" });
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html)
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

/// A name comes from the identity provider: it is text, never markup.
pub fn escape_html(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            other => other.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use tower::ServiceExt;

    #[tokio::test]
    async fn the_page_and_its_script_carry_the_security_headers() {
        let options = PageOptions {
            sign_out_to: Some("https://login.example".to_owned()),
        };
        for (path, content_type) in [
            ("/", "text/html; charset=utf-8"),
            ("/page/app.js", "text/javascript; charset=utf-8"),
        ] {
            let request = axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap();
            let response = router(options.clone()).oneshot(request).await.unwrap();
            let headers = response.headers();
            assert_eq!(headers[header::CONTENT_TYPE], content_type, "{path}");
            assert_eq!(
                headers[header::CONTENT_SECURITY_POLICY],
                format!("{CSP} https://login.example").as_str(),
                "{path}"
            );
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
            assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{path}");
        }
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(
            escape_html(r#"<script>"x"&'y'</script>"#),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }
}
