//! The Dapr sidecar's HTTP API, as the app sees it: one pooled HTTP client for every call,
//! with the `dapr-api-token` header added when the sidecar requires one.

use std::time::Duration;

use reqwest::{Method, RequestBuilder};

use crate::settings::{Secret, ServiceSettings};

#[derive(Clone, Debug)]
pub struct SidecarClient {
    http: reqwest::Client,
    base_url: String,
    api_token: Option<Secret>,
}

impl SidecarClient {
    pub fn new(
        base_url: String,
        api_token: Option<Secret>,
        timeout: Duration,
    ) -> reqwest::Result<Self> {
        let http = reqwest::Client::builder()
            // The sidecar is on loopback: never send its traffic (or its token) to a proxy.
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            http,
            base_url,
            api_token,
        })
    }

    pub fn from_settings(settings: &ServiceSettings) -> reqwest::Result<Self> {
        Self::new(
            settings.sidecar_url(),
            settings.dapr_api_token.clone(),
            settings.sidecar_timeout(),
        )
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A request to `path` (which starts with `/v1.0/...`) on the sidecar.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        match &self.api_token {
            Some(token) => request.header("dapr-api-token", token.expose()),
            None => request,
        }
    }

    /// Whether the sidecar can serve the app's outbound calls (state, invocation) right now.
    /// `/v1.0/healthz/outbound` answers 204 once its components are loaded; unlike
    /// `/v1.0/healthz` it does not wait for the app, so the app can ask it while starting.
    pub async fn is_ready(&self) -> bool {
        match self
            .request(Method::GET, "/v1.0/healthz/outbound")
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            Ok(response) => response.status().is_success(),
            Err(_) => false,
        }
    }

    /// Polls [`Self::is_ready`] until it says yes or `wait` has passed.
    pub async fn wait_until_ready(&self, wait: Duration) -> Result<(), SidecarNotReady> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut interval = Duration::from_millis(50);
        loop {
            if self.is_ready().await {
                return Ok(());
            }
            if tokio::time::Instant::now() + interval > deadline {
                return Err(SidecarNotReady {
                    url: self.base_url.clone(),
                    waited: wait,
                });
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(Duration::from_secs(1));
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the Dapr sidecar at {url} did not become ready within {waited:?}")]
pub struct SidecarNotReady {
    pub url: String,
    pub waited: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[tokio::test]
    async fn sends_the_api_token_to_the_sidecar() {
        let sidecar = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1.0/healthz/outbound"))
            .and(header("dapr-api-token", "s3cret"))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&sidecar)
            .await;
        let client = SidecarClient::new(
            sidecar.uri(),
            Some(Secret::from("s3cret".to_owned())),
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(client.is_ready().await);
    }

    #[tokio::test]
    async fn waiting_for_an_absent_sidecar_gives_up_after_the_bound() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = SidecarClient::new(
            format!("http://127.0.0.1:{port}"),
            None,
            Duration::from_secs(1),
        )
        .unwrap();
        let error = client
            .wait_until_ready(Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("did not become ready"));
    }
}
