//! What a sign-in keeps: the attempt, in the browser's sealed cookie while it is at the provider
//! ([`super::attempt_cookie`]), and the session, in the store once it is back, under a keyed
//! hash of the cookie's id ([`super::keys::SessionKeys::record_key`]). The session holds
//! tokens, which is why the store encrypts it at rest (Dapr's `primaryEncryptionKey`).

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One sign-in in progress, sealed in the cookie `__Host-signin-<state>`.
#[derive(Serialize, Deserialize, Clone)]
pub struct LoginAttempt {
    pub pkce_verifier: String,
    pub nonce: String,
    /// A local path (checked by [`super::return_path`]) to send the browser to afterwards.
    pub return_to: String,
}

/// One signed-in browser, saved under `session-<HMAC of the id>`.
#[derive(Serialize, Deserialize, Clone)]
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

/// What is secret in a record prints as this (docs/security.md: tokens never reach a log).
const REDACTED: &str = "[redacted]";

impl std::fmt::Debug for LoginAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginAttempt")
            .field("pkce_verifier", &REDACTED)
            .field("nonce", &REDACTED)
            .field("return_to", &self.return_to)
            .finish()
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("subject", &self.subject)
            .field("name", &self.name)
            .field("access_token", &REDACTED)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| REDACTED),
            )
            .field("expires_at", &self.expires_at)
            .field("id_token", &REDACTED)
            .field("created_at", &self.created_at)
            .field("refreshing_until", &self.refreshing_until)
            .field("refresh_claim", &self.refresh_claim)
            .finish()
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_print_no_secret() {
        let attempt = LoginAttempt {
            pkce_verifier: "verifier-secret".into(),
            nonce: "nonce-secret".into(),
            return_to: "/page".into(),
        };
        let session = Session {
            subject: "ada".into(),
            name: Some("Ada".into()),
            access_token: "access-secret".into(),
            refresh_token: Some("refresh-secret".into()),
            expires_at: 1,
            id_token: "id-secret".into(),
            created_at: 0,
            refreshing_until: 0,
            refresh_claim: String::new(),
        };
        let printed = format!("{attempt:?} {session:?} {attempt:#?} {session:#?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(
            printed.contains("/page") && printed.contains("ada"),
            "{printed}"
        );
    }
}
