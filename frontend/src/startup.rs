//! Building the frontend: bind first (so port 0 works and the port is known before serving),
//! then serve until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use service_kit::SidecarClient;
use service_kit::server::{ServeError, serve, with_common_routes};
use service_kit::settings::Secret;
use tokio::net::TcpListener;

use crate::configuration::Config;
use crate::routes::{self, CallState};

pub struct Application {
    listener: TcpListener,
    router: Router,
    sidecar: SidecarClient,
    config: Config,
}

impl Application {
    pub async fn build(config: Config) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.service.listen_address()).await?;
        let sidecar = SidecarClient::from_settings(&config.service).map_err(std::io::Error::other)?;
        let state = CallState { sidecar: sidecar.clone(), allowlist: Arc::new(config.call_allowlist.clone()) };
        let router = app(state, config.service.enforced_app_token().cloned());
        Ok(Self { listener, router, sidecar, config })
    }

    pub fn address(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServeError> {
        tracing::info!(
            address = %self.address(),
            sidecar = self.sidecar.base_url(),
            app_token = self.config.service.enforced_app_token().is_some(),
            "frontend listening"
        );
        serve(self.listener, self.router, self.sidecar, self.config.service.sidecar_wait(), shutdown).await
    }
}

/// The whole frontend as a router, for serving and for `oneshot` tests.
pub fn app(state: CallState, app_token: Option<Secret>) -> Router {
    let sidecar = state.sidecar.clone();
    with_common_routes(routes::router(state), &sidecar, app_token)
}
