//! Building the frontend: its router on the shared serving machinery.

use std::sync::Arc;

use axum::Router;
use service_kit::server::{Application, with_common_routes};
use service_kit::settings::Secret;

use crate::configuration::Config;
use crate::routes::{self, CallState};

pub async fn build(config: Config) -> std::io::Result<Application> {
    let app_token = config.service.enforced_app_token().cloned();
    let allowlist = Arc::new(config.call_allowlist.clone());
    Application::build("frontend", &config.service, |sidecar| {
        app(CallState { sidecar, allowlist }, app_token)
    })
    .await
}

/// The whole frontend as a router, for serving and for `oneshot` tests.
pub fn app(state: CallState, app_token: Option<Secret>) -> Router {
    let sidecar = state.sidecar.clone();
    with_common_routes(routes::router(state), &sidecar, app_token)
}
