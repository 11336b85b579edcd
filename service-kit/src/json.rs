//! Reading a JSON request body. Each way a body can be wrong gets its own status and a detail
//! that names the problem: wrong content type 415, too large 413, not JSON 400, too slow to
//! arrive 408, JSON that is not an object, nested too deep, with a number no 64-bit float can
//! hold, or of the wrong shape (missing or wrongly typed field) 422.

pub mod tokens;

use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use bytes::Bytes;
use mime::Mime;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::Problem;
use crate::connections::Deadline;
use crate::problem::echo;

/// The largest request body either service reads. Install it on a router with
/// `axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES)`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How deeply a JSON body may nest objects and arrays: serde_json's own limit when it reads
/// into types, where a body deeper than this fails as if it were not JSON. (What the backend
/// stores nests less: `backend::value::MAX_DEPTH`, 64.)
pub const MAX_DEPTH: usize = 128;

/// Why JSON text that parses is still refused: nested too deep, or a number that is no 64-bit
/// float (beyond ±1.8e308), which neither serde_json's types, nor Go's, nor JavaScript's hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error(
        "is nested more than {max} levels deep (objects and arrays); at most {max} are accepted"
    )]
    TooDeep { max: usize },
    #[error("holds the number {0}, which is out of the range of a 64-bit float (about ±1.8e308)")]
    NumberOutOfRange(String),
}

/// Checks JSON text against [`MAX_DEPTH`] and the range of numbers. Text that is not JSON
/// passes, for the parser to name what is wrong with it.
pub fn check_limits(text: &str) -> Result<(), LimitError> {
    tokens::walk(text, |token, depth| {
        if depth > MAX_DEPTH {
            return Err(LimitError::TooDeep { max: MAX_DEPTH });
        }
        match token {
            tokens::Token::Number(number)
                if number.parse::<f64>().is_ok_and(|value| value.is_infinite()) =>
            {
                Err(LimitError::NumberOutOfRange(echo(number).into_owned()))
            }
            _ => Ok(()),
        }
    })
}

/// A JSON body, like `axum::Json`, but rejected with a [`Problem`].
///
/// Accepted content types: `application/json`, `application/*+json`, none at all, and
/// `application/x-www-form-urlencoded`, because that is what `curl -d` sends by default and the
/// documented curl commands of the original sample use plain `-d`. The body is parsed as JSON in
/// every case; any other content type is a 415.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        check_content_type(req.headers().get(header::CONTENT_TYPE))?;
        // Within the request's deadline (REQUEST_TIMEOUT), where the server set one: a body
        // that trickles in is answered 408, not waited for.
        let deadline = req.extensions().get::<Deadline>().copied();
        let read = Bytes::from_request(req, state);
        let read = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.at, read)
                .await
                .map_err(|_| {
                    Problem::new(
                        StatusCode::REQUEST_TIMEOUT,
                        format!(
                            "the request body did not arrive within {:?} (REQUEST_TIMEOUT)",
                            deadline.timeout
                        ),
                    )
                })?,
            None => read.await,
        };
        let bytes = read.map_err(body_problem)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Problem::bad_request(
                "the request body is empty; expected a JSON object",
            ));
        }
        // serde reads a struct from an array too (its fields in order); only an object is a
        // request.
        let first = bytes.iter().find(|byte| !byte.is_ascii_whitespace());
        if first != Some(&b'{') && serde_json::from_slice::<IgnoredAny>(&bytes).is_ok() {
            return Err(Problem::unprocessable(format!(
                "the request body is JSON {}, not an object",
                kind_of(*first.unwrap_or(&b' '))
            )));
        }
        if let Ok(text) = std::str::from_utf8(&bytes) {
            check_limits(text)
                .map_err(|error| Problem::unprocessable(format!("the request body {error}")))?;
        }
        // Plain serde_json first: tracking the path of every field, which a problem detail
        // needs, costs a request more than the rest of its parsing. A body that fails is read
        // again with the path tracked, for the detail.
        if let Ok(value) = serde_json::from_slice(&bytes) {
            return Ok(JsonBody(value));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_problem(rejection)),
        }
    }
}

/// What a JSON value is, by its first byte.
fn kind_of(first: u8) -> &'static str {
    match first {
        b'[' => "an array",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => "a number",
    }
}

fn check_content_type(value: Option<&axum::http::HeaderValue>) -> Result<(), Problem> {
    let Some(value) = value else { return Ok(()) };
    let text = value.to_str().unwrap_or_default();
    let accepted = text.parse::<Mime>().is_ok_and(|mime| {
        mime.type_() == mime::APPLICATION
            && (mime.subtype() == mime::JSON
                || mime.suffix() == Some(mime::JSON)
                || mime.subtype() == mime::WWW_FORM_URLENCODED)
    });
    if accepted {
        Ok(())
    } else {
        let essence = text.split(';').next().unwrap_or_default().trim();
        Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "expected Content-Type application/json, got {:?}",
                echo(&essence.to_ascii_lowercase())
            ),
        ))
    }
}

fn body_problem(rejection: BytesRejection) -> Problem {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
        )
    } else {
        Problem::bad_request(format!(
            "could not read the request body: {}",
            rejection.body_text()
        ))
    }
}

fn json_problem(rejection: JsonRejection) -> Problem {
    match rejection {
        JsonRejection::JsonDataError(error) => Problem::unprocessable(source_text(&error)),
        JsonRejection::JsonSyntaxError(error) => Problem::bad_request(format!(
            "the request body is not valid JSON: {}",
            source_text(&error)
        )),
        other => Problem::new(other.status(), other.body_text()),
    }
}

/// serde's own message ("missing field `key` at line 1 column 9"), without axum's preamble.
fn source_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    innermost.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::CONTENT_TYPE as PROBLEM;
    use axum::Router;
    use axum::body::Body;
    use axum::extract::DefaultBodyLimit;
    use axum::routing::post;
    use serde::Deserialize;
    use serde_json::Value;
    use tower::ServiceExt;

    #[derive(Deserialize)]
    struct Greeting {
        #[allow(dead_code)]
        name: String,
    }

    fn app() -> Router {
        Router::new()
            .route("/", post(|JsonBody(_): JsonBody<Greeting>| async { "ok" }))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
    }

    async fn send(
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> (StatusCode, Option<Value>) {
        let mut request = Request::post("/");
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let response = app()
            .oneshot(request.body(body.into()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let is_problem = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v == PROBLEM);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            is_problem.then(|| serde_json::from_slice(&bytes).unwrap()),
        )
    }

    fn detail(problem: &Option<Value>) -> &str {
        problem.as_ref().expect("a problem body")["detail"]
            .as_str()
            .unwrap()
    }

    #[tokio::test]
    async fn accepts_json_and_the_content_types_curl_sends() {
        for content_type in [
            Some("application/json"),
            Some("application/json; charset=utf-8"),
            Some("application/merge-patch+json"),
            Some("Application/JSON"),
            Some("application/x-www-form-urlencoded"),
            None,
        ] {
            assert_eq!(
                send(content_type, r#"{"name":"geert"}"#).await.0,
                StatusCode::OK,
                "{content_type:?}"
            );
        }
    }

    #[tokio::test]
    async fn other_content_types_are_415() {
        let (status, problem) = send(Some("text/plain"), r#"{"name":"geert"}"#).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(detail(&problem).contains("text/plain"));
    }

    #[tokio::test]
    async fn malformed_json_is_400() {
        let (status, problem) = send(Some("application/json"), r#"{"name":"#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(detail(&problem).starts_with("the request body is not valid JSON"));
    }

    #[tokio::test]
    async fn an_empty_body_is_400() {
        let (status, problem) = send(Some("application/json"), "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(detail(&problem).contains("empty"));
    }

    #[tokio::test]
    async fn missing_or_wrongly_typed_fields_are_422_and_named() {
        let (status, problem) = send(Some("application/json"), r#"{"nom":"geert"}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            detail(&problem).contains("missing field `name`"),
            "{problem:?}"
        );

        let (status, problem) = send(Some("application/json"), r#"{"name":42}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            detail(&problem).contains("invalid type: integer `42`"),
            "{problem:?}"
        );
    }

    #[tokio::test]
    async fn only_an_object_is_a_request() {
        // serde would read the struct from an array of its fields.
        let (status, problem) = send(Some("application/json"), r#"["geert"]"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            detail(&problem).contains("an array, not an object"),
            "{problem:?}"
        );
        let (status, _) = send(Some("application/json"), "42").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        // Not JSON at all is still 400.
        let (status, _) = send(Some("application/json"), "[").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn a_body_nested_too_deep_or_with_a_number_beyond_a_float_is_422() {
        let deep = format!(
            r#"{{"name":"x","extra":{}{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        let (status, problem) = send(Some("application/json"), deep).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            detail(&problem).contains("nested more than 128 levels"),
            "{problem:?}"
        );

        let within = format!(
            r#"{{"name":"x","extra":{}{}}}"#,
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert_eq!(
            send(Some("application/json"), within).await.0,
            StatusCode::OK
        );

        let (status, problem) =
            send(Some("application/json"), r#"{"name":"x","extra":-1e400}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(detail(&problem).contains("-1e400"), "{problem:?}");
        assert!(detail(&problem).contains("out of the range"), "{problem:?}");
    }

    /// A body that never sends a byte.
    struct Silent;

    impl axum::body::HttpBody for Silent {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            std::task::Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_body_that_does_not_arrive_by_the_deadline_is_408() {
        let timeout = std::time::Duration::from_millis(200);
        let mut request = Request::post("/")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::new(Silent))
            .unwrap();
        request.extensions_mut().insert(Deadline {
            at: tokio::time::Instant::now() + timeout,
            timeout,
        });
        let started = std::time::Instant::now();
        let response = app().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_body_over_one_mib_is_413() {
        let body = format!(r#"{{"name":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        let (status, problem) = send(Some("application/json"), body).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(detail(&problem).contains("larger than 1048576 bytes"));
    }
}
