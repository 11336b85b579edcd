//! The backend: `POST /savestate`, `GET /state/{key}` and `DELETE /state/{key}`, stored through
//! the Dapr state API. A request flows through `startup` (the router) → `routes` (parsing and
//! answers) → `key` (what a valid key is) → `state_store` (the Dapr state API).

pub mod configuration;
pub mod key;
pub mod routes;
pub mod startup;
pub mod state_store;
