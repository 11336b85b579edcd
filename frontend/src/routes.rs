//! `POST /call`: check the request, check the allowlist, ask the sidecar to invoke the target,
//! and hand back what the target answered.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;
use service_kit::SidecarClient;
use service_kit::description::Route;
use service_kit::if_match::IfMatch;
use service_kit::json::JsonBody;
use service_kit::problem::echo;

use crate::allowlist::Allowlist;
use crate::call_error::{CallError, DaprError};
use crate::invocation::{Invocation, InvokeRequest};

#[derive(Clone)]
pub struct CallState {
    pub sidecar: SidecarClient,
    pub allowlist: Arc<Allowlist>,
}

/// `/call` and the page's `/page/call`, as `dapr-pair describe` tells them (held to the router
/// by tests/description.rs).
pub const ROUTES: &[Route] = &[
    Route {
        path: "/call",
        methods: &[Method::POST],
    },
    Route {
        path: "/page/call",
        methods: &[Method::POST],
    },
];

/// `/call` for API clients.
pub fn router(state: CallState) -> Router {
    Router::new().route("/call", post(call)).with_state(state)
}

/// The same handler at `/page/call` for the browser page: only browser paths (`/` and
/// `/page/...`) start a login, so an API client without a token gets a 401 from `/call` rather
/// than a redirect to a login page. Its writes are guarded against cross-site requests
/// ([`crate::cross_site`]), which cookie sessions need.
pub fn page_router(state: CallState) -> Router {
    Router::new()
        .route("/page/call", post(call))
        .with_state(state)
}

/// Response headers of the target that are handed back with its body: what it is, its
/// version, where a redirect points, and when to come back.
const RETURNED_HEADERS: [header::HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::ETAG,
    header::LOCATION,
    header::RETRY_AFTER,
];

/// How often a call is sent again when the target's sidecar refused it before it reached the
/// app, and how long to wait first.
const RETRIES_OF_UNSENT: u32 = 3;
const PAUSE_BEFORE_RESENDING: std::time::Duration = std::time::Duration::from_millis(50);

/// The sidecar's answer, read whole.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: bytes::Bytes,
}

/// Whether the target's daprd refused the call because it has not (yet) found its app healthy
/// (daprd 1.16's `ErrAppUnhealthy`): it refuses before sending anything to the app, so sending
/// the call again cannot apply a write twice, and the next lookup may pick another replica. A
/// new replica's daprd is in name resolution a few milliseconds before its first health probe
/// has passed (it registers first; see docs/rollouts.md); during a rollout, calls land there.
fn target_app_not_yet_healthy(answer: &Answer) -> bool {
    answer.status == StatusCode::INTERNAL_SERVER_ERROR
        && std::str::from_utf8(&answer.body).is_ok_and(|text| {
            text.contains("ERR_DIRECT_INVOKE") && text.contains("app is not in a healthy state")
        })
}

/// The longest `If-Match` passed on: a list of a few ETags.
pub const MAX_IF_MATCH_BYTES: usize = 1024;

async fn call(
    State(state): State<CallState>,
    IfMatch(if_match): IfMatch,
    JsonBody(request): JsonBody<InvokeRequest>,
) -> Result<Response, CallError> {
    let invocation = Invocation::parse(request)?;
    if !state
        .allowlist
        .permits(&invocation.app_id, &invocation.method)
    {
        return Err(CallError::NotAllowlisted {
            target: invocation.target(),
        });
    }

    let if_match = check_if_match(if_match)?;
    let unanswered = |error| transport_error(error, &invocation, &state.sidecar);
    let mut refused_unsent = 0;
    let answer = loop {
        let mut request = state
            .sidecar
            .request(invocation.verb.clone(), &invocation.sidecar_path());
        if let Some(if_match) = &if_match {
            request = request.header(header::IF_MATCH, if_match);
        }
        if let Some((body, content_type)) = &invocation.body {
            request = request
                .header(header::CONTENT_TYPE, *content_type)
                .body(body.clone());
        }
        let mut answer = state.sidecar.send(request).await.map_err(unanswered)?;
        let answer = Answer {
            status: answer.status(),
            headers: std::mem::take(answer.headers_mut()),
            body: answer.bytes().await.map_err(unanswered)?,
        };
        if refused_unsent < RETRIES_OF_UNSENT && target_app_not_yet_healthy(&answer) {
            refused_unsent += 1;
            tracing::info!(
                target = %invocation.target(),
                attempt = refused_unsent,
                "sending again: the target's sidecar had not yet found its app healthy"
            );
            tokio::time::sleep(PAUSE_BEFORE_RESENDING).await;
            continue;
        }
        break answer;
    };
    let Answer {
        status,
        headers: answer_headers,
        body,
    } = answer;

    let mut response = Response::builder().status(status);
    for name in RETURNED_HEADERS {
        if let Some(value) = answer_headers.get(&name) {
            response = response.header(name, value);
        }
    }
    let has_content_type = answer_headers.contains_key(header::CONTENT_TYPE);
    if let Some(error) = dapr_error(status, &answer_headers, &body, &invocation) {
        return Err(error);
    }
    if status == StatusCode::OK && body.is_empty() && !has_content_type {
        return Err(CallError::Unconfirmed {
            target: invocation.target(),
        });
    }
    response
        .body(Body::from(body))
        .map_err(|_| CallError::AnswerNotPassedOn)
}

/// The sidecar did not answer: in time, or at all.
fn transport_error(
    error: reqwest::Error,
    invocation: &Invocation,
    sidecar: &SidecarClient,
) -> CallError {
    let target = invocation.target();
    if error.is_timeout() {
        CallError::SidecarTimedOut { target, error }
    } else {
        let sidecar = sidecar.base_url().to_owned();
        CallError::SidecarUnreachable {
            target,
            sidecar,
            error,
        }
    }
}

/// The `If-Match` to pass on, if any: an ETag list is visible ASCII (RFC 9110 §8.8.3), and
/// daprd carries headers over gRPC as UTF-8 text, so other bytes (and a header longer than any
/// list of ETags) are refused here rather than fail there.
fn check_if_match(value: Option<HeaderValue>) -> Result<Option<HeaderValue>, CallError> {
    let Some(value) = value else {
        return Ok(None);
    };
    if value.len() > MAX_IF_MATCH_BYTES {
        return Err(CallError::InvalidIfMatch("is longer than 1024 bytes"));
    }
    if !value
        .as_bytes()
        .iter()
        .all(|&byte| byte == b' ' || byte == b'\t' || byte.is_ascii_graphic())
    {
        return Err(CallError::InvalidIfMatch(
            "holds bytes that are not visible ASCII, which no ETag has",
        ));
    }
    Ok(Some(value))
}

/// An answer made by Dapr rather than by the target. The target's own answers, errors
/// included, are passed on as they are; Dapr's become errors that name the target, with Dapr's
/// message kept for the log. What tells them apart, as daprd 1.16 answers:
///
/// - Dapr's JSON errors are `application/json`, exactly `{"errorCode": "ERR_...", "message":
///   ...}` (and `details`, for some). A target's answer comes with the target's own content
///   type: the backend's problems (`application/problem+json`) carry an `errorCode` too, and
///   are the backend's answer, not Dapr's.
/// - Dapr's plain-text errors are Go's: written by Go's HTTP server for a request it could not
///   read (`400 Bad Request`), before any handler, so without the `Date` header every answer a
///   handler writes has; or by `http.Error` in daprd's API-token check and path unescaping
///   (`X-Content-Type-Options: nosniff`). A target's plain-text error passed on by daprd has a
///   `Date` and whatever headers the target set: one written with Go's `http.Error` looks like
///   daprd's own, and is taken as Dapr's (no target of this project answers in plain text).
fn dapr_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    invocation: &Invocation,
) -> Option<CallError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct DaprBody {
        #[serde(rename = "errorCode")]
        code: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        #[allow(dead_code)]
        details: serde::de::IgnoredAny,
    }
    if !(status.is_client_error() || status.is_server_error()) {
        return None;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<mime::Mime>().ok());
    match content_type.as_ref().map(mime::Mime::essence_str) {
        Some("application/json") => {}
        Some("text/plain") => {
            let written_by_go = !headers.contains_key(header::DATE)
                || headers
                    .get(header::X_CONTENT_TYPE_OPTIONS)
                    .is_some_and(|value| value == "nosniff");
            return written_by_go.then(|| CallError::DaprRefused {
                target: invocation.target(),
                status,
                text: echo(String::from_utf8_lossy(body).trim()).into_owned(),
            });
        }
        _ => return None,
    }
    let DaprBody { code, message, .. } = serde_json::from_slice(body)
        .ok()
        .filter(|e: &DaprBody| e.code.starts_with("ERR_"))?;
    let dapr = Box::new(DaprError {
        status,
        code,
        message,
    });
    let target = invocation.target();
    Some(if status == StatusCode::FORBIDDEN {
        CallError::DeniedByDapr {
            target,
            app_id: invocation.app_id.clone(),
            verb: invocation.verb.clone(),
            method: invocation.method.clone(),
            dapr,
        }
    } else {
        CallError::DaprFailed { target, dapr }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invocation::InvokeRequest;

    fn invocation() -> Invocation {
        let request: InvokeRequest =
            serde_json::from_str(r#"{"appId":"backend","method":"state/k"}"#).unwrap();
        Invocation::parse(request).unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    header::HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn a_plain_text_answer_without_a_date_is_gos_own_refusal() {
        // What daprd 1.16 answers for `/v1.0/invoke/backend/method/state/%zz`.
        let refused = dapr_error(
            StatusCode::BAD_REQUEST,
            &headers(&[
                ("content-type", "text/plain; charset=utf-8"),
                ("connection", "close"),
            ]),
            b"400 Bad Request",
            &invocation(),
        );
        assert!(
            matches!(&refused, Some(CallError::DaprRefused { text, .. }) if text == "400 Bad Request"),
            "{refused:?}"
        );
        // The target's plain text, passed on by daprd with the target's Date.
        let passed_on = dapr_error(
            StatusCode::BAD_REQUEST,
            &headers(&[
                ("content-type", "text/plain"),
                ("date", "Wed, 02 Dec 2026 10:00:00 GMT"),
            ]),
            b"bad",
            &invocation(),
        );
        assert!(passed_on.is_none(), "{passed_on:?}");
    }

    #[test]
    fn only_daprs_own_json_shape_is_daprs() {
        let json = headers(&[("content-type", "application/json")]);
        let dapr = br#"{"errorCode":"ERR_DIRECT_INVOKE","message":"no host"}"#;
        assert!(
            dapr_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json,
                dapr,
                &invocation()
            )
            .is_some()
        );
        let with_details = br#"{"errorCode":"ERR_X","message":"m","details":[{"@type":"t"}]}"#;
        assert!(dapr_error(StatusCode::BAD_REQUEST, &json, with_details, &invocation()).is_some());
        // More members than Dapr's: an app's answer.
        let more = br#"{"errorCode":"ERR_X","message":"m","detail":"mine"}"#;
        assert!(dapr_error(StatusCode::BAD_REQUEST, &json, more, &invocation()).is_none());
        // A problem with an errorCode: the backend's answer.
        let problem = headers(&[("content-type", "application/problem+json")]);
        assert!(dapr_error(StatusCode::BAD_GATEWAY, &problem, dapr, &invocation()).is_none());
        // Not an error status: never Dapr's error.
        assert!(dapr_error(StatusCode::OK, &json, dapr, &invocation()).is_none());
    }
}
