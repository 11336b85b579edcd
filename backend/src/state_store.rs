//! The Dapr state API (`/v1.0/state/{store}`), seen through what the backend needs: save a JSON
//! value, read it with its ETag, delete it, optionally only if the ETag still matches.

use std::sync::Arc;

use bytes::Bytes;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, Response, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use service_kit::SidecarClient;

use crate::key::StateKey;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    Strong,
    Eventual,
}

impl Consistency {
    fn as_str(self) -> &'static str {
        match self {
            Consistency::Strong => "strong",
            Consistency::Eventual => "eventual",
        }
    }
}

/// Handlers' state: axum clones it for every request, so it holds nothing that allocates to
/// clone.
#[derive(Clone, Debug)]
pub struct StateStore {
    sidecar: SidecarClient,
    name: Arc<str>,
    consistency: Consistency,
}

/// A stored value: its JSON text exactly as saved, and the ETag of this version (in its bare
/// form, see [`bare_etag`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub value: Bytes,
    pub etag: Option<String>,
}

/// The ETag as the backend's callers see it. Stores write ETags differently: SQLite's are bare
/// (`3f2a…`), Cosmos DB's carry their own quotes (`"00000000-…"`), and Dapr passes either on as
/// it is. Callers always get the bare text (in quotes in the `ETag` header), and a conditional
/// write or delete sends the store its own text again (see [`StateStore::store_etag`]).
pub fn bare_etag(etag: &str) -> &str {
    etag.strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(etag)
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the ETag does not match the stored version")]
    EtagMismatch,
    #[error("the Dapr sidecar did not answer in time")]
    Timeout,
    #[error("the Dapr sidecar could not be reached")]
    Unreachable(#[source] reqwest::Error),
    #[error("the state store failed with {code} ({status}): {message}")]
    Dapr {
        status: StatusCode,
        code: String,
        message: String,
    },
}

impl StateStore {
    pub fn new(sidecar: SidecarClient, name: String, consistency: Consistency) -> Self {
        Self {
            sidecar,
            name: name.into(),
            consistency,
        }
    }

    /// Saves `value` (JSON text, stored as JSON so the store keeps it as itself rather than as
    /// base64 bytes) and returns the ETag of the new version. With `etag`, only if it is the
    /// ETag of the stored version.
    pub async fn save(
        &self,
        key: &StateKey,
        value: &RawValue,
        etag: Option<&str>,
    ) -> Result<Option<String>, StateError> {
        #[derive(Serialize)]
        struct Item<'a> {
            key: &'a str,
            value: &'a RawValue,
            #[serde(skip_serializing_if = "Option::is_none")]
            etag: Option<&'a str>,
            options: Options,
        }
        #[derive(Serialize)]
        struct Options {
            consistency: Consistency,
        }
        let etag = match etag {
            Some(expected) => Some(self.store_etag(key, expected).await?),
            None => None,
        };
        let items = [Item {
            key: key.as_str(),
            value,
            etag: etag.as_deref(),
            options: Options {
                consistency: self.consistency,
            },
        }];
        let request = self
            .sidecar
            .request(Method::POST, &format!("/v1.0/state/{}", self.name))
            .json(&items);
        let response = self.sidecar.send(request).await.map_err(transport_error)?;
        expect_success(response).await?;
        // Dapr's save answers 204 without the new ETag, so it is read back. Under concurrent
        // writers to the same key this may be the ETag of a later write; a conditional write
        // with it then fails with 412 rather than losing that later write.
        Ok(self.get(key).await?.and_then(|stored| stored.etag))
    }

    pub async fn get(&self, key: &StateKey) -> Result<Option<Stored>, StateError> {
        let stored = self.get_verbatim(key).await?;
        Ok(stored.map(|Stored { value, etag }| Stored {
            value,
            etag: etag.map(|etag| bare_etag(&etag).to_owned()),
        }))
    }

    /// The store's own text of the current version's ETag, if its bare form is `expected`'s;
    /// [`StateError::EtagMismatch`] if not, or if there is no current version. The store checks
    /// it again when it writes, so a version written in between still fails the write.
    async fn store_etag(&self, key: &StateKey, expected: &str) -> Result<String, StateError> {
        let current = self.get_verbatim(key).await?.and_then(|stored| stored.etag);
        match current {
            Some(etag) if bare_etag(&etag) == bare_etag(expected) => Ok(etag),
            _ => Err(StateError::EtagMismatch),
        }
    }

    /// The value and its ETag exactly as the store gave them.
    async fn get_verbatim(&self, key: &StateKey) -> Result<Option<Stored>, StateError> {
        let request = self.sidecar.request(Method::GET, &self.key_path(key));
        let response = self.sidecar.send(request).await.map_err(transport_error)?;
        let response = expect_success(response).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let value = response.bytes().await.map_err(transport_error)?;
        Ok(Some(Stored { value, etag }))
    }

    /// Deletes `key`; with `etag`, only if the stored version still has it. Deleting a key
    /// that is not there succeeds.
    pub async fn delete(&self, key: &StateKey, etag: Option<&str>) -> Result<(), StateError> {
        let mut request = self.sidecar.request(Method::DELETE, &self.key_path(key));
        if let Some(expected) = etag {
            request = request.header(header::IF_MATCH, self.store_etag(key, expected).await?);
        }
        let response = self.sidecar.send(request).await.map_err(transport_error)?;
        expect_success(response).await?;
        Ok(())
    }

    /// `/v1.0/state/{store}/{key}?consistency=...` with the key as one path segment: Dapr
    /// unescapes it with query rules, so everything but letters and digits is percent-encoded
    /// (`+` and `/` included).
    fn key_path(&self, key: &StateKey) -> String {
        let key = utf8_percent_encode(key.as_str(), NON_ALPHANUMERIC);
        format!(
            "/v1.0/state/{}/{key}?consistency={}",
            self.name,
            self.consistency.as_str()
        )
    }
}

fn transport_error(error: reqwest::Error) -> StateError {
    if error.is_timeout() {
        StateError::Timeout
    } else {
        StateError::Unreachable(error)
    }
}

/// Dapr's error bodies: `{"errorCode": "ERR_STATE_SAVE", "message": "..."}`.
#[derive(Deserialize, Default)]
struct DaprError {
    #[serde(rename = "errorCode", default)]
    code: String,
    #[serde(default)]
    message: String,
}

async fn expect_success(response: Response) -> Result<Response, StateError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.bytes().await.unwrap_or_default();
    let error: DaprError = serde_json::from_slice(&body).unwrap_or_default();
    // An ETag that does not match is a 409; one the store cannot parse (e.g. made up by the
    // client) is a 400 mentioning the ETag. Either way the caller's version is not the stored one.
    let etag_error = status == StatusCode::CONFLICT
        || (status == StatusCode::BAD_REQUEST
            && error.message.to_ascii_lowercase().contains("etag"));
    if etag_error {
        return Err(StateError::EtagMismatch);
    }
    Err(StateError::Dapr {
        status,
        code: error.code,
        message: error.message,
    })
}
