//! The frontend: `POST /call` forwards `{"appId","method","httpMethod","payload"}` to another
//! app over Dapr service invocation. A request flows through `startup` (the router) →
//! `routes` (the handler) → `invocation` (what a valid request is) → `allowlist` (whether it
//! may be made) → the sidecar's `/v1.0/invoke` API.

pub mod allowlist;
pub mod configuration;
pub mod invocation;
pub mod routes;
pub mod startup;
