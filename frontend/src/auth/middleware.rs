//! The authentication layer in front of every route but the health probes.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use service_kit::telemetry::LoggedCaller;

use super::{Authenticator, Caller};

/// Middleware: `from_fn_with_state(authenticator, require_caller)`. Lets the request in only
/// with a caller (or with authentication off), hands the [`super::Caller`] to the handler and
/// its subject to the request log.
pub async fn require_caller(
    State(authenticator): State<Arc<Authenticator>>,
    request: Request,
    next: Next,
) -> Response {
    match authenticator.authenticate(request.headers()).await {
        Ok(Some(caller)) => run_as(caller, request, next).await,
        Ok(None) => next.run(request).await,
        Err(error) => {
            tracing::info!(%error, "request refused: not authenticated");
            error.into_response()
        }
    }
}

/// Runs the request as `caller`: the handler finds the [`Caller`] in the request's extensions,
/// the request's log line its subject and name (in the response's).
pub(super) async fn run_as(caller: Caller, mut request: Request, next: Next) -> Response {
    let logged = LoggedCaller {
        subject: caller.subject.clone(),
        name: caller.name.clone(),
    };
    request.extensions_mut().insert(caller);
    let mut response = next.run(request).await;
    response.extensions_mut().insert(logged);
    response
}
