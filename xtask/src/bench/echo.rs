//! What the benchmark's two echo apps (`echo_frontend.rs`, `echo_backend.rs`) share: the settings the launcher
//! gives every app, a pooled client to the sidecar, a `/readyz` that asks the sidecar, as the
//! real apps' does (so the floor's start-to-ready is measured the same way), and trace context:
//! like any app in Dapr's tracing they pass W3C `traceparent` on, or daprd would start a new
//! trace at every hop and do less work than it does for the real pair. Both run on a
//! single-threaded runtime, as the real apps do by default (`WORKER_THREADS=1`).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use reqwest::{Method, RequestBuilder};
use tokio::net::TcpListener;

#[derive(Clone)]
pub struct Sidecar {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Sidecar {
    /// A request to `path` (`/v1.0/...`) on the sidecar, with its API token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("dapr-api-token", &self.token)
    }
}

/// Serves `api`, `/healthz` and `/readyz` on `127.0.0.1:$PORT`, with a client for the sidecar
/// on `127.0.0.1:$DAPR_HTTP_PORT` as the handlers' state. (`/healthz` is what daprd's app
/// health check probes: without it daprd finds the app unhealthy and invokes nothing.)
pub async fn serve(api: Router<Sidecar>) {
    let (listener, sidecar) = listen_with_sidecar().await;
    let app = api
        .route("/healthz", get(|| async { StatusCode::OK }))
        .route("/readyz", get(ready))
        .with_state(sidecar);
    axum::serve(listener, app).await.expect("serving");
}

async fn listen_with_sidecar() -> (TcpListener, Sidecar) {
    let setting = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let listener = TcpListener::bind(format!("127.0.0.1:{}", setting("PORT")))
        .await
        .expect("binding the app port");
    let sidecar = Sidecar {
        http: reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client"),
        base: format!("http://127.0.0.1:{}", setting("DAPR_HTTP_PORT")),
        token: setting("DAPR_API_TOKEN"),
    };
    (listener, sidecar)
}

async fn ready(State(sidecar): State<Sidecar>) -> StatusCode {
    match sidecar
        .request(Method::GET, "/v1.0/healthz/outbound")
        .send()
        .await
    {
        Ok(answer) if answer.status().is_success() => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}
