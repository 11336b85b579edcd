//! Every way `POST /call` can fail, as one type: each variant is answered with its status and a
//! problem body (axum's `IntoResponse`, as in axum's error-handling example), and the ones that
//! are Dapr's or the sidecar's business are also logged, with what the caller is not told.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use reqwest::Method;
use service_kit::Problem;
use service_kit::json::LimitError;

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("appId {0:?} is not a Dapr app id (letters, digits, '-', '_' and '.', at most 128)")]
    InvalidAppId(String),

    /// `why` ends the sentence that names the method, e.g. "is empty".
    #[error("method {method:?} {why}")]
    InvalidMethod { method: String, why: &'static str },

    #[error("httpMethod {0:?} is not one of GET, POST, PUT, PATCH, DELETE")]
    UnknownHttpMethod(String),

    #[error("payload is not a valid string: {0}")]
    InvalidPayload(serde_json::Error),

    /// A payload given as JSON text that no JSON payload could be.
    #[error("payload {0}")]
    PayloadOverLimits(LimitError),

    /// `why` ends the sentence, e.g. "holds bytes that are not visible ASCII".
    #[error("the If-Match header {0}")]
    InvalidIfMatch(&'static str),

    #[error("calling {target} is not allowed: it is not on this frontend's allowlist")]
    NotAllowlisted { target: String },

    #[error("the Dapr sidecar did not answer in time while invoking {target}")]
    SidecarTimedOut {
        target: String,
        error: reqwest::Error,
    },

    /// The sidecar's address is for the log, not for the caller.
    #[error("the Dapr sidecar could not be reached while invoking {target}")]
    SidecarUnreachable {
        target: String,
        sidecar: String,
        error: reqwest::Error,
    },

    /// Dapr's access control at the target refused the call (a 403 with a Dapr error code).
    #[error("Dapr access control of app '{app_id}' denied {verb} {method}")]
    DeniedByDapr {
        target: String,
        app_id: String,
        verb: Method,
        method: String,
        dapr: Box<DaprError>,
    },

    /// Dapr answered with an error of its own rather than the target's answer.
    #[error("Dapr could not invoke {target}: the app or its sidecar is not answering")]
    DaprFailed {
        target: String,
        dapr: Box<DaprError>,
    },

    /// Dapr (Go's HTTP server in daprd) refused the request with a plain-text error of its own,
    /// e.g. `400 Bad Request` for a path it could not read: the frontend should have refused
    /// such a request first, so it is the frontend's failure, not the caller's.
    #[error("Dapr refused the request to invoke {target} ({status})")]
    DaprRefused {
        target: String,
        status: StatusCode,
        text: String,
    },

    /// A bare `200` (no body, no content type) is what daprd 1.16 answers when an invocation
    /// ends without the target's answer: the soak test (tests/soak.rs) saw it while the backend
    /// was down, for saves that never happened. Passing it on would acknowledge a write that was
    /// not made, so it is a 502 instead; a target that means "done, nothing to say" answers 204.
    #[error(
        "Dapr answered 200 without the target's answer, so the call to {target} is not confirmed"
    )]
    Unconfirmed { target: String },

    #[error("the target's answer could not be passed on")]
    AnswerNotPassedOn,
}

/// An error Dapr answered in place of the target: `{"errorCode": "ERR_...", "message": ...}`,
/// with the status it came with. Its message is for the log, not for the caller. Boxed in
/// [`CallError`], so that every `Result` on the way to an answer stays small.
#[derive(Debug)]
pub struct DaprError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl CallError {
    /// What the caller is told.
    pub fn problem(&self) -> Problem {
        use CallError::*;
        let status = match self {
            InvalidAppId(_) | InvalidMethod { .. } | InvalidIfMatch(_) => StatusCode::BAD_REQUEST,
            UnknownHttpMethod(_) | InvalidPayload(_) | PayloadOverLimits(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            NotAllowlisted { .. } | DeniedByDapr { .. } => StatusCode::FORBIDDEN,
            SidecarTimedOut { .. } => StatusCode::GATEWAY_TIMEOUT,
            SidecarUnreachable { .. }
            | DaprFailed { .. }
            | DaprRefused { .. }
            | Unconfirmed { .. }
            | AnswerNotPassedOn => StatusCode::BAD_GATEWAY,
        };
        let problem = Problem::new(status, self.to_string());
        match self {
            SidecarTimedOut { target, .. }
            | SidecarUnreachable { target, .. }
            | DaprRefused { target, .. }
            | Unconfirmed { target } => problem.with("target", target.as_str()),
            DeniedByDapr { target, dapr, .. } | DaprFailed { target, dapr } => problem
                .with("target", target.as_str())
                .with("errorCode", dapr.code.as_str()),
            InvalidAppId(_)
            | InvalidMethod { .. }
            | UnknownHttpMethod(_)
            | InvalidPayload(_)
            | PayloadOverLimits(_)
            | InvalidIfMatch(_)
            | NotAllowlisted { .. }
            | AnswerNotPassedOn => problem,
        }
    }

    /// The failures that are not the caller's doing go to the log, with the sidecar's error or
    /// Dapr's message.
    fn log(&self) {
        use CallError::*;
        match self {
            SidecarTimedOut { target, error } => {
                tracing::warn!(callee = %target, %error, "invocation through the sidecar failed");
            }
            SidecarUnreachable {
                target,
                sidecar,
                error,
            } => {
                tracing::warn!(callee = %target, %sidecar, %error, "invocation through the sidecar failed");
            }
            DeniedByDapr { target, dapr, .. } | DaprFailed { target, dapr } => {
                tracing::warn!(callee = %target, status = %dapr.status, code = %dapr.code, dapr_message = %dapr.message, "Dapr could not invoke the target");
            }
            DaprRefused {
                target,
                status,
                text,
            } => {
                tracing::warn!(callee = %target, %status, dapr_message = %text, "Dapr refused the request to invoke the target");
            }
            Unconfirmed { target } => {
                tracing::warn!(callee = %target, "the sidecar answered 200 without a body or content type");
            }
            InvalidAppId(_)
            | InvalidMethod { .. }
            | UnknownHttpMethod(_)
            | InvalidPayload(_)
            | PayloadOverLimits(_)
            | InvalidIfMatch(_)
            | NotAllowlisted { .. }
            | AnswerNotPassedOn => {}
        }
    }
}

impl IntoResponse for CallError {
    fn into_response(self) -> Response {
        self.log();
        self.problem().into_response()
    }
}
