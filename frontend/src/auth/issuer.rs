//! The OpenID issuer the app trusts, one per app: one HTTP client to it and its discovery
//! document, fetched on first use (a failure is tried again on the next), after checking it is
//! the issuer's own. The bearer check's signing keys ([`super::jwks`]) and the session
//! sign-in's endpoints ([`super::session::provider`]) both come from here.
//!
//! The client follows no redirects (the token endpoint must answer itself: following one would
//! send the code or the client secret elsewhere, and OpenID Discovery puts the document at the
//! issuer's own URL) and bounds every request in time.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

/// Every request to the issuer: connect and answer within this.
pub const ISSUER_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Issuer {
    url: String,
    http: reqwest::Client,
    discovery: OnceCell<Discovery>,
}

/// What the app reads of `<issuer>/.well-known/openid-configuration`.
#[derive(Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
    /// The sign-in's; an issuer used only for bearer tokens may lack them.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

/// Why the issuer did not give what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerError {
    /// No connection, or no answer in time.
    Unreachable(String),
    /// An answer that is not what OpenID says (a status, a body, another issuer's document).
    BadAnswer(String),
}

impl Issuer {
    pub fn new(url: &str) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(ISSUER_TIMEOUT)
            .connect_timeout(ISSUER_TIMEOUT)
            .build()
            .map_err(|e| format!("building the HTTP client for the issuer: {e}"))?;
        Ok(Self {
            url: url.to_owned(),
            http,
            discovery: OnceCell::new(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The client every request to the issuer goes through (oauth2's too).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The discovery document, fetched once.
    pub async fn discovery(&self) -> Result<&Discovery, IssuerError> {
        self.discovery.get_or_try_init(|| self.discover()).await
    }

    async fn discover(&self) -> Result<Discovery, IssuerError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.url.trim_end_matches('/')
        );
        let document: Discovery = self.get_json(&url).await?;
        if document.issuer != self.url {
            return Err(IssuerError::BadAnswer(format!(
                "the discovery document names issuer {:?}, not {:?}",
                document.issuer, self.url
            )));
        }
        Ok(document)
    }

    /// A JSON document of the issuer's (its discovery document, its key set).
    pub async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, IssuerError> {
        let failed = |e: reqwest::Error| {
            let why = format!("{url}: {e}");
            if e.is_connect() || e.is_timeout() {
                IssuerError::Unreachable(why)
            } else {
                IssuerError::BadAnswer(why)
            }
        };
        self.http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(failed)?
            .json()
            .await
            .map_err(failed)
    }
}
