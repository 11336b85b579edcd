//! Cookie-authenticated writes need protection against cross-site requests: a page elsewhere
//! can make the browser send a form (`application/x-www-form-urlencoded`, `text/plain`,
//! `multipart/form-data`) with `no-cors`, cookie included where SameSite allows. The browser
//! paths' writes (`/page/…`) therefore take JSON only (which a cross-site page cannot send
//! without a CORS preflight this app never answers) and refuse a request the browser says came
//! from another site (`Sec-Fetch-Site`, or, from browsers without it, `Origin`).

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use service_kit::Problem;

/// Middleware for the browser paths: reads pass, writes must be same-origin JSON.
pub async fn browser_writes(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    if let Err(refused) = same_origin(request.headers()) {
        return refused.into_response();
    }
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<mime::Mime>().ok())
        .is_some_and(|mime| mime.essence_str() == mime::APPLICATION_JSON.essence_str());
    if !json {
        return Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the page's requests are application/json; nothing else is accepted on /page/",
        )
        .into_response();
    }
    next.run(request).await
}

/// Refuses a request the browser says is cross-site. `Sec-Fetch-Site` decides when present
/// (`same-origin`, or `none` for what the user typed); else `Origin`, when present, must name
/// the host the request was sent to. Requests with neither are not from a browser that could
/// be tricked into sending them (and SameSite=Lax keeps the cookie off cross-site POSTs).
pub fn same_origin(headers: &HeaderMap) -> Result<(), Problem> {
    let refused = |why: &str| {
        Problem::new(
            StatusCode::FORBIDDEN,
            format!("cross-site request refused: {why}"),
        )
    };
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.to_str().unwrap_or_default() {
            "same-origin" | "none" => Ok(()),
            other => Err(refused(&format!(
                "Sec-Fetch-Site is {:?}",
                service_kit::problem::echo(other)
            ))),
        };
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(refused("its Origin is another site"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    header::HeaderName::from_static(n),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn cross_site_requests_are_refused() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])).is_ok());
        assert!(same_origin(&headers(&[("sec-fetch-site", "cross-site")])).is_err());
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-site")])).is_err());
        assert!(
            same_origin(&headers(&[
                ("origin", "http://127.0.0.1:8080"),
                ("host", "127.0.0.1:8080")
            ]))
            .is_ok()
        );
        assert!(
            same_origin(&headers(&[
                ("origin", "https://evil.example"),
                ("host", "127.0.0.1:8080")
            ]))
            .is_err()
        );
        assert!(same_origin(&headers(&[("origin", "null"), ("host", "a")])).is_err());
        assert!(same_origin(&HeaderMap::new()).is_ok());
    }
}
