//! What a sign-in keeps: the attempt, in the browser's sealed cookie while it is at the provider
//! ([`super::attempt_cookie`]), and the session, in the store once it is back, under a keyed
//! hash of the cookie's id ([`super::keys::SessionKeys::record_key`]). The session holds
//! tokens, which is why the store encrypts it at rest (Dapr's `primaryEncryptionKey`).

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One sign-in in progress, sealed in the cookie `__Host-signin-<state>`.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct LoginAttempt {
    pub pkce_verifier: String,
    pub nonce: String,
    /// A local path (checked by [`super::return_path`]) to send the browser to afterwards.
    pub return_to: String,
}

/// One signed-in browser, saved under `session-<HMAC of the id>`.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Session {
    pub subject: String,
    pub name: Option<String>,
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// When the access token expires, in seconds since the Unix epoch.
    pub expires_at: u64,
    /// For the provider's end-session endpoint (`id_token_hint`).
    pub id_token: String,
    /// When the session began; it ends `SESSION_TTL` later at the latest.
    pub created_at: u64,
    /// While a request refreshes the tokens, until when (seconds since the epoch) it holds
    /// the right to: the provider rotates refresh tokens, and a second refresh with the old
    /// one would make it revoke the whole grant. 0: nobody is refreshing.
    #[serde(default)]
    pub refreshing_until: u64,
    /// Which request holds that right (a random id of its own).
    #[serde(default)]
    pub refresh_claim: String,
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}
