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
use service_kit::SidecarClient;
use service_kit::json::JsonBody;

use crate::allowlist::Allowlist;
use crate::call_error::{CallError, DaprError};
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
    let unanswered = |error| transport_error(error, &invocation, &state.sidecar);
    let answer = state.sidecar.send(request).await.map_err(unanswered)?;

    let status = answer.status();
    let mut response = Response::builder().status(status);
    for name in RETURNED_HEADERS {
        if let Some(value) = answer.headers().get(&name) {
            response = response.header(name, value);
        }
    }
    let has_content_type = answer.headers().contains_key(header::CONTENT_TYPE);
    let body = answer.bytes().await.map_err(unanswered)?;
    if let Some(error) = dapr_error(status, &body, &invocation) {
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

/// An answer made by Dapr rather than by the target: `{"errorCode": "ERR_...", "message": ...}`.
/// The target's own answers, errors included, are passed on as they are; Dapr's become errors
/// that name the target, with Dapr's message kept for the log.
fn dapr_error(status: StatusCode, body: &[u8], invocation: &Invocation) -> Option<CallError> {
    #[derive(Deserialize)]
    struct DaprBody {
        #[serde(rename = "errorCode")]
        code: String,
        #[serde(default)]
        message: String,
    }
    if !(status.is_client_error() || status.is_server_error()) {
        return None;
    }
    let DaprBody { code, message } = serde_json::from_slice(body)
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
