//! `POST /call`: check the request, check the allowlist, ask the sidecar to invoke the target,
//! and hand back what the target answered.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;
use service_kit::json::JsonBody;
use service_kit::{Problem, SidecarClient};

use crate::allowlist::Allowlist;
use crate::invocation::{Invocation, InvokeRequest};

#[derive(Clone)]
pub struct CallState {
    pub sidecar: SidecarClient,
    pub allowlist: Arc<Allowlist>,
}

/// `/call` for API clients, and the same handler at `/page/call` for the browser page: behind
/// the login pipeline only browser paths (`/` and `/page/...`) start a login, so an API client
/// without a token gets a 401 from `/call` rather than a redirect to a login page.
pub fn router(state: CallState) -> Router {
    Router::new()
        .route("/call", post(call))
        .route("/page/call", post(call))
        .with_state(state)
}

/// Response headers of the target that are handed back with its body.
const RETURNED_HEADERS: [header::HeaderName; 2] = [header::CONTENT_TYPE, header::ETAG];

async fn call(
    State(state): State<CallState>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<InvokeRequest>,
) -> Result<Response, Problem> {
    let invocation = Invocation::parse(request)?;
    if !state
        .allowlist
        .permits(&invocation.app_id, &invocation.method)
    {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            format!(
                "calling {} is not allowed: it is not on this frontend's allowlist",
                invocation.target()
            ),
        ));
    }

    let mut request = state
        .sidecar
        .request(invocation.verb.clone(), &invocation.sidecar_path());
    if let Some(if_match) = headers.get(header::IF_MATCH) {
        request = request.header(header::IF_MATCH, if_match);
    }
    if let Some((body, content_type)) = &invocation.body {
        request = request
            .header(header::CONTENT_TYPE, *content_type)
            .body(body.clone());
    }
    let answer = state
        .sidecar
        .send(request)
        .await
        .map_err(|error| transport_problem(&error, &invocation, &state.sidecar))?;

    let status = answer.status();
    let mut response = Response::builder().status(status);
    for name in RETURNED_HEADERS {
        if let Some(value) = answer.headers().get(&name) {
            response = response.header(name, value);
        }
    }
    let has_content_type = answer.headers().contains_key(header::CONTENT_TYPE);
    let body = answer
        .bytes()
        .await
        .map_err(|error| transport_problem(&error, &invocation, &state.sidecar))?;
    if let Some(problem) = dapr_error(status, &body, &invocation) {
        return Err(problem);
    }
    if status == StatusCode::OK && body.is_empty() && !has_content_type {
        return Err(unconfirmed(&invocation));
    }
    response.body(Body::from(body)).map_err(|_| {
        Problem::new(
            StatusCode::BAD_GATEWAY,
            "the target's answer could not be passed on",
        )
    })
}

fn transport_problem(
    error: &reqwest::Error,
    invocation: &Invocation,
    sidecar: &SidecarClient,
) -> Problem {
    let target = invocation.target();
    tracing::warn!(callee = %target, %error, "invocation through the sidecar failed");
    if error.is_timeout() {
        Problem::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!("the Dapr sidecar did not answer in time while invoking {target}"),
        )
    } else {
        Problem::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "the Dapr sidecar at {} could not be reached while invoking {target}",
                sidecar.base_url()
            ),
        )
    }
    .with("target", target)
}

/// A bare `200` (no body, no content type) is what daprd 1.16 answers when an invocation ends
/// without the target's answer: the soak test (tests/tests/soak.rs) saw it while the backend
/// was down, for saves that never happened. Passing it on would acknowledge a write that was
/// not made, so it is a 502 instead; a target that means "done, nothing to say" answers 204.
fn unconfirmed(invocation: &Invocation) -> Problem {
    let target = invocation.target();
    tracing::warn!(callee = %target, "the sidecar answered 200 without a body or content type");
    Problem::new(
        StatusCode::BAD_GATEWAY,
        format!(
            "Dapr answered 200 without the target's answer, so the call to {target} is not confirmed"
        ),
    )
    .with("target", target)
}

/// An answer made by Dapr rather than by the target: `{"errorCode": "ERR_...", "message": ...}`.
/// The target's own answers, errors included, are passed on as they are; Dapr's are turned into
/// problems that name the target, with Dapr's message kept for the log.
fn dapr_error(status: StatusCode, body: &[u8], invocation: &Invocation) -> Option<Problem> {
    #[derive(Deserialize)]
    struct DaprError {
        #[serde(rename = "errorCode")]
        code: String,
        #[serde(default)]
        message: String,
    }
    if !(status.is_client_error() || status.is_server_error()) {
        return None;
    }
    let error: DaprError = serde_json::from_slice(body)
        .ok()
        .filter(|e: &DaprError| e.code.starts_with("ERR_"))?;
    let target = invocation.target();
    tracing::warn!(callee = %target, %status, code = %error.code, dapr_message = %error.message, "Dapr could not invoke the target");
    let problem = if status == StatusCode::FORBIDDEN {
        Problem::new(
            StatusCode::FORBIDDEN,
            format!(
                "Dapr access control of app '{}' denied {} {}",
                invocation.app_id, invocation.verb, invocation.method
            ),
        )
    } else {
        Problem::new(
            StatusCode::BAD_GATEWAY,
            format!("Dapr could not invoke {target}: the app or its sidecar is not answering"),
        )
    };
    Some(problem.with("target", target).with("errorCode", error.code))
}
