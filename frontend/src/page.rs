//! `GET /`: a small page for people who signed in with a browser. It says who they are and
//! saves a key through `/call`, then reads it back. Everything it needs is served from here
//! (no external scripts or fonts), so it works offline and under a strict
//! Content-Security-Policy.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};

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

pub fn router(options: PageOptions) -> Router {
    let csp = match &options.sign_out_to {
        Some(origin) => format!("{CSP} {origin}"),
        None => CSP.to_owned(),
    };
    let csp = HeaderValue::from_str(&csp).unwrap_or(HeaderValue::from_static(CSP));
    let sign_out = options.sign_out_to.is_some();
    let page_csp = csp.clone();
    Router::new()
        .route(
            "/",
            get(move |caller| index(caller, sign_out, page_csp.clone())),
        )
        .route("/page/app.js", get(move || script(csp.clone())))
}

async fn index(caller: Option<Extension<Caller>>, sign_out: bool, csp: HeaderValue) -> Response {
    let who = match &caller {
        Some(Extension(caller)) => caller.display_name(),
        None => "nobody (AUTH_MODE=off)",
    };
    let html = INDEX
        .replace("{{caller}}", &escape_html(who))
        .replace("{{sign-out}}", if sign_out { SIGN_OUT } else { "" });
    with_headers(html, "text/html; charset=utf-8", csp)
}

async fn script(csp: HeaderValue) -> Response {
    with_headers(SCRIPT.to_owned(), "text/javascript; charset=utf-8", csp)
}

fn with_headers(body: String, content_type: &'static str, csp: HeaderValue) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
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

    #[test]
    fn names_are_escaped() {
        assert_eq!(
            escape_html(r#"<script>"x"&'y'</script>"#),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }
}
