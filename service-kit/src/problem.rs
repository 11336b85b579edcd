//! Problem details (RFC 9457): every error either service returns is one of these, served as
//! `application/problem+json` with a `detail` that says what was wrong.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

pub const CONTENT_TYPE: &str = "application/problem+json";

/// The most of a detail a problem carries: what a client sent is quoted in details, and a
/// client can send a lot; the rest is cut.
pub const MAX_DETAIL_CHARS: usize = 1024;

/// How much of one thing a client sent (a path, a method, a key id) a detail or a log line
/// quotes: [`echo`] cuts the rest.
pub const MAX_ECHO_CHARS: usize = 100;

/// `text` as a detail or log line quotes it: whole up to [`MAX_ECHO_CHARS`] characters, else
/// its start, `…`, and how long it was.
pub fn echo(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(MAX_ECHO_CHARS) {
        None => text.into(),
        Some((cut, _)) => format!("{}…({} bytes)", &text[..cut], text.len()).into(),
    }
}

fn capped(mut detail: String) -> String {
    if let Some((cut, _)) = detail.char_indices().nth(MAX_DETAIL_CHARS) {
        detail.truncate(cut);
        detail.push('…');
    }
    detail
}

#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub status: StatusCode,
    pub detail: String,
    /// Extension members (RFC 9457 §3.2), e.g. the Dapr error code behind a 502.
    pub extensions: Map<String, Value>,
    /// Seconds the client should wait before trying again: the `Retry-After` header (and the
    /// `retryAfter` member, for callers that get only the body, such as `/call`'s).
    pub retry_after: Option<u32>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: capped(detail.into()),
            extensions: Map::new(),
            retry_after: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    pub fn with(mut self, member: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(member.to_owned(), value.into());
        self
    }

    /// Tells the client to try again after `seconds` (a 503 of a store that is overloaded).
    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self.with("retryAfter", seconds)
    }

    pub fn body(&self) -> Value {
        let mut body = json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let Value::Object(members) = &mut body {
            members.extend(self.extensions.clone());
        }
        body
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body().to_string()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// For routes that do not exist: a problem body instead of axum's empty 404.
pub async fn no_such_route(uri: axum::http::Uri) -> Problem {
    Problem::not_found(format!("there is no endpoint at {}", echo(uri.path())))
}

/// For routes that exist with other methods: a problem body instead of an empty 405.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed on {}",
            echo(method.as_str()),
            echo(uri.path())
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_client_sent_is_quoted_only_so_far() {
        assert_eq!(echo("short"), "short");
        let long = "é".repeat(60_000);
        let quoted = echo(&long);
        assert!(quoted.starts_with(&"é".repeat(MAX_ECHO_CHARS)));
        assert!(quoted.ends_with("…(120000 bytes)"), "{quoted}");
        let problem = Problem::not_found("x".repeat(60_000));
        assert_eq!(problem.detail.chars().count(), MAX_DETAIL_CHARS + 1);
    }

    #[tokio::test]
    async fn an_unknown_path_of_sixty_kilobytes_is_not_echoed_whole() {
        let path = format!("/{}", "p".repeat(60_000));
        let problem = no_such_route(path.parse().unwrap()).await;
        assert!(problem.detail.len() < 200, "{}", problem.detail.len());
        assert!(
            problem.detail.contains("(60001 bytes)"),
            "{}",
            problem.detail
        );
    }

    #[tokio::test]
    async fn serves_problem_json_with_status_title_and_detail() {
        let response = Problem::new(StatusCode::CONFLICT, "the key changed")
            .with("key", "k")
            .into_response();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(response.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            body,
            json!({"type": "about:blank", "title": "Conflict", "status": 409, "detail": "the key changed", "key": "k"})
        );
    }

    #[tokio::test]
    async fn a_problem_to_retry_later_says_when_in_the_header_and_the_body() {
        let response = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "busy")
            .with_retry_after(1)
            .into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["retryAfter"], 1);
    }
}
