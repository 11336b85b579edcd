//! Building the frontend: its router on the shared serving machinery.

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use service_kit::server::{Application, with_common_routes};
use service_kit::settings::Secret;

use crate::auth::{Authenticator, require_caller};
use crate::configuration::Config;
use crate::page;
use crate::routes::{self, CallState};

pub async fn build(config: Config) -> std::io::Result<Application> {
    let authenticator =
        Authenticator::from_settings(&config.auth).map_err(std::io::Error::other)?;
    authenticator.log_mode();
    let authenticator = Arc::new(authenticator);
    let app_token = config.service.enforced_app_token().cloned();
    let allowlist = Arc::new(config.call_allowlist.clone());
    Application::build("frontend", &config.service, |sidecar| {
        app(CallState { sidecar, allowlist }, app_token, authenticator)
    })
    .await
}

/// The whole frontend as a router, for serving and for `oneshot` tests. Every route but the
/// health probes needs a caller (unless authentication is off).
pub fn app(
    state: CallState,
    app_token: Option<Secret>,
    authenticator: Arc<Authenticator>,
) -> Router {
    let sidecar = state.sidecar.clone();
    let api = routes::router(state).merge(page::router());
    let api = if authenticator.is_off() {
        api
    } else {
        api.layer(from_fn_with_state(authenticator, require_caller))
    };
    with_common_routes(api, &sidecar, app_token)
}
