//! Signing keys (RSA, and ECDSA P-256 for ES256) and tokens. The local identity provider signs with a key made here (so a
//! test can also sign with it: expired, wrong audience, wrong issuer); keys of the tests' own
//! (for "unknown kid"), tampered payloads and `alg: none` show that the app and the sidecar
//! turn each away.
//!
//! Keys and signatures come from aws-lc-rs, the crypto the frontend verifies with through
//! jsonwebtoken, not from jsonwebtoken itself: a token is signed here as RFC 7515 says, so a
//! test does not check the library against its own encoder.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// A signing key with its key id, and its public half as a JWK.
pub struct SigningKey {
    pub kid: String,
    pair: Pair,
    pub jwk: Value,
    private_pem: String,
}

enum Pair {
    /// RS256
    Rsa(KeyPair),
    /// ES256: P-256, the signature as the fixed-size `r || s` JWS wants (RFC 7518 §3.4)
    Ec(EcdsaKeyPair),
}

impl SigningKey {
    /// An RSA key (2048 bits) that signs RS256.
    pub fn generate(kid: &str) -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("an RSA key");
        let public = pair.public_key();
        let jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        });
        let pkcs8 = pair.as_der().expect("PKCS#8 DER");
        Self {
            kid: kid.to_owned(),
            private_pem: pem(pkcs8.as_ref()),
            pair: Pair::Rsa(pair),
            jwk,
        }
    }

    /// An ECDSA P-256 key that signs ES256.
    pub fn generate_es256(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("a P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .expect("the key just made");
        // The public key is the uncompressed point: 0x04, then x and y of 32 bytes each.
        let point = pair.public_key().as_ref();
        let jwk = json!({
            "kty": "EC",
            "use": "sig",
            "alg": "ES256",
            "crv": "P-256",
            "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        Self {
            kid: kid.to_owned(),
            private_pem: pem(pkcs8.as_ref()),
            pair: Pair::Ec(pair),
            jwk,
        }
    }

    /// The private key as PKCS#8 PEM, for the identity provider to sign with.
    pub fn private_pem(&self) -> &str {
        &self.private_pem
    }

    /// A token with these claims signed by this key (RS256 or ES256), its header naming it.
    pub fn sign(&self, claims: &Value) -> String {
        let rng = SystemRandom::new();
        let algorithm = match self.pair {
            Pair::Rsa(_) => "RS256",
            Pair::Ec(_) => "ES256",
        };
        let header = json!({"alg": algorithm, "typ": "JWT", "kid": self.kid});
        let signed = signing_input(&header, claims);
        let signature = match &self.pair {
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, signed.as_bytes(), &mut signature)
                    .expect("an RS256 signature");
                signature
            }
            Pair::Ec(pair) => pair
                .sign(&rng, signed.as_bytes())
                .expect("an ES256 signature")
                .as_ref()
                .to_vec(),
        };
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// PKCS#8 DER as PEM.
fn pem(der: &[u8]) -> String {
    let base64 = STANDARD.encode(der);
    let lines: Vec<&str> = base64
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

/// `header.payload` of a JWS in its compact form: what the signature is over.
fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// `{"keys": [...]}` of these keys, as an issuer serves it.
pub fn key_set(keys: &[&SigningKey]) -> Value {
    json!({ "keys": keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>() })
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs() as i64
}

/// Claims valid for `lifetime_secs` from now (negative: expired that long ago).
pub fn claims(issuer: &str, audience: &str, subject: &str, lifetime_secs: i64) -> Value {
    let now = now();
    json!({
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "name": format!("Test {subject}"),
        "iat": now.min(now + lifetime_secs) - 60,
        "exp": now + lifetime_secs,
    })
}

/// The same token with its payload changed (`sub` replaced) and the original signature kept.
pub fn tampered(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url"))
            .expect("JSON");
    payload["sub"] = json!("someone-else");
    let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

/// An unsigned token: header `{"alg":"none"}`, empty signature.
pub fn unsigned(claims: &Value, kid: &str) -> String {
    let header = json!({"alg": "none", "typ": "JWT", "kid": kid});
    format!("{}.", signing_input(&header, claims))
}
