//! The issuer's signing keys: found through its OpenID discovery document, kept in memory, and
//! fetched again when a token names a key id not seen yet (the issuer rotated its keys), at
//! most once per `min_refresh` so made-up key ids cannot turn into a flood of fetches.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::Jwk;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::AuthError;

const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

pub struct KeySet {
    issuer: String,
    http: reqwest::Client,
    min_refresh: Duration,
    /// Read by every request; replaced whole after a fetch.
    keys: RwLock<HashMap<String, Arc<DecodingKey>>>,
    /// Held while fetching, so requests with unknown key ids wait for one fetch; requests with
    /// known ones never wait.
    fetch: Mutex<FetchState>,
}

#[derive(Default)]
struct FetchState {
    jwks_uri: Option<String>,
    fetched_at: Option<Instant>,
}

impl KeySet {
    pub fn new(issuer: &str, min_refresh: Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| format!("building the HTTP client for the issuer: {e}"))?;
        Ok(Self {
            issuer: issuer.to_owned(),
            http,
            min_refresh,
            keys: RwLock::default(),
            fetch: Mutex::default(),
        })
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
            let keys = self.fetch_keys(&mut state).await?;
            *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
        }
        self.cached(kid)
            .ok_or_else(|| AuthError::UnknownKey(service_kit::problem::echo(kid).into_owned()))
    }

    fn cached(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.get(kid).cloned()
    }

    async fn fetch_keys(
        &self,
        state: &mut FetchState,
    ) -> Result<HashMap<String, Arc<DecodingKey>>, AuthError> {
        let jwks_uri = match &state.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let uri = self.discover().await?;
                state.jwks_uri = Some(uri.clone());
                uri
            }
        };
        // Counted as a fetch even when it fails, so a down issuer is not asked on every request.
        state.fetched_at = Some(Instant::now());
        let set: JwkSetJson = self.get_json(&jwks_uri).await?;
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
            jwks_uri,
            "fetched the issuer's signing keys"
        );
        Ok(keys)
    }

    /// `jwks_uri` from `<issuer>/.well-known/openid-configuration`, after checking the document
    /// is the issuer's own.
    async fn discover(&self) -> Result<String, AuthError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let document: Discovery = self.get_json(&url).await?;
        if document.issuer != self.issuer {
            return Err(AuthError::KeysUnavailable(format!(
                "the discovery document names issuer {:?}, not {:?}",
                document.issuer, self.issuer
            )));
        }
        Ok(document.jwks_uri)
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, url: &str) -> Result<T, AuthError> {
        let unavailable = |e: reqwest::Error| AuthError::KeysUnavailable(format!("{url}: {e}"));
        self.http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct JwkSetJson {
    keys: Vec<serde_json::Value>,
}
