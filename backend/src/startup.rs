//! Building the backend: its router on the shared serving machinery.

use axum::Router;
use service_kit::SidecarClient;
use service_kit::server::{Application, with_common_routes};
use service_kit::settings::Secret;

use crate::configuration::Config;
use crate::routes;
use crate::state_store::StateClient;

pub async fn build(config: Config) -> std::io::Result<Application> {
    tracing::info!(statestore = %config.statestore, consistency = ?config.state_consistency, "backend settings");
    let app_token = config.service.enforced_app_token().cloned();
    Application::build("backend", &config.service, |sidecar| {
        let store = StateClient::new(
            sidecar.clone(),
            config.statestore.clone(),
            config.state_consistency,
        );
        app(store, &sidecar, app_token)
    })
    .await
}

/// The whole backend as a router, for serving and for `oneshot` tests.
pub fn app(store: StateClient, sidecar: &SidecarClient, app_token: Option<Secret>) -> Router {
    with_common_routes(routes::router(store), sidecar, app_token)
}
