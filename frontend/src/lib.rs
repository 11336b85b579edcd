//! The frontend: `POST /call` forwards `{"appId","method","httpMethod","payload"}` to another
//! app over Dapr service invocation. A request flows through `startup` (the router) →
//! `routes` (the handler) → `invocation` (what a valid request is) → `allowlist` (whether it
//! may be made) → the sidecar's `/v1.0/invoke` API. Before any of that, `auth` finds out who is
//! calling; `page` serves the small browser page at `GET /`.

pub mod allowlist;
pub mod auth;
pub mod configuration;
pub mod invocation;
pub mod page;
pub mod routes;
pub mod startup;
