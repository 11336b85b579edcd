//! The issuer's signing keys: found through its OpenID discovery document ([`Issuer`]), kept in
//! memory, and
//! fetched again when a token names a key id not seen yet (the issuer rotated its keys), at
//! most once per `min_refresh` so made-up key ids cannot turn into a flood of fetches. Until a
//! failed fetch is retried, every token whose key is not cached gets that failure (a 503),
//! not "unknown key" (a 401 that would send clients to log in again for nothing).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::Jwk;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::AuthError;
use super::issuer::{Issuer, IssuerError};

pub struct KeySet {
    issuer: Arc<Issuer>,
    min_refresh: Duration,
    /// Read by every request; replaced whole after a fetch.
    keys: RwLock<HashMap<String, Arc<DecodingKey>>>,
    /// Held while fetching, so requests with unknown key ids wait for one fetch; requests with
    /// known ones never wait.
    fetch: Mutex<FetchState>,
}

#[derive(Default)]
struct FetchState {
    fetched_at: Option<Instant>,
    /// Why the last fetch failed, if it did.
    failure: Option<AuthError>,
}

impl KeySet {
    pub fn new(issuer: Arc<Issuer>, min_refresh: Duration) -> Self {
        Self {
            issuer,
            min_refresh,
            keys: RwLock::default(),
            fetch: Mutex::default(),
        }
    }

    pub fn issuer(&self) -> &Arc<Issuer> {
        &self.issuer
    }

    /// The key with this id, fetching the key set first if it is unknown and the last fetch is
    /// old enough.
    pub async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, AuthError> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let mut state = self.fetch.lock().await;
        // Another request may have fetched the key set while this one waited.
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        if state
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.min_refresh)
        {
            // Counted as a fetch even when it fails, so a down issuer is not asked on every
            // request.
            state.fetched_at = Some(Instant::now());
            match self.fetch_keys().await {
                Ok(keys) => {
                    state.failure = None;
                    *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
                }
                Err(error) => state.failure = Some(error),
            }
        }
        if let Some(failure) = &state.failure {
            return Err(failure.clone());
        }
        self.cached(kid)
            .ok_or_else(|| AuthError::UnknownKey(service_kit::problem::echo(kid).into_owned()))
    }

    fn cached(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.get(kid).cloned()
    }

    async fn fetch_keys(&self) -> Result<HashMap<String, Arc<DecodingKey>>, AuthError> {
        let jwks_uri = &self.issuer.discovery().await?.jwks_uri;
        let set: JwkSetJson = self.issuer.get_json(jwks_uri).await?;
        let keys: HashMap<_, _> = set
            .keys
            .into_iter()
            // Keys of kinds this library cannot use (or without a kid) are skipped, not fatal.
            .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let key = DecodingKey::from_jwk(&jwk).ok()?;
                Some((kid, Arc::new(key)))
            })
            .collect();
        tracing::info!(
            keys = keys.len(),
            jwks_uri = jwks_uri.as_str(),
            "fetched the issuer's signing keys"
        );
        Ok(keys)
    }
}

#[derive(Deserialize)]
struct JwkSetJson {
    keys: Vec<serde_json::Value>,
}

impl From<IssuerError> for AuthError {
    fn from(error: IssuerError) -> Self {
        match error {
            IssuerError::Unreachable(why) => Self::IssuerUnreachable(why),
            IssuerError::BadAnswer(why) => Self::KeysUnavailable(why),
        }
    }
}
