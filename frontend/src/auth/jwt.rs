//! Validating a bearer JWT: the algorithm must be on the allowlist (never `none`, never HMAC),
//! the signature must verify with the issuer's key named by `kid`, and `iss`, `aud`, `exp`,
//! `nbf` and `iat` must hold, with a small leeway for clock skew.

use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::jwks::KeySet;
use super::{AuthError, Caller};

/// One per audience; validators of one issuer share its [`KeySet`].
pub struct JwtValidator {
    keys: Arc<KeySet>,
    /// One validation per allowed algorithm, each accepting only its own: jsonwebtoken refuses
    /// a token when any algorithm its validation lists is of another family than the key's,
    /// so one validation listing RS256 and ES256 would refuse every token.
    validations: Vec<(Algorithm, Validation)>,
    leeway_secs: u64,
    audience: String,
}

/// The claims the app uses; the rest of the token is checked by jsonwebtoken or ignored.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    /// Checked here: jsonwebtoken does not look at `iat`, daprd's bearer middleware does.
    #[serde(default)]
    iat: Option<u64>,
}

impl JwtValidator {
    pub fn new(
        keys: Arc<KeySet>,
        audience: &str,
        algorithms: &[Algorithm],
        leeway_secs: u64,
    ) -> Result<Self, String> {
        if algorithms.is_empty() {
            return Err("JWT_ALGORITHMS is empty".into());
        }
        let issuer = keys.issuer().url();
        let validations = algorithms
            .iter()
            .map(|&algorithm| {
                let mut validation = Validation::new(algorithm);
                validation.set_issuer(&[issuer]);
                validation.set_audience(&[audience]);
                validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                validation.validate_nbf = true;
                validation.leeway = leeway_secs;
                (algorithm, validation)
            })
            .collect();
        Ok(Self {
            keys,
            validations,
            leeway_secs,
            audience: audience.to_owned(),
        })
    }

    /// The issuer's keys, for another validator of the same issuer.
    pub fn keys(&self) -> &Arc<KeySet> {
        &self.keys
    }

    pub fn issuer(&self) -> &str {
        self.keys.issuer().url()
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    pub async fn validate(&self, token: &str) -> Result<Caller, AuthError> {
        // The header is read before any key is looked up, so `alg: none`, HMAC and unknown
        // algorithms are turned away without a fetch.
        let header = jsonwebtoken::decode_header(token).map_err(|error| match error.kind() {
            ErrorKind::InvalidAlgorithmName | ErrorKind::Json(_) => {
                AuthError::Malformed("its header is not valid or names an unknown algorithm".into())
            }
            _ => AuthError::Malformed("it is not three base64url parts".into()),
        })?;
        let Some((_, validation)) = self
            .validations
            .iter()
            .find(|(algorithm, _)| *algorithm == header.alg)
        else {
            return Err(AuthError::AlgorithmNotAllowed(format!("{:?}", header.alg)));
        };
        let kid = header
            .kid
            .ok_or_else(|| AuthError::Malformed("its header has no kid".into()))?;
        let key = self.keys.key(&kid).await?;
        let data = jsonwebtoken::decode::<Claims>(token, &key, validation)
            .map_err(|error| from_validation_error(error.kind()))?;
        let claims = data.claims;
        if claims
            .iat
            .is_some_and(|iat| iat > jsonwebtoken::get_current_timestamp() + self.leeway_secs)
        {
            return Err(AuthError::IssuedInTheFuture);
        }
        Ok(Caller {
            subject: claims.sub,
            name: claims.name.or(claims.preferred_username),
        })
    }
}

fn from_validation_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(claim.clone()),
        ErrorKind::InvalidAlgorithm => AuthError::AlgorithmNotAllowed("that algorithm".into()),
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::Json(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidClaimFormat(_) => {
            AuthError::Malformed("its claims are not valid JSON of the expected shape".into())
        }
        _ => AuthError::Malformed("it could not be decoded".into()),
    }
}
