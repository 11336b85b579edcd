//! What the frontend and the backend have in common. Each module does one thing:
//!
//! - [`problem`]: the one error body every endpoint answers with (RFC 9457).
//! - [`json`]: reading a JSON request body, with a specific problem for each way it can be wrong.
//! - [`settings`]: the command-line/environment settings both services take.
//! - [`sidecar`]: the HTTP client for the Dapr sidecar next to the app.
//! - [`app_token`]: only the sidecar may call the app (Dapr's `APP_API_TOKEN`).
//! - [`health`]: `/healthz` (the process is alive) and `/readyz` (the sidecar answers).
//! - [`telemetry`]: structured logs and their JSON lines (`json_lines`), the tracer, and one span
//!   and one log line per request.
//! - `trace`: the spans (OpenTelemetry, W3C trace context) of requests and of calls to the
//!   sidecar.
//! - [`metrics`]: request count and latency per route, for Prometheus, on a port of its own.
//! - [`server`]: serving a router until shutdown, after waiting for the sidecar.
//! - `testing` (feature `testing`): helpers for the services' tests.

pub mod app_token;
pub mod health;
pub mod json;
mod json_lines;
pub mod metrics;
pub mod problem;
pub mod server;
pub mod settings;
pub mod sidecar;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod trace;

pub use problem::Problem;
pub use sidecar::SidecarClient;
