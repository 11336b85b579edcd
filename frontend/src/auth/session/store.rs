//! Login attempts and sessions in a Dapr state store, through the sidecar's gRPC state API:
//! JSON records with a time to live (`ttlInSeconds`), read with their ETag, written and deleted
//! only if nobody changed them since (first-write-wins on the ETag), so two replicas never
//! overwrite each other's rotated tokens and an attempt is consumed once.

use std::collections::HashMap;
use std::time::Duration;

use dapr::client::ApiTokenInterceptor;
use dapr::dapr::proto::common::v1::state_options::{StateConcurrency, StateConsistency};
use dapr::dapr::proto::common::v1::{Etag, StateItem, StateOptions};
use dapr::dapr::proto::runtime::v1::dapr_client::DaprClient;
use dapr::dapr::proto::runtime::v1::{DeleteStateRequest, GetStateRequest, SaveStateRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;
use service_kit::description::DaprApi;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

type Client = DaprClient<InterceptedService<Channel, ApiTokenInterceptor>>;

/// The methods of Dapr's gRPC API the store calls, as `dapr-pair describe` tells them (the
/// frontend's sidecar must allow their API); a test below holds them to the calls made.
pub const DAPR_APIS: &[DaprApi] = &[
    DaprApi::Grpc {
        method: "/dapr.proto.runtime.v1.Dapr/GetState",
    },
    DaprApi::Grpc {
        method: "/dapr.proto.runtime.v1.Dapr/SaveState",
    },
    DaprApi::Grpc {
        method: "/dapr.proto.runtime.v1.Dapr/DeleteState",
    },
];

#[derive(Clone)]
pub struct SessionStore {
    client: Client,
    store: String,
}

/// Why the store did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else changed or deleted the record since it was read.
    #[error("the record changed since it was read")]
    Conflict,
    /// The sidecar or the store failed, or did not answer in time.
    #[error("the session store failed: {0}")]
    Unavailable(String),
}

impl SessionStore {
    /// A lazily connected client of the sidecar at `127.0.0.1:grpc_port`: nothing is dialled
    /// until the first sign-in, and every call is bounded by `timeout`.
    pub fn new(
        grpc_port: u16,
        api_token: Option<String>,
        store: &str,
        timeout: Duration,
    ) -> Result<Self, String> {
        let channel = Endpoint::from_shared(format!("http://127.0.0.1:{grpc_port}"))
            .map_err(|e| format!("DAPR_GRPC_PORT: {e}"))?
            .connect_timeout(timeout)
            .timeout(timeout)
            .connect_lazy();
        Ok(Self {
            client: DaprClient::with_interceptor(channel, ApiTokenInterceptor::new(api_token)),
            store: store.to_owned(),
        })
    }

    /// The record under `key` and its ETag, or `None`. A record that is not the expected JSON
    /// (written by something else, or an older version of this app) counts as absent.
    pub async fn get<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<(T, String)>, StoreError> {
        let request = GetStateRequest {
            store_name: self.store.clone(),
            key: key.to_owned(),
            consistency: StateConsistency::ConsistencyStrong as i32,
            metadata: HashMap::new(),
        };
        let answer = self
            .client
            .clone()
            .get_state(request)
            .await
            .map_err(unavailable)?
            .into_inner();
        if answer.data.is_empty() {
            return Ok(None);
        }
        Ok(serde_json::from_slice(&answer.data)
            .ok()
            .map(|record| (record, answer.etag)))
    }

    /// Saves `record` under `key` for `ttl`: a new record when `etag` is `None` (it may
    /// replace an absent or expired one), else only over the version with that ETag.
    pub async fn save<T: Serialize>(
        &self,
        key: &str,
        record: &T,
        etag: Option<&str>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let value = serde_json::to_vec(record)
            .map_err(|e| StoreError::Unavailable(format!("encoding the record: {e}")))?;
        let item = StateItem {
            key: key.to_owned(),
            value,
            etag: etag.map(|value| Etag {
                value: value.to_owned(),
            }),
            // JSON stored as JSON (as the backend's records are), not as base64 of bytes; with
            // Dapr's encryption on, what is stored is the ciphertext either way.
            metadata: [
                ("ttlInSeconds".to_owned(), ttl.as_secs().max(1).to_string()),
                ("contentType".to_owned(), "application/json".to_owned()),
            ]
            .into(),
            options: Some(options()),
        };
        let request = SaveStateRequest {
            store_name: self.store.clone(),
            states: vec![item],
        };
        self.client
            .clone()
            .save_state(request)
            .await
            .map(drop)
            .map_err(conflict_or_unavailable)
    }

    /// Deletes the record under `key`, only if it still has `etag` when one is given.
    pub async fn delete(&self, key: &str, etag: Option<&str>) -> Result<(), StoreError> {
        let request = DeleteStateRequest {
            store_name: self.store.clone(),
            key: key.to_owned(),
            etag: etag.map(|value| Etag {
                value: value.to_owned(),
            }),
            options: Some(options()),
            metadata: HashMap::new(),
        };
        self.client
            .clone()
            .delete_state(request)
            .await
            .map(drop)
            .map_err(conflict_or_unavailable)
    }
}

fn options() -> StateOptions {
    StateOptions {
        concurrency: StateConcurrency::ConcurrencyFirstWrite as i32,
        consistency: StateConsistency::ConsistencyStrong as i32,
    }
}

fn unavailable(status: tonic::Status) -> StoreError {
    StoreError::Unavailable(format!("{:?}: {}", status.code(), status.message()))
}

/// daprd answers an ETag that no longer matches with `Aborted` (ERR_STATE_SAVE /
/// ERR_STATE_DELETE with an ETag mismatch), and an ETag the store cannot even parse, or a
/// record already gone, with `InvalidArgument`/`FailedPrecondition`: all mean someone else
/// got there first.
fn conflict_or_unavailable(status: tonic::Status) -> StoreError {
    match status.code() {
        Code::Aborted | Code::FailedPrecondition => StoreError::Conflict,
        Code::InvalidArgument if status.message().to_ascii_lowercase().contains("etag") => {
            StoreError::Conflict
        }
        _ => unavailable(status),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::extract::Request;
    use axum::http::StatusCode;

    use super::*;

    /// Every call the store makes, sent to a server that records the gRPC method of each
    /// request and fails it: the methods are exactly those the description names.
    #[tokio::test]
    async fn the_described_grpc_methods_are_the_ones_called() {
        let called = Arc::new(Mutex::new(Vec::new()));
        let record = called.clone();
        let server = axum::Router::new().fallback(move |request: Request| {
            record.lock().unwrap().push(request.uri().path().to_owned());
            async {
                (
                    StatusCode::OK,
                    [("content-type", "application/grpc"), ("grpc-status", "12")],
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, server).await });
        let store = SessionStore::new(port, None, "sessionstore", Duration::from_secs(5)).unwrap();
        assert!(store.get::<String>("k").await.is_err());
        assert!(
            store
                .save("k", &"v", Some("1"), Duration::from_secs(60))
                .await
                .is_err()
        );
        assert!(store.delete("k", Some("1")).await.is_err());
        let described: Vec<_> = DAPR_APIS
            .iter()
            .map(|api| match api {
                DaprApi::Grpc { method } => *method,
                DaprApi::Http { path } => path,
            })
            .collect();
        assert_eq!(*called.lock().unwrap(), described);
    }
}
