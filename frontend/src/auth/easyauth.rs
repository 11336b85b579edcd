//! Azure Container Apps' built-in authentication ("Easy Auth") signs users in at the ingress and
//! passes who they are to the app: `X-MS-CLIENT-PRINCIPAL-ID` and `-NAME`, and
//! `X-MS-CLIENT-PRINCIPAL` (base64 of `{"auth_typ","claims":[{"typ","val"}],"name_typ",...}`).
//! The ingress removes these headers from what clients send, so they can be trusted only when
//! that ingress is the way the request came in. The app's Dapr sidecar is another way in: any
//! app of the environment can invoke `frontend` through Dapr with headers of its choosing. A
//! request that carries what a sidecar adds (`dapr-caller-app-id`, or the `dapr-api-token` it
//! sends the app) is therefore never signed in by these headers.

use axum::http::HeaderMap;
use base64::Engine;
use serde::Deserialize;

use super::{AuthError, Caller};

pub const PRINCIPAL: &str = "x-ms-client-principal";
pub const PRINCIPAL_ID: &str = "x-ms-client-principal-id";
pub const PRINCIPAL_NAME: &str = "x-ms-client-principal-name";

/// Headers a Dapr sidecar puts on a request it delivers to its app; the ingress sets neither.
const SET_BY_A_SIDECAR: [&str; 2] = ["dapr-caller-app-id", "dapr-api-token"];

#[derive(Deserialize)]
struct Principal {
    #[serde(default)]
    claims: Vec<Claim>,
    #[serde(default)]
    name_typ: Option<String>,
}

#[derive(Deserialize)]
struct Claim {
    typ: String,
    val: String,
}

impl Principal {
    fn claim(&self, typ: &str) -> Option<&str> {
        self.claims
            .iter()
            .find(|claim| claim.typ == typ)
            .map(|claim| claim.val.as_str())
    }
}

/// The caller Easy Auth signed in, from the principal headers.
pub fn caller(headers: &HeaderMap) -> Result<Caller, AuthError> {
    if SET_BY_A_SIDECAR
        .iter()
        .any(|name| headers.contains_key(*name))
    {
        return Err(AuthError::PrincipalThroughDapr);
    }
    let text = |name: &str| {
        headers
            .get(name)
            .map(|value| {
                value
                    .to_str()
                    .map(str::to_owned)
                    .map_err(|_| AuthError::BadPrincipal(format!("{name} is not text")))
            })
            .transpose()
    };
    let encoded = text(PRINCIPAL)?.ok_or(AuthError::NoPrincipal)?;
    let json = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| AuthError::BadPrincipal("not base64".into()))?;
    let principal: Principal = serde_json::from_slice(&json)
        .map_err(|_| AuthError::BadPrincipal("not the expected JSON".into()))?;

    let subject = text(PRINCIPAL_ID)?
        .or_else(|| {
            principal
                .claim("http://schemas.microsoft.com/identity/claims/objectidentifier")
                .or_else(|| principal.claim("sub"))
                .map(str::to_owned)
        })
        .filter(|subject| !subject.is_empty())
        .ok_or_else(|| AuthError::BadPrincipal("it names no principal id".into()))?;
    let name = text(PRINCIPAL_NAME)?.or_else(|| {
        principal
            .claim("name")
            .or_else(|| {
                principal
                    .name_typ
                    .as_deref()
                    .and_then(|typ| principal.claim(typ))
            })
            .map(str::to_owned)
    });
    Ok(Caller { subject, name })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn encoded(json: &str) -> HeaderValue {
        HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(json)).unwrap()
    }

    #[test]
    fn reads_the_principal_id_and_name() {
        let mut headers = HeaderMap::new();
        headers.insert(PRINCIPAL, encoded(r#"{"auth_typ":"aad","claims":[{"typ":"name","val":"Ada Lovelace"}],"name_typ":"name"}"#));
        headers.insert(PRINCIPAL_ID, HeaderValue::from_static("0000-ada"));
        assert_eq!(
            caller(&headers),
            Ok(Caller {
                subject: "0000-ada".into(),
                name: Some("Ada Lovelace".into())
            })
        );
    }

    #[test]
    fn falls_back_to_the_claims_when_the_id_header_is_absent() {
        let mut headers = HeaderMap::new();
        headers.insert(PRINCIPAL, encoded(r#"{"claims":[{"typ":"http://schemas.microsoft.com/identity/claims/objectidentifier","val":"oid-1"},{"typ":"preferred_username","val":"ada@example.org"}],"name_typ":"preferred_username"}"#));
        let found = caller(&headers).unwrap();
        assert_eq!(found.subject, "oid-1");
        assert_eq!(found.name.as_deref(), Some("ada@example.org"));
    }

    #[test]
    fn missing_or_broken_principals_are_refused() {
        assert_eq!(caller(&HeaderMap::new()), Err(AuthError::NoPrincipal));
        let mut headers = HeaderMap::new();
        headers.insert(PRINCIPAL, HeaderValue::from_static("%%%"));
        assert!(matches!(caller(&headers), Err(AuthError::BadPrincipal(_))));
        headers.insert(PRINCIPAL, encoded("[1,2]"));
        assert!(matches!(caller(&headers), Err(AuthError::BadPrincipal(_))));
        headers.insert(PRINCIPAL, encoded(r#"{"claims":[]}"#));
        assert!(matches!(caller(&headers), Err(AuthError::BadPrincipal(_))));
    }
}
