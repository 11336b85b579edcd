//! Runs the pair the way it runs on a laptop, on real Dapr: Sentry (the CA that gives each
//! sidecar its mTLS identity, which the backend's access control checks), then the backend and
//! its daprd, then the frontend and its daprd, each with the project's own component and
//! configuration files. `cargo xtask run-local`, the benchmark and every end-to-end test use
//! this one launcher.
//!
//! - [`topology`]: a whole run, in order, and its stop;
//! - [`service`]: one app with its daprd; [`sentry`]: the CA;
//! - [`identity_provider`], [`cosmos`]: the local peers (npm packages under `oidc/` and
//!   `cosmos/` beside this crate), started when a run asks for them;
//! - [`proxy`]: nginx in front of the frontend's replicas, and the session login's way in for
//!   API clients to their sidecars, as AKS's Gateway is;
//! - [`image`]: an app started from the container image's root filesystem;
//! - [`rollout`]: every replica replaced as Kubernetes does it, [`name_resolution`] the file
//!   the sidecars find each other in;
//! - [`process`]: a child with its log, stopped with SIGTERM, killed with its parent;
//!   [`wait`]: bounded readiness polling; [`configurations`]: the run's Dapr Configurations;
//!   [`paths`], [`ports`], [`secrets`]: where things are, free ports, made-up tokens.

pub mod configurations;
pub mod cosmos;
pub mod identity_provider;
pub mod image;
pub mod name_resolution;
pub mod npm;
pub mod paths;
pub mod ports;
pub mod process;
pub mod proxy;
pub mod rollout;
pub mod secrets;
pub mod sentry;
pub mod service;
pub mod topology;
pub mod wait;

pub use cosmos::{CosmosAuth, CosmosServer};
pub use identity_provider::IdentityProvider;
pub use image::ImageRoot;
pub use ports::free_port;
pub use process::ManagedProcess;
pub use rollout::RolloutOptions;
pub use service::{Login, Role, Service};
pub use topology::{StateStore, Topology, TopologyOptions};
