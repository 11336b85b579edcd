//! Why a request was not let in, and how that is answered: a 401 problem with the
//! `WWW-Authenticate` challenge, or a 503 when the issuer's keys cannot be had.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use service_kit::Problem;

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
    #[error("the token is issued in the future (its iat)")]
    IssuedInTheFuture,
    #[error("the token is for another audience")]
    WrongAudience,
    #[error("the token is from another issuer")]
    WrongIssuer,
    #[error("the token lacks the {0} claim")]
    MissingClaim(String),
    #[error("the issuer's keys could not be fetched ({0})")]
    KeysUnavailable(String),
    /// No connection to the issuer (refused, timed out, no such host).
    #[error("the issuer is unreachable ({0})")]
    IssuerUnreachable(String),
    #[error("no signed-in user: the X-MS-CLIENT-PRINCIPAL headers are missing")]
    NoPrincipal,
    #[error("the X-MS-CLIENT-PRINCIPAL header is not valid ({0})")]
    BadPrincipal(String),
    #[error(
        "the request came through Dapr, where X-MS-CLIENT-PRINCIPAL headers prove nothing: send `Authorization: Bearer <token>`"
    )]
    PrincipalThroughDapr,
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        // The issuer being down is our problem, not the caller's; what failed (its addresses
        // among it) is for the log.
        let unavailable = match &self {
            AuthError::KeysUnavailable(why) => Some((
                why,
                "the issuer's signing keys could not be fetched",
                "the issuer's signing keys could not be fetched; try again in a moment",
            )),
            AuthError::IssuerUnreachable(why) => Some((
                why,
                "the issuer is unreachable",
                "the issuer is unreachable, so its signing keys could not be fetched; try again in a moment",
            )),
            _ => None,
        };
        if let Some((why, logged, detail)) = unavailable {
            tracing::warn!(error = %why, "{logged}");
            return Problem::new(StatusCode::SERVICE_UNAVAILABLE, detail).into_response();
        }
        let mut response = Problem::new(StatusCode::UNAUTHORIZED, self.to_string()).into_response();
        let challenge = match self {
            AuthError::Missing | AuthError::NoPrincipal | AuthError::PrincipalThroughDapr => {
                "Bearer"
            }
            _ => r#"Bearer error="invalid_token""#,
        };
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        response
    }
}
