//! What every end-to-end test needs: a running pair of its own, and ways to talk to it.

pub mod browser;
pub mod collector;
pub mod provider_login;

use std::time::Duration;

use launcher::{IdentityProvider, StateStore, Topology, TopologyOptions};
use serde_json::Value;
pub use test_support::Answer;

pub struct TestPair {
    pub topology: Topology,
    pub http: reqwest::Client,
}

/// A failed test prints the end of every process's log: CI keeps no run folder, so this is
/// the only account of what daprd, the apps and the peers saw.
impl Drop for TestPair {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.topology.log_tails(40));
        }
    }
}

impl TestPair {
    /// The login topology's identity provider.
    pub fn identity_provider(&self) -> &IdentityProvider {
        self.topology
            .identity_provider
            .as_ref()
            .expect("the login topology has a provider")
    }

    pub async fn spawn() -> Self {
        Self::spawn_with(TopologyOptions::default()).await
    }

    /// A pair of its own whose backend saves in `store`.
    pub async fn spawn_on(store: StateStore) -> Self {
        Self::spawn_with(TopologyOptions {
            state_store: store,
            ..TopologyOptions::default()
        })
        .await
    }

    pub async fn spawn_with(options: TopologyOptions) -> Self {
        let topology = Topology::start(options)
            .await
            .unwrap_or_else(|error| panic!("{error:#}"));
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self { topology, http }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("an answer");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        Answer {
            status,
            headers,
            text,
        }
    }

    /// `POST /call` on the frontend with this JSON body.
    pub async fn call(&self, body: Value) -> Answer {
        self.send(
            self.http
                .post(format!("{}/call", self.topology.frontend_url()))
                .json(&body),
        )
        .await
    }

    /// Saves through `/call` the way the original sample's users do: payload as JSON text.
    pub async fn save(&self, key: &str, data: Value) -> Answer {
        let payload = serde_json::json!({"key": key, "data": data}).to_string();
        self.call(serde_json::json!({"appId": "backend", "method": "savestate", "httpMethod": "POST", "payload": payload})).await
    }

    /// [`Self::save`], asking for the new version's ETag (`"returnEtag": true`): a plain save
    /// is one state operation and answers none.
    pub async fn save_returning_etag(&self, key: &str, data: Value) -> Answer {
        let payload = serde_json::json!({"key": key, "data": data, "returnEtag": true}).to_string();
        self.call(serde_json::json!({"appId": "backend", "method": "savestate", "httpMethod": "POST", "payload": payload})).await
    }

    pub async fn read(&self, key: &str) -> Answer {
        self.call(serde_json::json!({"appId": "backend", "method": format!("state/{key}"), "httpMethod": "GET"})).await
    }

    /// A request to the Dapr API of the backend's sidecar, as the backend makes them.
    pub fn sidecar_api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let backend = &self.topology.backend;
        self.http
            .request(method, format!("{}{path}", backend.sidecar_url()))
            .header("dapr-api-token", backend.dapr_api_token.as_deref().unwrap())
    }

    /// The value as the backend's sidecar holds it, read straight from the Dapr state API.
    pub async fn dapr_state(&self, key: &str) -> Option<Value> {
        let backend = &self.topology.backend;
        let url = format!("{}/v1.0/state/statestore/{key}", backend.sidecar_url());
        let answer = self
            .send(
                self.http
                    .get(url)
                    .header("dapr-api-token", backend.dapr_api_token.as_deref().unwrap()),
            )
            .await;
        match answer.status {
            200 => Some(answer.json()),
            204 => None,
            other => panic!("the Dapr state API answered {other}: {}", answer.text),
        }
    }

    /// The JSON log lines an app has written so far (`frontend` or `backend`), waiting up to
    /// 5 s for one that `wanted` accepts.
    pub async fn log_lines(&self, app: &str, wanted: impl Fn(&Value) -> bool) -> Vec<Value> {
        let path = self
            .topology
            .workdir
            .join("logs")
            .join(format!("{app}.log"));
        let mut lines = Vec::new();
        for _ in 0..50 {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            lines = text
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect();
            if lines.iter().any(&wanted) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        lines
    }

    /// The document Dapr wrote for `key` in Cosmos DB, read straight from the Cosmos DB protocol
    /// server: id `backend||KEY` in the partition of the same name (Dapr's default), or `None`.
    pub async fn cosmos_document(&self, key: &str) -> Option<Value> {
        let id = format!("backend||{key}");
        self.cosmos_document_in(&id, &id).await
    }

    pub async fn cosmos_document_in(&self, id: &str, partition_key: &str) -> Option<Value> {
        let cosmos = self.topology.cosmos.as_ref().expect("a pair on Cosmos DB");
        cosmos
            .document(id, partition_key)
            .await
            .unwrap_or_else(|error| panic!("{error:#}"))
    }

    /// Polls `/call` until `ok` accepts an answer, at most `attempts` times, 250 ms apart.
    pub async fn eventually(
        &self,
        attempts: usize,
        request: Value,
        ok: impl Fn(&Answer) -> bool,
    ) -> Answer {
        let mut last = self.call(request.clone()).await;
        for _ in 1..attempts {
            if ok(&last) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            last = self.call(request.clone()).await;
        }
        last
    }
}

/// For each `async fn NAME(store: StateStore)` listed, a module `NAME` with two tests, `sqlite`
/// and `cosmos`, that run it with that store. (A function left off the list is dead code, which
/// the build warns about.)
macro_rules! for_each_state_store {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use launcher::{CosmosAuth, StateStore};

                #[tokio::test]
                async fn sqlite() {
                    super::$name(StateStore::Sqlite).await
                }

                #[tokio::test]
                async fn cosmos() {
                    super::$name(StateStore::Cosmos(CosmosAuth::ManagedIdentity)).await
                }
            }
        )*
    };
}
pub(crate) use for_each_state_store;
