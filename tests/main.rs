//! The end-to-end tests, one binary: each module starts pairs of its own through the launcher,
//! on real Sentry and daprd with the project's own files, and talks to them over HTTP.
//!
//! - `pair`: `/call` → frontend's daprd → backend's daprd → backend → state store, on SQLite
//!   and on the Cosmos DB protocol server;
//! - `cosmos`: what only Cosmos DB shows (the documents, the protocol beyond one item);
//! - `login`: the identity provider, the sidecar's middleware, the app's token checks, Chromium;
//! - `login_binding`: the session sign-in bound to its browser (login CSRF, two tabs), and
//!   no store write before the provider answers;
//! - `login_replicas`: the session login on two frontend replicas behind nginx, and its refusals;
//! - `traces`: one trace across both apps and both daprd;
//! - `hostile`: a hostile client's requests and connections, each refused with its 4xx problem
//!   or bounded in time, and data that reads back exactly as saved or is refused;
//! - `image`: the pair started from the container image's root filesystem, each app PID 1 of
//!   its own namespace, as the image's user;
//! - `soak`: writers under random kills and restarts;
//! - `rollout`: every replica of both apps and their sidecars replaced under load: no failed
//!   request, no lost write;
//! - `sidecar_exposure`: the frontend's sidecar in the login topology: without the app's own
//!   credential no API on either port, and through the front door only the bearer-gated `/call`;
//! - `concurrency`: 16 clients on one key, on SQLite and on the Cosmos DB protocol server: no
//!   lost update, no double count, and every ETag a save returns is that save's own.

mod support;

mod concurrency;
mod cosmos;
mod hostile;
mod image;
mod login;
mod login_binding;
mod login_replicas;
mod pair;
mod rollout;
mod sidecar_exposure;
mod soak;
mod traces;
