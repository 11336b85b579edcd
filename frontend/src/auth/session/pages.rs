//! What a browser is shown when a sign-in cannot go on: a small HTML page with the status,
//! what happened and a link to start again, never a bare 500 and never a redirect loop.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub fn page(status: StatusCode, message: &str, try_again: bool) -> Response {
    let link = if try_again {
        r#"<p><a id="sign-in" href="/auth/login">Sign in again</a></p>"#
    } else {
        ""
    };
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in</title></head>\n<body><h1>Sign-in</h1><p id=\"problem\">{}</p>{link}</body></html>\n",
        crate::page::escape_html(message)
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
