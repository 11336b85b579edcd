//! `AUTH_MODE=session`: the browser sign-in in the app (OpenID Connect authorization code flow
//! with PKCE), with sessions in a Dapr state store so that any number of replicas serve any
//! browser, and a restart signs nobody out.
//!
//! - [`routes`]: `GET /auth/login?return=`, `GET /auth/callback`, `POST /auth/logout`;
//! - [`guard`]: the middleware of the browser paths (`/`, `/page/…`): the session of the
//!   request's cookie, its access token refreshed when it expires within a minute;
//! - [`provider`]: the code flow, the refresh, the id_token check (over [`http_client`], the
//!   issuer's client; its endpoints from the app's one discovery, its keys the bearer check's);
//! - [`attempt_cookie`]: a sign-in in progress, sealed in the browser that started it;
//! - [`store`]: sessions ([`records`]) in the `sessionstore` component, under a keyed hash
//!   of their id; [`keys`]: the app's keys for both;
//! - [`cookie`]: the `__Host-session` cookie; [`return_path`]: local paths only;
//!   [`pages`] and [`sign_in_error`]: what a browser sees when a sign-in cannot go on.
//!
//! API clients keep sending bearer JWTs to `/call`, checked as in `AUTH_MODE=jwt`.

pub mod attempt_cookie;
pub mod cookie;
pub mod guard;
pub mod http_client;
pub mod keys;
pub mod pages;
pub mod provider;
pub mod records;
pub mod return_path;
pub mod routes;
pub mod settings;
pub mod sign_in_error;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use oauth2::url::{Host, Url};
use service_kit::settings::ServiceSettings;

use self::keys::SessionKeys;
use self::provider::Provider;
use self::store::SessionStore;
use super::jwks::KeySet;
use super::jwt::JwtValidator;
use super::{AuthSettings, Authenticator};

pub use guard::require_session;
pub use settings::SessionSettings;

/// The settings the session login does not start without, besides the bearer check's
/// ([`super::authenticator::BEARER_SETTINGS`]): [`SessionLogin::from_settings`] takes each
/// name from here, and `dapr-pair describe` tells them to the deploy checks.
pub const REQUIRED_SETTINGS: [&str; 5] = [
    "OIDC_ISSUER",
    "OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET",
    "OIDC_REDIRECT_URL",
    "SESSION_ENCRYPTION_KEY",
];

/// How long a browser may take at the provider before its sign-in attempt is forgotten.
pub const ATTEMPT_TTL: Duration = Duration::from_secs(600);

/// Whether `value` is 32 random bytes in base64url (43 characters), as the session ids and the
/// sign-in's `state` are made (`CsrfToken::new_random_len(32)`): what the session cookie and
/// the attempt cookie's name may hold, so nothing else is taken for one.
pub fn is_random_id(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Everything the sign-in needs, made once at start.
pub struct SessionLogin {
    pub provider: Provider,
    pub store: SessionStore,
    pub keys: SessionKeys,
    pub session_ttl: Duration,
    /// Where the provider sends the browser after signing out: `/` of this site.
    pub after_logout: String,
    /// The provider's origin, which the page's forms may go to (the sign-out redirect).
    pub provider_origin: String,
}

impl SessionLogin {
    /// On the bearer check's issuer: one discovery and one cache of its keys for both.
    pub fn from_settings(
        auth: &AuthSettings,
        service: &ServiceSettings,
        authenticator: &Authenticator,
    ) -> Result<Self, String> {
        let session = &auth.session;
        // One binding per name: a name added to the list does not compile until it is read.
        let [
            issuer_name,
            client_id_name,
            client_secret_name,
            redirect_url_name,
            key_name,
        ] = REQUIRED_SETTINGS;
        let issuer = needed(auth.oidc_issuer.clone(), issuer_name)?;
        let client_id = needed(session.oidc_client_id.clone(), client_id_name)?;
        let client_secret = needed(session.oidc_client_secret.clone(), client_secret_name)?;
        let redirect_url = needed(session.oidc_redirect_url.clone(), redirect_url_name)?;
        let keys = SessionKeys::from_hex(&needed(
            session
                .session_encryption_key
                .as_ref()
                .map(|secret| secret.expose().to_owned()),
            key_name,
        )?)?;
        let after_logout = after_logout_url(&redirect_url)?;
        let provider_origin = Url::parse(&issuer)
            .map(|url| url.origin().ascii_serialization())
            .map_err(|e| format!("OIDC_ISSUER is not a URL: {e}"))?;
        // The id_token is for this client (its `aud`), signed by the issuer.
        let issuer_keys: &Arc<KeySet> = authenticator
            .key_set()
            .filter(|keys| keys.issuer().url() == issuer)
            .ok_or("AUTH_MODE=session signs in at the issuer whose bearer tokens /call takes")?;
        let id_tokens = JwtValidator::new(
            issuer_keys.clone(),
            &client_id,
            &auth.jwt_algorithms,
            auth.jwt_leeway_secs,
        )?;
        let provider = Provider::new(
            issuer_keys.issuer().clone(),
            &client_id,
            client_secret,
            &redirect_url,
            &session.oidc_scopes,
            id_tokens,
        )?;
        let store = SessionStore::new(
            session.dapr_grpc_port,
            service
                .dapr_api_token
                .as_ref()
                .map(|token| token.expose().to_owned()),
            &session.session_store,
            service.sidecar_timeout(),
        )?;
        tracing::info!(
            issuer,
            client_id,
            redirect_url,
            store = session.session_store,
            "AUTH_MODE=session: browsers sign in at the issuer, sessions in the Dapr state store; /call needs a valid bearer token"
        );
        Ok(Self {
            provider,
            store,
            keys,
            session_ttl: session.session_ttl,
            after_logout,
            provider_origin,
        })
    }
}

/// A setting the session login does not start without.
fn needed<T>(value: Option<T>, name: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("AUTH_MODE=session needs {name}"))
}

/// `/` of the site whose callback is `redirect_url`, after checking the callback: the app's
/// own `/auth/callback`, over https, or plain http on a loopback host (a local run), since
/// the session cookie is `Secure`.
fn after_logout_url(redirect_url: &str) -> Result<String, String> {
    let url = Url::parse(redirect_url).map_err(|e| format!("OIDC_REDIRECT_URL: {e}"))?;
    let loopback = match url.host() {
        Some(Host::Domain(name)) => name == "localhost",
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(format!(
                "OIDC_REDIRECT_URL {redirect_url:?} must be https (plain http only on a loopback host)"
            ));
        }
    }
    if url.path() != "/auth/callback" || url.query().is_some() {
        return Err(format!(
            "OIDC_REDIRECT_URL {redirect_url:?} must be this app's /auth/callback, as browsers reach it"
        ));
    }
    Ok(format!("{}/", url.origin().ascii_serialization()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_is_https_or_loopback_http_and_ours() {
        assert_eq!(
            after_logout_url("https://pair.example.com/auth/callback").unwrap(),
            "https://pair.example.com/"
        );
        assert_eq!(
            after_logout_url("http://127.0.0.1:8080/auth/callback").unwrap(),
            "http://127.0.0.1:8080/"
        );
        for bad in [
            "http://pair.example.com/auth/callback",
            "https://pair.example.com/other",
            "https://pair.example.com/auth/callback?x=1",
            "not a url",
        ] {
            assert!(after_logout_url(bad).is_err(), "{bad}");
        }
    }
}
