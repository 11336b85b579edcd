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
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn router() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/page/app.js", get(script))
}

async fn index(caller: Option<Extension<Caller>>) -> Response {
    let who = match &caller {
        Some(Extension(caller)) => caller.display_name(),
        None => "nobody (AUTH_MODE=off)",
    };
    let html = INDEX.replace("{{caller}}", &escape_html(who));
    with_headers(html, "text/html; charset=utf-8")
}

async fn script() -> Response {
    with_headers(SCRIPT.to_owned(), "text/javascript; charset=utf-8")
}

fn with_headers(body: String, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A name comes from the identity provider: it is text, never markup.
fn escape_html(text: &str) -> String {
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
