//! Who is calling. Behind the sidecar's OAuth2 and bearer middleware the app checks again
//! (defence in depth), in one of three modes chosen by `AUTH_MODE`:
//!
//! - `jwt` (the default): `Authorization: Bearer <JWT>`, validated against the issuer's keys
//!   ([`jwt`], keys from [`jwks`]).
//! - `easyauth`: Azure Container Apps' built-in authentication has signed the user in and
//!   passes who it is in `X-MS-CLIENT-PRINCIPAL*` headers ([`easyauth`]); a bearer token, when
//!   present and an issuer is configured, is validated as in `jwt` mode.
//! - `off`: nobody is checked. Only when set explicitly, and it says so in the log at start.
//!
//! The [`Caller`] found goes into the request's extensions for handlers, and its subject and
//! name into the request's log line.

pub mod easyauth;
pub mod jwks;
pub mod jwt;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::Algorithm;
use service_kit::Problem;
use service_kit::telemetry::LoggedCaller;

use self::jwt::JwtValidator;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    Jwt,
    Easyauth,
    Off,
}

/// The authentication settings of the frontend.
#[derive(clap::Args, Debug, Clone)]
pub struct AuthSettings {
    /// How callers are identified: `jwt` (bearer tokens), `easyauth` (Container Apps'
    /// built-in auth headers) or `off` (nobody is checked; logged as a warning).
    #[arg(long, env = "AUTH_MODE", value_enum, default_value_t = AuthMode::Jwt)]
    pub auth_mode: AuthMode,

    /// The OpenID issuer whose tokens are accepted (the `iss` claim, exactly); its keys are
    /// found through `<issuer>/.well-known/openid-configuration`.
    #[arg(long, env = "OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,

    /// The audience a token must be for (its `aud` claim).
    #[arg(long, env = "OIDC_AUDIENCE")]
    pub oidc_audience: Option<String>,

    /// Signature algorithms accepted, comma-separated. Only asymmetric ones (RS*, PS*, ES*,
    /// EdDSA): an HMAC secret has no place in a public key set, and `none` is never accepted.
    #[arg(long, env = "JWT_ALGORITHMS", default_value = "RS256", value_delimiter = ',', value_parser = parse_algorithm)]
    pub jwt_algorithms: Vec<Algorithm>,

    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    #[arg(long, env = "JWT_LEEWAY_SECS", default_value_t = 30)]
    pub jwt_leeway_secs: u64,

    /// The issuer's key set is fetched again for an unknown `kid` at most this often, in
    /// seconds, so tokens with made-up key ids cannot make the app hammer the issuer.
    #[arg(long, env = "JWKS_MIN_REFRESH_SECS", default_value_t = 60)]
    pub jwks_min_refresh_secs: u64,
}

fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    let algorithm: Algorithm = name
        .trim()
        .parse()
        .map_err(|_| format!("{name:?} is not a JWT signature algorithm"))?;
    match algorithm {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Err(format!(
            "{name} is an HMAC algorithm: only asymmetric algorithms are accepted"
        )),
        _ => Ok(algorithm),
    }
}

/// Who made the request, as the token or the platform says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Stable id: the token's `sub`, or Easy Auth's principal id.
    pub subject: String,
    /// A name for people, when the identity provider gives one.
    pub name: Option<String>,
}

impl Caller {
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.subject)
    }
}

/// Why a request was not let in. The messages name what was wrong, never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("the token is not a well-formed JWT ({0})")]
    Malformed(String),
    #[error("the token is signed with {0}, which is not accepted")]
    AlgorithmNotAllowed(String),
    #[error("the token's signing key {0:?} is not one of the issuer's keys")]
    UnknownKey(String),
    #[error("the token's signature is not valid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is for another audience")]
    WrongAudience,
    #[error("the token is from another issuer")]
    WrongIssuer,
    #[error("the token lacks the {0} claim")]
    MissingClaim(String),
    #[error("the issuer's keys could not be fetched ({0})")]
    KeysUnavailable(String),
    #[error("no signed-in user: the X-MS-CLIENT-PRINCIPAL headers are missing")]
    NoPrincipal,
    #[error("the X-MS-CLIENT-PRINCIPAL header is not valid ({0})")]
    BadPrincipal(String),
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        // The issuer being down is our problem, not the caller's.
        if let AuthError::KeysUnavailable(_) = self {
            return Problem::new(StatusCode::SERVICE_UNAVAILABLE, self.to_string()).into_response();
        }
        let mut response = Problem::new(StatusCode::UNAUTHORIZED, self.to_string()).into_response();
        let challenge = match self {
            AuthError::Missing | AuthError::NoPrincipal => "Bearer",
            _ => r#"Bearer error="invalid_token""#,
        };
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        response
    }
}

/// How this frontend identifies callers, built once at start from [`AuthSettings`].
pub enum Authenticator {
    Jwt(JwtValidator),
    EasyAuth(Option<JwtValidator>),
    Off,
}

impl Authenticator {
    /// Refuses settings that cannot work: `jwt` without an issuer and an audience, half of
    /// them in `easyauth`.
    pub fn from_settings(settings: &AuthSettings) -> Result<Self, String> {
        let validator = match (&settings.oidc_issuer, &settings.oidc_audience) {
            (Some(issuer), Some(audience)) => Some(JwtValidator::new(
                issuer,
                audience,
                &settings.jwt_algorithms,
                settings.jwt_leeway_secs,
                Duration::from_secs(settings.jwks_min_refresh_secs),
            )?),
            (None, None) => None,
            _ => return Err("set both OIDC_ISSUER and OIDC_AUDIENCE, or neither".into()),
        };
        match settings.auth_mode {
            AuthMode::Jwt => validator.map(Self::Jwt).ok_or_else(|| {
                "AUTH_MODE=jwt needs OIDC_ISSUER and OIDC_AUDIENCE (or set AUTH_MODE explicitly)"
                    .to_owned()
            }),
            AuthMode::Easyauth => Ok(Self::EasyAuth(validator)),
            AuthMode::Off => Ok(Self::Off),
        }
    }

    /// One line at start saying how callers are checked; a warning when they are not.
    pub fn log_mode(&self) {
        match self {
            Self::Jwt(validator) => tracing::info!(
                issuer = validator.issuer(),
                audience = validator.audience(),
                "AUTH_MODE=jwt: every request needs a valid bearer token"
            ),
            Self::EasyAuth(_) => tracing::info!(
                "AUTH_MODE=easyauth: the X-MS-CLIENT-PRINCIPAL headers of Container Apps' ingress are trusted; only safe when that ingress is the only way in"
            ),
            Self::Off => tracing::warn!(
                "AUTH_MODE=off: callers are NOT authenticated; anyone who reaches this app can use it"
            ),
        }
    }

    pub fn is_off(&self) -> bool {
        matches!(self, Self::Off)
    }

    /// The caller of a request with these headers; `None` when authentication is off.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Caller>, AuthError> {
        match self {
            Self::Jwt(validator) => validator
                .validate(bearer_token(headers)?.ok_or(AuthError::Missing)?)
                .await
                .map(Some),
            Self::EasyAuth(validator) => match (validator, bearer_token(headers)?) {
                (Some(validator), Some(token)) => validator.validate(token).await.map(Some),
                _ => easyauth::caller(headers).map(Some),
            },
            Self::Off => Ok(None),
        }
    }
}

/// The token of an `Authorization: Bearer ...` header, if there is one.
fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| AuthError::Malformed("the Authorization header is not text".into()))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(AuthError::Malformed(
            "the Authorization header is not `Bearer <token>`".into(),
        )),
    }
}

/// Middleware: `from_fn_with_state(authenticator, require_caller)`. Lets the request in only
/// with a caller (or with authentication off), hands the [`Caller`] to the handler and its
/// subject to the request log.
pub async fn require_caller(
    State(authenticator): State<Arc<Authenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    match authenticator.authenticate(request.headers()).await {
        Ok(Some(caller)) => {
            let logged = LoggedCaller {
                subject: caller.subject.clone(),
                name: caller.name.clone(),
            };
            request.extensions_mut().insert(caller);
            let mut response = next.run(request).await;
            response.extensions_mut().insert(logged);
            response
        }
        Ok(None) => next.run(request).await,
        Err(error) => {
            tracing::info!(%error, "request refused: not authenticated");
            error.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Config {
        #[command(flatten)]
        auth: AuthSettings,
    }

    fn settings(args: &[&str]) -> Result<AuthSettings, clap::Error> {
        Config::try_parse_from(std::iter::once("app").chain(args.iter().copied())).map(|c| c.auth)
    }

    #[test]
    fn jwt_is_the_default_and_refuses_to_start_without_issuer_and_audience() {
        let defaults = settings(&[]).unwrap();
        assert_eq!(defaults.auth_mode, AuthMode::Jwt);
        let error = Authenticator::from_settings(&defaults).err().unwrap();
        assert!(error.contains("OIDC_ISSUER and OIDC_AUDIENCE"), "{error}");
        let half = settings(&["--oidc-issuer", "http://idp"]).unwrap();
        assert!(Authenticator::from_settings(&half).is_err());
        let full = settings(&["--oidc-issuer", "http://idp", "--oidc-audience", "api"]).unwrap();
        assert!(matches!(
            Authenticator::from_settings(&full),
            Ok(Authenticator::Jwt(_))
        ));
    }

    #[test]
    fn off_and_easyauth_need_no_issuer() {
        let off = settings(&["--auth-mode", "off"]).unwrap();
        assert!(Authenticator::from_settings(&off).unwrap().is_off());
        let easy = settings(&["--auth-mode", "easyauth"]).unwrap();
        assert!(matches!(
            Authenticator::from_settings(&easy),
            Ok(Authenticator::EasyAuth(None))
        ));
    }

    #[test]
    fn hmac_and_none_are_refused_as_algorithms() {
        for bad in ["HS256", "none", "RS999"] {
            assert!(settings(&["--jwt-algorithms", bad]).is_err(), "{bad}");
        }
        let ok = settings(&["--jwt-algorithms", "RS256,ES256"]).unwrap();
        assert_eq!(ok.jwt_algorithms, vec![Algorithm::RS256, Algorithm::ES256]);
    }

    #[tokio::test]
    async fn a_header_that_is_not_bearer_is_refused_and_off_lets_anyone_in() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dTpw"),
        );
        assert!(matches!(
            bearer_token(&headers),
            Err(AuthError::Malformed(_))
        ));
        assert_eq!(Authenticator::Off.authenticate(&headers).await, Ok(None));
    }
}
