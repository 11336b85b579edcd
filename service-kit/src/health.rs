//! `/healthz` says the process is alive (for liveness probes); `/readyz` says whether the app
//! can do its work, which it cannot while its sidecar does not answer (for readiness probes).
//! Neither needs the app token: probes come from the platform, not through the sidecar.
//! A stopping app is not ready either (see [`crate::shutdown`]): [`crate::server::Application`]
//! puts its [`Draining`] on every request; a router served without one is never draining.

use axum::Extension;
use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::description::Route;
use crate::shutdown::Draining;
use crate::{Problem, SidecarClient};

pub const LIVENESS: &str = "/healthz";
pub const READINESS: &str = "/readyz";
/// The probes' routes, as [`crate::description`] tells them.
pub const ROUTES: &[Route] = &[
    Route {
        path: LIVENESS,
        methods: &[Method::GET],
    },
    Route {
        path: READINESS,
        methods: &[Method::GET],
    },
];

pub fn routes(sidecar: SidecarClient) -> Router {
    Router::new()
        .route(LIVENESS, get(alive))
        .route(READINESS, get(ready))
        .with_state(sidecar)
}

async fn alive() -> Response {
    axum::Json(json!({"status": "alive"})).into_response()
}

async fn ready(
    State(sidecar): State<SidecarClient>,
    draining: Option<Extension<Draining>>,
) -> Response {
    if draining.is_some_and(|Extension(draining)| draining.is_draining()) {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the app is shutting down: it still answers what reaches it, but takes no new traffic",
        )
        .into_response()
    } else if sidecar.is_ready().await {
        axum::Json(json!({"status": "ready"})).into_response()
    } else {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the Dapr sidecar is not answering",
        )
        .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use std::time::Duration;
    use tower::ServiceExt;
    use wiremock::matchers::path;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    async fn readyz(sidecar: SidecarClient) -> StatusCode {
        let request = Request::get("/readyz").body(Body::empty()).unwrap();
        routes(sidecar).oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn ready_only_while_the_sidecar_answers() {
        let sidecar = MockServer::start().await;
        let client = SidecarClient::new(sidecar.uri(), None, Duration::from_secs(1)).unwrap();
        Mock::given(path("/v1.0/healthz/outbound"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&sidecar)
            .await;
        assert_eq!(readyz(client.clone()).await, StatusCode::OK);

        sidecar.reset().await;
        Mock::given(path("/v1.0/healthz/outbound"))
            .respond_with(ResponseTemplate::new(500))
            .mount(&sidecar)
            .await;
        assert_eq!(
            readyz(client.clone()).await,
            StatusCode::SERVICE_UNAVAILABLE
        );

        // Not the dropped mock's port: a mock server of a parallel test may take it over.
        let absent = crate::testing::absent_sidecar(Duration::from_secs(1));
        assert_eq!(readyz(absent).await, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn not_ready_once_draining_though_the_sidecar_answers() {
        let sidecar = MockServer::start().await;
        Mock::given(path("/v1.0/healthz/outbound"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&sidecar)
            .await;
        let client = SidecarClient::new(sidecar.uri(), None, Duration::from_secs(1)).unwrap();
        let draining = Draining::default();
        let app = routes(client).layer(Extension(draining.clone()));
        let probe = |path: &'static str| {
            let app = app.clone();
            async move {
                let request = Request::get(path).body(Body::empty()).unwrap();
                app.oneshot(request).await.unwrap().status()
            }
        };
        assert_eq!(probe("/readyz").await, StatusCode::OK);
        draining.start();
        assert_eq!(probe("/readyz").await, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(probe("/healthz").await, StatusCode::OK, "still alive");
    }
}
