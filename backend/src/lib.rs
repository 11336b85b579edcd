//! The backend: `POST /savestate`, `GET /state/{key}` and `DELETE /state/{key}`, stored through
//! the Dapr state API. A request flows through `startup` (the router) → `routes` (parsing and
//! answers) → `key` (what a valid key is) and `value` (what data reads back as it was saved) →
//! `state_store` (the Dapr state API). `description` is what `dapr-pair describe` tells of it.

pub mod configuration;
pub mod description;
pub mod key;
pub mod routes;
pub mod startup;
pub mod state_store;
pub mod value;

/// Runs the backend with these settings until it is told to stop: the runtime, telemetry, the
/// server and its graceful shutdown. The `backend` binary and the image's `dapr-pair` call this.
pub fn run(config: configuration::Config) -> std::process::ExitCode {
    let service = config.service.clone();
    service_kit::server::main("backend", &service, || startup::build(config))
}
