//! `echo_backend.rs`'s one save over daprd's gRPC state API instead of HTTP, through the Dapr
//! SDK's generated client (`SaveState`, JSON stored as JSON by its `contentType` metadata, or
//! with `ECHO_VALUE=raw` as bytes): the backend of the bench's gRPC floors (`--floors grpc`,
//! `grpc-raw`, `original`), which show what daprd's gRPC state API costs next to its HTTP one.
//! Same key, same value, same answer.

#[path = "echo.rs"]
mod echo;
#[path = "echo_key.rs"]
mod echo_key;

use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use dapr::client::ApiTokenInterceptor;
use dapr::dapr::proto::common::v1::{StateItem, StateOptions, state_options::StateConsistency};
use dapr::dapr::proto::runtime::v1::SaveStateRequest;
use dapr::dapr::proto::runtime::v1::dapr_client::DaprClient;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

type Client = DaprClient<InterceptedService<Channel, ApiTokenInterceptor>>;

static CLIENT: OnceLock<Client> = OnceLock::new();

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let port = std::env::var("DAPR_GRPC_PORT").expect("DAPR_GRPC_PORT is not set");
    let channel = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("a gRPC address")
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .connect_lazy();
    let token = ApiTokenInterceptor::new(std::env::var("DAPR_API_TOKEN").ok());
    let _ = CLIENT.set(DaprClient::with_interceptor(channel, token));
    echo::serve(Router::new().route("/savestate", post(save))).await;
}

async fn save(headers: HeaderMap, body: Bytes) -> Response {
    let key = echo_key::key_of(&body);
    let pattern = echo::CallPattern::get();
    let metadata = match pattern.json_value {
        true => [("contentType".to_owned(), "application/json".to_owned())].into(),
        false => Default::default(),
    };
    let item = StateItem {
        key: key.clone(),
        value: body.into(),
        etag: None,
        metadata,
        options: Some(StateOptions {
            consistency: StateConsistency::ConsistencyStrong as i32,
            ..StateOptions::default()
        }),
    };
    let mut request = tonic::Request::new(SaveStateRequest {
        store_name: "statestore".to_owned(),
        states: vec![item],
    });
    // daprd's trace context goes on with the save, as the real backend's does.
    if let Some(traceparent) = headers
        .get("traceparent")
        .filter(|_| pattern.trace)
        .and_then(|value| MetadataValue::try_from(value.as_bytes()).ok())
    {
        request.metadata_mut().insert("traceparent", traceparent);
    }
    let mut client = CLIENT.get().expect("the client").clone();
    match client.save_state(request).await {
        Ok(_) => echo::saved(&key),
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}
