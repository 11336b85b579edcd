//! The Dapr sidecar's HTTP API, as the app sees it: one pooled HTTP client for every call,
//! with the `dapr-api-token` header added when the sidecar requires one, and each call made
//! inside a request a client span whose trace context daprd continues.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, Url};

use crate::description::DaprApi;
use crate::settings::{Secret, ServiceSettings};
use crate::telemetry::trace;

const API_TOKEN: HeaderName = HeaderName::from_static("dapr-api-token");

/// What [`SidecarClient::is_ready`] asks, and the Dapr API that is (its sidecar must serve it).
const READY_PATH: &str = "/v1.0/healthz/outbound";
pub const HEALTH_API: DaprApi = DaprApi::Http {
    path: "/v1.0/healthz",
};

/// Cheap to clone (one reference count): handlers' state holds it, and axum clones that state
/// for every request.
#[derive(Clone, Debug)]
pub struct SidecarClient(Arc<Sidecar>);

#[derive(Debug)]
struct Sidecar {
    http: reqwest::Client,
    /// Parsed once: each request's URL is this one with its path and query set.
    base: Url,
    base_url: String,
    /// The `dapr-api-token` header's value, marked sensitive.
    api_token: Option<HeaderValue>,
}

impl SidecarClient {
    pub fn new(base_url: String, api_token: Option<Secret>, timeout: Duration) -> io::Result<Self> {
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
        let base = Url::parse(&base_url)
            .map_err(|error| invalid(format!("the sidecar address {base_url:?}: {error}")))?;
        let api_token = match api_token {
            Some(token) => {
                let mut value = HeaderValue::from_str(token.expose())
                    .map_err(|_| invalid("DAPR_API_TOKEN is not valid in an HTTP header".into()))?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let http = reqwest::Client::builder()
            // The sidecar is on loopback: never send its traffic (or its token) to a proxy.
            .no_proxy()
            // A redirect is the callee's answer, passed back as it is; following it would send
            // the request, and the sidecar's token with it, wherever the callee points.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(io::Error::other)?;
        Ok(Self(Arc::new(Sidecar {
            http,
            base,
            base_url,
            api_token,
        })))
    }

    pub fn from_settings(settings: &ServiceSettings) -> io::Result<Self> {
        Self::new(
            settings.sidecar_url(),
            settings.dapr_api_token.clone(),
            settings.sidecar_timeout(),
        )
    }

    pub fn base_url(&self) -> &str {
        &self.0.base_url
    }

    /// A request to `path` (which starts with `/v1.0/...` and may end in `?query`) on the
    /// sidecar; send it with [`Self::send`].
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let (path, query) = match path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path, None),
        };
        // Setting the path and query of the parsed base costs a fraction of parsing a whole
        // URL (scheme, host) again, on every call.
        let mut url = self.0.base.clone();
        url.set_path(path);
        url.set_query(query);
        let request = self.0.http.request(method, url);
        match &self.0.api_token {
            Some(token) => request.header(API_TOKEN, token.clone()),
            None => request,
        }
    }

    /// Sends a request made by [`Self::request`]. Inside a request it is a client span, the
    /// child of the request's, and carries that span's trace context as `traceparent`, so
    /// daprd's spans join the caller's trace.
    pub async fn send(&self, request: RequestBuilder) -> reqwest::Result<Response> {
        let mut request = request.build()?;
        let span = trace::client_span(&|| {
            let method = request.method().as_str();
            let path = request.url().path();
            let attributes = vec![
                KeyValue::new("http.request.method", method.to_owned()),
                KeyValue::new("url.path", path.to_owned()),
            ];
            (format!("{method} {}", dapr_api(path)), attributes)
        });
        if let Some(span) = &span {
            trace::inject(span, request.headers_mut());
        }
        let result = self.0.http.execute(request).await;
        if let Some(span) = &span {
            trace::end(span, result.as_ref().ok().map(Response::status));
        }
        result
    }

    /// Whether the sidecar can serve the app's outbound calls (state, invocation) right now.
    /// `/v1.0/healthz/outbound` answers 204 once its components are loaded; unlike
    /// `/v1.0/healthz` it does not wait for the app, so the app can ask it while starting.
    pub async fn is_ready(&self) -> bool {
        match self
            .request(Method::GET, READY_PATH)
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
                    url: self.0.base_url.clone(),
                    waited: wait,
                });
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(Duration::from_secs(1));
        }
    }
}

/// The Dapr API a sidecar path belongs to (`/v1.0/invoke`, `/v1.0/state`), which names the
/// span: the rest of the path holds app ids, methods and keys.
pub fn dapr_api(path: &str) -> &str {
    let end = path
        .match_indices('/')
        .nth(2)
        .map_or(path.len(), |(index, _)| index);
    &path[..end]
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
    async fn a_path_with_a_query_and_escapes_reaches_the_sidecar_as_written() {
        let sidecar = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1.0/state/statestore/a%2Fb%20c"))
            .and(wiremock::matchers::query_param("consistency", "strong"))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&sidecar)
            .await;
        let client = SidecarClient::new(sidecar.uri(), None, Duration::from_secs(1)).unwrap();
        let request = client.request(
            Method::GET,
            "/v1.0/state/statestore/a%2Fb%20c?consistency=strong",
        );
        assert_eq!(client.send(request).await.unwrap().status(), 204);
    }

    #[test]
    fn a_sidecar_address_or_token_that_cannot_be_used_is_refused_at_start() {
        let timeout = Duration::from_secs(1);
        assert!(SidecarClient::new("not a url".into(), None, timeout).is_err());
        let token = Some(Secret::from("line\nbreak".to_owned()));
        assert!(SidecarClient::new("http://127.0.0.1:3500".into(), token, timeout).is_err());
    }

    #[tokio::test]
    async fn inside_a_request_a_call_carries_the_requests_trace() {
        use opentelemetry::context::FutureExt as _;
        use opentelemetry::trace::TraceContextExt as _;

        let sidecar = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1.0/invoke/backend/method/savestate"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&sidecar)
            .await;
        let client = SidecarClient::new(sidecar.uri(), None, Duration::from_secs(1)).unwrap();
        let call = || client.request(Method::POST, "/v1.0/invoke/backend/method/savestate");

        // Outside a request there is no trace to continue: the call goes out without a trace
        // context rather than with a made-up one.
        assert_eq!(client.send(call()).await.unwrap().status(), 200);
        // Inside one, it continues the request's trace as a span of its own.
        let request = trace::testing::request_from_caller();
        let request_span = request.span().span_context().span_id().to_string();
        let answer = client.send(call()).with_context(request).await.unwrap();
        assert_eq!(answer.status(), 200);

        let received = sidecar.received_requests().await.unwrap();
        assert!(!received[0].headers.contains_key("traceparent"));
        let sent = received[1].headers["traceparent"].to_str().unwrap();
        let [version, trace_id, parent, flags] = sent.split('-').collect::<Vec<_>>()[..] else {
            panic!("not a traceparent: {sent}")
        };
        assert_eq!(
            (version, trace_id, flags),
            ("00", "0af7651916cd43dd8448eb211c80319c", "01")
        );
        assert_ne!(parent, request_span, "the call is a span of its own");
        assert_ne!(parent, "b7ad6b7169203331");
    }

    #[test]
    fn spans_are_named_after_the_dapr_api() {
        assert_eq!(
            dapr_api("/v1.0/invoke/backend/method/savestate"),
            "/v1.0/invoke"
        );
        assert_eq!(dapr_api("/v1.0/state/statestore/mykey"), "/v1.0/state");
        assert_eq!(dapr_api("/v1.0/state"), "/v1.0/state");
    }

    #[test]
    fn the_readiness_call_is_the_health_api_the_description_names() {
        assert_eq!(
            DaprApi::Http {
                path: dapr_api(READY_PATH)
            },
            HEALTH_API
        );
    }

    #[tokio::test]
    async fn waiting_for_an_absent_sidecar_gives_up_after_the_bound() {
        let client = crate::testing::absent_sidecar(Duration::from_secs(1));
        let error = client
            .wait_until_ready(Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("did not become ready"));
    }
}
