//! What the frontend and the backend have in common. Each module does one thing:
//!
//! - [`problem`]: the one error body every endpoint answers with (RFC 9457).
//! - [`json`]: reading a JSON request body, with a specific problem for each way it can be wrong.
//! - [`if_match`]: the `If-Match` header, taken alone.
//! - [`settings`]: the command-line/environment settings both services take.
//! - [`sidecar`]: the HTTP client for the Dapr sidecar next to the app.
//! - [`app_token`]: only the sidecar may call the app (Dapr's `APP_API_TOKEN`).
//! - [`health`]: `/healthz` (the process is alive) and `/readyz` (the sidecar answers).
//! - [`telemetry`]: logs and their JSON lines, traces (OpenTelemetry, W3C trace context) and
//!   their sampling, per request a span, its metrics and one log line, and the Prometheus
//!   metrics on a port of their own.
//! - [`server`]: serving a router until shutdown, after waiting for the sidecar.
//! - [`shutdown`]: the signals, and the delay that lets traffic move away before the drain.
//! - [`connections`]: each connection's bounds (header, idle and request timeouts, a cap on
//!   open connections, a bounded drain, the `Host` check).
//! - [`description`]: what a service says of itself to the deploy checks (`dapr-pair describe`).
//! - `testing` (feature `testing`): helpers for the services' tests.

pub mod app_token;
pub mod connections;
pub mod description;
pub mod health;
pub mod if_match;
pub mod json;
pub mod problem;
pub mod server;
pub mod settings;
pub mod shutdown;
pub mod sidecar;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use problem::Problem;
pub use sidecar::SidecarClient;
