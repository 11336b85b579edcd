//! Runs the pair the way it runs on a laptop, on real Dapr: Sentry (the CA that gives each
//! sidecar its mTLS identity, which the backend's access control checks), then the backend and
//! its daprd, then the frontend and its daprd, each with the project's own component and
//! configuration files. `scripts/run-local.sh` and every end-to-end test use this one launcher.

pub mod cosmos;
pub mod dapr;
pub mod echo;
pub mod idp;
pub mod launcher;
pub mod process;
pub mod tokens;

pub use cosmos::{CosmosAuth, CosmosServer};
pub use launcher::{Service, StateStore, Topology, TopologyOptions};
