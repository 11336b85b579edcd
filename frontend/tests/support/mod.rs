//! The frontend as it starts in each auth mode, for the tests that send it requests.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use frontend::configuration::Config;
use frontend::routes::CallState;
use frontend::startup::{app, authentication};
use service_kit::testing::absent_sidecar;

pub const APP_TOKEN: &str = "the-app-token";
pub const SESSION_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// The frontend in `mode` with an app token; the issuer, the sidecar and its gRPC port are
/// unreachable, so whatever gets as far as asking them fails there.
pub fn router(mode: &str) -> axum::Router {
    let config = Config::parse_from([
        "frontend",
        "--app-api-token",
        APP_TOKEN,
        "--auth-mode",
        mode,
        "--oidc-issuer",
        "http://127.0.0.1:1/issuer",
        "--oidc-audience",
        "api://dapr-pair",
        "--oidc-client-id",
        "dapr-pair",
        "--oidc-client-secret",
        "secret",
        "--oidc-redirect-url",
        "https://pair.example.com/auth/callback",
        "--session-encryption-key",
        SESSION_KEY,
        "--dapr-grpc-port",
        "1",
    ]);
    let (authenticator, login) = authentication(&config).unwrap();
    app(
        CallState {
            sidecar: absent_sidecar(Duration::from_secs(1)),
            allowlist: Arc::new(config.call_allowlist.clone()),
        },
        config.service.enforced_app_token().cloned(),
        Arc::new(authenticator),
        login,
    )
}
