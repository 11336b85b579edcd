//! The frontend: `POST /call` forwards `{"appId","method","httpMethod","payload"}` to another
//! app over Dapr service invocation. A request flows through `startup` (the router) →
//! `routes` (the handler) → `invocation` (what a valid request is) → `allowlist` (whether it
//! may be made) → the sidecar's `/v1.0/invoke` API; each way it can fail is a `call_error`.
//! Before any of that, `auth` finds out who is calling; `page` serves the small browser page at
//! `GET /`. `description` is what `dapr-pair describe` tells of it.

pub mod allowlist;
pub mod auth;
pub mod call_error;
pub mod configuration;
pub mod cross_site;
pub mod description;
pub mod invocation;
pub mod page;
pub mod routes;
pub mod startup;

/// Runs the frontend with these settings until it is told to stop: the runtime, telemetry, the
/// server and its graceful shutdown. The `frontend` binary and the image's `dapr-pair` call this.
pub fn run(config: configuration::Config) -> std::process::ExitCode {
    let service = config.service.clone();
    service_kit::server::main("frontend", &service, || startup::build(config))
}
