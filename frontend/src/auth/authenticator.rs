//! How this frontend identifies callers, made once at start from the settings: the JWT
//! validator, Easy Auth's headers, or nobody.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, header};

use super::issuer::Issuer;
use super::jwks::KeySet;
use super::jwt::JwtValidator;
use super::{AuthError, AuthMode, AuthSettings, Caller, easyauth};

/// The issuer and audience of bearer tokens: `jwt` and `session` do not start without them,
/// `easyauth` takes both or neither (the messages below and `dapr-pair describe` name these).
pub const BEARER_SETTINGS: [&str; 2] = ["OIDC_ISSUER", "OIDC_AUDIENCE"];

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
        let [issuer_name, audience_name] = BEARER_SETTINGS;
        let validator = match (&settings.oidc_issuer, &settings.oidc_audience) {
            (Some(issuer), Some(audience)) => Some(JwtValidator::new(
                Arc::new(KeySet::new(
                    Arc::new(Issuer::new(issuer)?),
                    Duration::from_secs(settings.jwks_min_refresh_secs),
                )),
                audience,
                &settings.jwt_algorithms,
                settings.jwt_leeway_secs,
            )?),
            (None, None) => None,
            _ => {
                return Err(format!(
                    "set both {issuer_name} and {audience_name}, or neither"
                ));
            }
        };
        match settings.auth_mode {
            // `/call` in session mode: API clients' bearer tokens, as in `jwt`.
            AuthMode::Jwt | AuthMode::Session => validator.map(Self::Jwt).ok_or_else(|| {
                format!(
                    "AUTH_MODE=jwt and session need {issuer_name} and {audience_name} (or set AUTH_MODE explicitly)"
                )
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

    /// The issuer's keys the bearer check uses, for the session sign-in's id_token check.
    pub fn key_set(&self) -> Option<&Arc<KeySet>> {
        match self {
            Self::Jwt(validator) | Self::EasyAuth(Some(validator)) => Some(validator.keys()),
            Self::EasyAuth(None) | Self::Off => None,
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

#[cfg(test)]
mod tests {
    use super::super::settings::testing::settings;
    use super::*;
    use axum::http::HeaderValue;

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
