//! Who is calling. Behind the sidecar's OAuth2 and bearer middleware the app checks again
//! (defence in depth), in the mode `AUTH_MODE` chooses:
//!
//! - `jwt` (the default): `Authorization: Bearer <JWT>`, validated against the issuer's keys
//!   ([`jwt`], keys from [`jwks`], found through the one [`issuer`] client).
//! - `easyauth`: Azure Container Apps' built-in authentication has signed the user in and
//!   passes who it is in `X-MS-CLIENT-PRINCIPAL*` headers ([`easyauth`]); a bearer token, when
//!   present and an issuer is configured, is validated as in `jwt` mode.
//! - `session`: browsers sign in with the app itself (OpenID Connect code flow), sessions in a
//!   Dapr state store ([`session`]); API clients' bearer JWTs on `/call` as in `jwt`.
//! - `off`: nobody is checked. Only when set explicitly, and it says so in the log at start.
//!
//! The settings ([`settings`]) make the [`Authenticator`] once at start; the middleware
//! ([`middleware`]) asks it about every request, puts the [`Caller`] found into the request's
//! extensions for handlers and its subject and name into the request's log line, or answers
//! with the [`AuthError`] ([`error`]) that says why the request was not let in.

pub mod authenticator;
pub mod caller;
pub mod easyauth;
pub mod error;
pub mod issuer;
pub mod jwks;
pub mod jwt;
pub mod middleware;
pub mod session;
pub mod settings;

pub use authenticator::Authenticator;
pub use caller::Caller;
pub use error::AuthError;
pub use middleware::require_caller;
pub use settings::{AuthMode, AuthSettings};
