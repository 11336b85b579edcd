//! The identity provider as the login sees it: its endpoints (from the app's one [`Issuer`]
//! discovery), the authorization code flow with PKCE (S256) and a nonce, the code exchange, the
//! refresh, and the id_token check. The id_token is verified with the app's own JWT validator
//! on the bearer check's key set (jsonwebtoken on aws-lc-rs): signature, `iss`, `aud` (this
//! client), `exp`/`nbf`, then its `nonce` against the attempt's.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use serde::{Deserialize, Serialize};
use service_kit::settings::Secret;
use tokio::sync::OnceCell;

use super::http_client::ProviderHttp;
use super::records::{LoginAttempt, Session, now};
use crate::auth::issuer::{Issuer, IssuerError};
use crate::auth::jwt::JwtValidator;

/// The OpenID token response: OAuth2's, plus the `id_token`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct IdTokenField {
    #[serde(default)]
    pub id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

type Tokens = StandardTokenResponse<IdTokenField, BasicTokenType>;
type Client = oauth2::Client<
    BasicErrorResponse,
    Tokens,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Why talking to the provider did not give a session.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// It could not be reached, or its answer was not what OpenID says.
    #[error("the identity provider is unreachable or answered unexpectedly ({0})")]
    Unavailable(String),
    /// It refused: the code or refresh token is no good (used, expired, revoked).
    #[error("the identity provider refused ({0})")]
    Refused(String),
    /// The id_token is not valid for this sign-in.
    #[error("the id_token is not valid ({0})")]
    BadIdToken(String),
}

struct Endpoints {
    client: Client,
    end_session: Option<String>,
}

pub struct Provider {
    issuer: Arc<Issuer>,
    client_id: String,
    client_secret: Secret,
    redirect_url: String,
    scopes: Vec<String>,
    http: ProviderHttp,
    endpoints: OnceCell<Endpoints>,
    id_tokens: JwtValidator,
}

/// What a sign-in gets from the provider.
pub struct SignedIn {
    pub session: Session,
}

impl Provider {
    pub fn new(
        issuer: Arc<Issuer>,
        client_id: &str,
        client_secret: Secret,
        redirect_url: &str,
        scopes: &str,
        id_tokens: JwtValidator,
    ) -> Result<Self, String> {
        let mut scopes: Vec<String> = scopes
            .split([' ', ','])
            .filter(|scope| !scope.is_empty())
            .map(str::to_owned)
            .collect();
        if !scopes.iter().any(|scope| scope == "openid") {
            scopes.insert(0, "openid".to_owned());
        }
        Ok(Self {
            http: ProviderHttp(issuer.http().clone()),
            issuer,
            client_id: client_id.to_owned(),
            client_secret,
            redirect_url: redirect_url.to_owned(),
            scopes,
            endpoints: OnceCell::new(),
            id_tokens,
        })
    }

    /// The endpoints, discovered on first use; a failure is tried again on the next request.
    async fn endpoints(&self) -> Result<&Endpoints, ProviderError> {
        self.endpoints.get_or_try_init(|| self.discover()).await
    }

    async fn discover(&self) -> Result<Endpoints, ProviderError> {
        let document = self.issuer.discovery().await.map_err(
            |(IssuerError::Unreachable(why) | IssuerError::BadAnswer(why))| {
                ProviderError::Unavailable(why)
            },
        )?;
        let missing = |what: &str| {
            ProviderError::Unavailable(format!("its discovery document has no {what}"))
        };
        let authorization_endpoint = document
            .authorization_endpoint
            .clone()
            .ok_or_else(|| missing("authorization_endpoint"))?;
        let token_endpoint = document
            .token_endpoint
            .clone()
            .ok_or_else(|| missing("token_endpoint"))?;
        let bad = |what: &str, e: oauth2::url::ParseError| {
            ProviderError::Unavailable(format!("its {what} is not a URL: {e}"))
        };
        let client = oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.client_secret.expose().to_owned()))
            .set_auth_uri(
                AuthUrl::new(authorization_endpoint)
                    .map_err(|e| bad("authorization_endpoint", e))?,
            )
            .set_token_uri(TokenUrl::new(token_endpoint).map_err(|e| bad("token_endpoint", e))?)
            .set_redirect_uri(
                RedirectUrl::new(self.redirect_url.clone()).map_err(|e| bad("redirect URL", e))?,
            );
        Ok(Endpoints {
            client,
            end_session: document.end_session_endpoint.clone(),
        })
    }

    /// A new sign-in: where to send the browser, the `state` that names the attempt, and the
    /// attempt to save under it.
    pub async fn start(
        &self,
        return_to: String,
    ) -> Result<(String, String, LoginAttempt), ProviderError> {
        let endpoints = self.endpoints().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = CsrfToken::new_random_len(32);
        let mut request = endpoints
            .client
            .authorize_url(|| CsrfToken::new_random_len(32))
            .set_pkce_challenge(challenge)
            .add_extra_param("nonce", nonce.secret().clone());
        for scope in &self.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state) = request.url();
        let attempt = LoginAttempt {
            pkce_verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
            return_to,
        };
        Ok((url.to_string(), state.secret().clone(), attempt))
    }

    /// The provider's code for this attempt, exchanged (with the PKCE verifier) for tokens; a
    /// session once the id_token checks out.
    pub async fn finish(
        &self,
        code: String,
        attempt: &LoginAttempt,
    ) -> Result<SignedIn, ProviderError> {
        let endpoints = self.endpoints().await?;
        let tokens = endpoints
            .client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(attempt.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(from_token_error)?;
        let id_token = tokens
            .extra_fields()
            .id_token
            .clone()
            .ok_or_else(|| ProviderError::BadIdToken("the token response has none".into()))?;
        let caller = self
            .id_tokens
            .validate(&id_token)
            .await
            .map_err(|e| ProviderError::BadIdToken(e.to_string()))?;
        if nonce_of(&id_token).as_deref() != Some(attempt.nonce.as_str()) {
            return Err(ProviderError::BadIdToken(
                "its nonce is not this sign-in's".into(),
            ));
        }
        let created_at = now();
        Ok(SignedIn {
            session: Session {
                subject: caller.subject,
                name: caller.name,
                access_token: tokens.access_token().secret().clone(),
                refresh_token: tokens.refresh_token().map(|t| t.secret().clone()),
                expires_at: expires_at(tokens.expires_in()),
                id_token,
                created_at,
                refreshing_until: 0,
                refresh_claim: String::new(),
            },
        })
    }

    /// New tokens for `session` from its refresh token; the provider may rotate that too.
    pub async fn refresh(&self, session: &Session) -> Result<Session, ProviderError> {
        let refresh_token = session
            .refresh_token
            .clone()
            .ok_or_else(|| ProviderError::Refused("the session has no refresh token".into()))?;
        let endpoints = self.endpoints().await?;
        let tokens = endpoints
            .client
            .exchange_refresh_token(&RefreshToken::new(refresh_token))
            .request_async(&self.http)
            .await
            .map_err(from_token_error)?;
        let mut refreshed = session.clone();
        refreshed.access_token = tokens.access_token().secret().clone();
        if let Some(rotated) = tokens.refresh_token() {
            refreshed.refresh_token = Some(rotated.secret().clone());
        }
        refreshed.expires_at = expires_at(tokens.expires_in());
        refreshed.refreshing_until = 0;
        refreshed.refresh_claim = String::new();
        Ok(refreshed)
    }

    /// Where to send a browser that signed out: the provider's end-session endpoint with the
    /// id_token as hint and `after` as where to come back, if the provider has one.
    pub async fn end_session_url(&self, id_token: &str, after: &str) -> Option<String> {
        let endpoint = self.endpoints().await.ok()?.end_session.clone()?;
        let mut url = oauth2::url::Url::parse(&endpoint).ok()?;
        url.query_pairs_mut()
            .append_pair("id_token_hint", id_token)
            .append_pair("post_logout_redirect_uri", after)
            .append_pair("client_id", &self.client_id);
        Some(url.to_string())
    }
}

/// The access token's expiry; a response without `expires_in` is taken as five minutes.
fn expires_at(expires_in: Option<Duration>) -> u64 {
    now() + expires_in.unwrap_or(Duration::from_secs(300)).as_secs()
}

/// The `nonce` claim of a token whose signature has been verified already.
fn nonce_of(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Nonce {
        nonce: Option<String>,
    }
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<Nonce>(&json).ok()?.nonce
}

fn from_token_error<E: std::error::Error + 'static>(
    error: RequestTokenError<E, BasicErrorResponse>,
) -> ProviderError {
    match error {
        RequestTokenError::ServerResponse(response) => {
            ProviderError::Refused(response.error().to_string())
        }
        RequestTokenError::Request(error) => ProviderError::Unavailable(error.to_string()),
        RequestTokenError::Parse(error, _) => ProviderError::Unavailable(error.to_string()),
        RequestTokenError::Other(what) => ProviderError::Unavailable(what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nonce_is_read_from_the_payload() {
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"nonce":"n-1","sub":"a"}"#);
        assert_eq!(nonce_of(&format!("h.{payload}.s")).as_deref(), Some("n-1"));
        assert_eq!(nonce_of("no-dots"), None);
    }
}
