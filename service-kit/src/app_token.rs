//! Only the app's own sidecar may call it. When `APP_API_TOKEN` is set, daprd sends it on every
//! request to the app as the `dapr-api-token` header (Container Apps sets it up by itself); a
//! request without that header, or with another value, did not come through the sidecar.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::Problem;
use crate::settings::Secret;

pub const HEADER: &str = "dapr-api-token";

/// `routes` with the app token required on each of them, when the app has one.
pub fn with_app_token(routes: Router, token: Option<Secret>) -> Router {
    match token {
        Some(token) => routes.layer(from_fn_with_state(token, require_app_token)),
        None => routes,
    }
}

/// Middleware: `axum::middleware::from_fn_with_state(token, require_app_token)`.
pub async fn require_app_token(
    State(expected): State<Secret>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request.headers().get(HEADER).map(|value| value.as_bytes());
    match presented {
        // Compared in constant time, so the time taken says nothing about the token (a length
        // that differs is refused at once: the length is no secret).
        Some(presented) if bool::from(presented.ct_eq(expected.expose().as_bytes())) => {
            next.run(request).await
        }
        Some(_) => Problem::new(StatusCode::UNAUTHORIZED, "the dapr-api-token header does not match").into_response(),
        None => Problem::new(
            StatusCode::UNAUTHORIZED,
            "missing dapr-api-token header: this app only accepts requests through its Dapr sidecar",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    fn app() -> Router {
        Router::new().route("/", get(|| async { "hello" })).layer(
            axum::middleware::from_fn_with_state(
                Secret::from("right".to_owned()),
                require_app_token,
            ),
        )
    }

    async fn status_with(token: Option<&str>) -> StatusCode {
        let mut request = Request::get("/");
        if let Some(token) = token {
            request = request.header(HEADER, token);
        }
        app()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
    }

    #[tokio::test]
    async fn only_the_matching_token_gets_through() {
        assert_eq!(status_with(Some("right")).await, StatusCode::OK);
        assert_eq!(status_with(Some("wrong")).await, StatusCode::UNAUTHORIZED);
        assert_eq!(status_with(Some("righ")).await, StatusCode::UNAUTHORIZED);
        assert_eq!(status_with(None).await, StatusCode::UNAUTHORIZED);
    }
}
