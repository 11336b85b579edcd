//! The Dapr state API (`/v1.0/state/{store}`), seen through what the backend needs: save a JSON
//! value, read it with its ETag, delete it, optionally only if the ETag still matches.
//!
//! What a save costs the store: a plain save is one operation, and Dapr's save answers nothing
//! about the new version, so a plain save does not know its ETag. Asking for the ETag adds a
//! read back, which gives it only if the key still holds the value just written
//! ([`StateClient::etag_of`]); a conditional save also reads first, to check the ETag against
//! the stored version.
//!
//! The calls go to the sidecar's HTTP API. Its gRPC API (through the Dapr SDK's generated
//! client) was measured side by side and cost the backend and its daprd more CPU per save, not
//! less (docs/benchmark.md), so there is one state path, this one.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, Response, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use service_kit::SidecarClient;
use service_kit::description::DaprApi;
use service_kit::settings::Secret;

use crate::key::StateKey;

/// The sidecar's state API: every call's path starts with it.
const STATE: &str = "/v1.0/state";
pub const STATE_API: DaprApi = DaprApi::Http { path: STATE };

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

/// The client of one Dapr state store, through the sidecar (not to be taken for
/// `launcher::StateStore`, which names the store a run uses). Handlers' state: axum clones it
/// for every request, so it holds nothing that allocates to clone.
#[derive(Clone, Debug)]
pub struct StateClient {
    sidecar: SidecarClient,
    name: Arc<str>,
    consistency: Consistency,
}

/// A stored value: its JSON text as the store gives it back, and the ETag of this version (in
/// its bare form, see [`bare_etag`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub value: Bytes,
    pub etag: Option<String>,
}

/// The ETag as the backend's callers see it. Stores write ETags differently: SQLite's are bare
/// (`3f2a…`), Cosmos DB's carry their own quotes (`"00000000-…"`), and Dapr passes either on as
/// it is. Callers always get the bare text (in quotes in the `ETag` header), and a conditional
/// write or delete sends the store its own text again (see [`StateClient::store_etag`]).
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
    /// The store is overloaded (SQLite still locked after its busy timeout, Cosmos DB's 429):
    /// worth retrying a moment later.
    #[error("the state store is busy: {message}")]
    Busy { message: String },
    #[error("the state store failed with {code} ({status}): {message}")]
    Dapr {
        status: StatusCode,
        code: String,
        message: String,
    },
}

impl StateClient {
    /// The store `name` through this sidecar client (the one the app's readiness uses).
    pub fn new(sidecar: SidecarClient, name: String, consistency: Consistency) -> Self {
        Self {
            sidecar,
            name: name.into(),
            consistency,
        }
    }

    /// The store `name` through a sidecar client of its own, at `address`
    /// (`http://127.0.0.1:3500`), each call with this timeout.
    pub fn connect(
        address: &str,
        api_token: Option<&Secret>,
        name: String,
        consistency: Consistency,
        timeout: Duration,
    ) -> std::io::Result<Self> {
        let sidecar = SidecarClient::new(address.to_owned(), api_token.cloned(), timeout)?;
        Ok(Self::new(sidecar, name, consistency))
    }

    /// Saves `value` (JSON text, stored as JSON so the store keeps it as itself rather than as
    /// base64 bytes): one state operation. With `etag`, only if it is the ETag of the stored
    /// version: the stored version is read first (a key that is gone is a mismatch too; Cosmos
    /// DB's upsert would create it again), and the store checks the ETag again as it writes,
    /// so a version written in between fails the save as well. Dapr's save answers 204 with
    /// nothing about the new version: see [`Self::etag_of`].
    pub async fn save(
        &self,
        key: &StateKey,
        value: &RawValue,
        etag: Option<&str>,
    ) -> Result<(), StateError> {
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
            .request(Method::POST, &format!("{STATE}/{}", self.name))
            .json(&items);
        let response = self.sidecar.send(request).await.map_err(transport_error)?;
        expect_success(response).await?;
        Ok(())
    }

    /// The ETag of the version a save of `written` made, read back right after it: `None` if
    /// the key no longer holds that value, since then another write (or a delete) landed in
    /// between and its ETag is not this save's. The value is compared as JSON (stores
    /// re-serialize it: key order, number forms, escapes). Another caller writing the very
    /// same value in between cannot be told apart, and cannot matter to a conditional write
    /// made with that ETag: it would replace exactly the value this caller wrote.
    pub async fn etag_of(
        &self,
        key: &StateKey,
        written: &RawValue,
    ) -> Result<Option<String>, StateError> {
        let Some(stored) = self.get(key).await? else {
            return Ok(None);
        };
        let written: Value = serde_json::from_str(written.get()).unwrap_or(Value::Null);
        let same = serde_json::from_slice::<Value>(&stored.value)
            .is_ok_and(|stored| same_json(&stored, &written));
        Ok(stored.etag.filter(|_| same))
    }

    pub async fn get(&self, key: &StateKey) -> Result<Option<Stored>, StateError> {
        let stored = self.get_verbatim(key).await?;
        Ok(stored.map(|Stored { value, etag }| Stored {
            value,
            etag: etag.map(|etag| bare_etag(&etag).to_owned()),
        }))
    }

    /// The store's own text of the current version's ETag, if its bare form is `expected`'s;
    /// [`StateError::EtagMismatch`] if not, or if there is no current version.
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
            "{STATE}/{}/{key}?consistency={}",
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
    Err(state_error(status, error))
}

/// What an error answer of the sidecar means here. An ETag that does not match is a 409; one
/// the store cannot parse (e.g. made up by the client) is a 400 mentioning the ETag. Either way
/// the caller's version is not the stored one.
fn state_error(status: StatusCode, error: DaprError) -> StateError {
    let etag_error = status == StatusCode::CONFLICT
        || (status == StatusCode::BAD_REQUEST
            && error.message.to_ascii_lowercase().contains("etag"));
    if etag_error {
        StateError::EtagMismatch
    } else if status == StatusCode::TOO_MANY_REQUESTS || is_busy(&error.message) {
        StateError::Busy {
            message: error.message,
        }
    } else {
        StateError::Dapr {
            status,
            code: error.code,
            message: error.message,
        }
    }
}

/// A store's own words for "too busy now": SQLite still locked after its busy timeout, Cosmos
/// DB's request rate limit (429).
fn is_busy(message: &str) -> bool {
    [
        "SQLITE_BUSY",
        "database is locked",
        "TooManyRequests",
        "Request rate is large",
    ]
    .iter()
    .any(|sign| message.contains(sign))
}

/// Whether two JSON values are the same value once a store has re-serialized one of them:
/// objects regardless of key order, numbers as the 64-bit floats daprd decodes them into
/// (9007199254740993 is stored as 9007199254740992).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, a)| b.get(key).is_some_and(|b| same_json(a, b)))
        }
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_value_re_serialized_by_a_store_is_the_same_value() {
        let written: Value =
            serde_json::from_str(r#"{"name":"geert","n":1.0,"big":9007199254740993,"s":"<&>"}"#)
                .unwrap();
        let stored: Value = serde_json::from_str(
            r#"{"big":9007199254740992,"n":1,"name":"geert","s":"\u003c\u0026\u003e"}"#,
        )
        .unwrap();
        assert!(same_json(&written, &stored));
    }

    #[test]
    fn another_value_is_not_the_same() {
        for (a, b) in [
            (json!(1), json!(2)),
            (json!("1"), json!(1)),
            (json!({"a": 1}), json!({"a": 1, "b": 2})),
            (json!([1, 2]), json!([2, 1])),
            (json!({"a": {"b": 1}}), json!({"a": {"b": 2}})),
        ] {
            assert!(!same_json(&a, &b), "{a} {b}");
        }
    }

    #[test]
    fn sidecar_errors_map_to_what_they_mean_for_the_caller() {
        let error = |message: &str| DaprError {
            code: "ERR_STATE_SAVE".into(),
            message: message.into(),
        };
        let mismatch = state_error(StatusCode::CONFLICT, error("possible etag mismatch"));
        assert!(matches!(mismatch, StateError::EtagMismatch));
        let invalid = state_error(StatusCode::BAD_REQUEST, error("invalid etag value"));
        assert!(matches!(invalid, StateError::EtagMismatch));
        let bad_key = state_error(StatusCode::BAD_REQUEST, error("state key cannot be empty"));
        assert!(matches!(bad_key, StateError::Dapr { .. }));
        let busy = state_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            error(
                "failed saving state in state store statestore: database is locked (5) (SQLITE_BUSY)",
            ),
        );
        assert!(matches!(busy, StateError::Busy { .. }));
        let other = state_error(StatusCode::INTERNAL_SERVER_ERROR, error("boom"));
        assert!(matches!(other, StateError::Dapr { .. }));
    }
}
