//! The issuer's signing keys: found through its OpenID discovery document, kept in memory, and
//! fetched again when a token names a key id not seen yet (the issuer rotated its keys), at
//! most once per `min_refresh` so made-up key ids cannot turn into a flood of fetches.

use std::collections::HashMap;
use std::sync::Arc;
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
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    jwks_uri: Option<String>,
    keys: HashMap<String, Arc<DecodingKey>>,
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
            cache: Mutex::new(Cache::default()),
        })
    }

    /// The key with this id, fetching the key set first if it is unknown and the last fetch is
    /// old enough. Concurrent requests wait for one fetch rather than each making their own.
    pub async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, AuthError> {
        let mut cache = self.cache.lock().await;
        if let Some(key) = cache.keys.get(kid) {
            return Ok(key.clone());
        }
        let may_fetch = cache
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.min_refresh);
        if may_fetch {
            self.refresh(&mut cache).await?;
        }
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| AuthError::UnknownKey(kid.to_owned()))
    }

    async fn refresh(&self, cache: &mut Cache) -> Result<(), AuthError> {
        let jwks_uri = match &cache.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let uri = self.discover().await?;
                cache.jwks_uri = Some(uri.clone());
                uri
            }
        };
        // Counted as a fetch even when it fails, so a down issuer is not asked on every request.
        cache.fetched_at = Some(Instant::now());
        let set: JwkSetJson = self.get_json(&jwks_uri).await?;
        cache.keys = set
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
            keys = cache.keys.len(),
            jwks_uri,
            "fetched the issuer's signing keys"
        );
        Ok(())
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
