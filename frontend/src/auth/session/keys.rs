//! The app's own keys of the session login, derived (HKDF-SHA256) from `SESSION_ENCRYPTION_KEY`,
//! the secret that also encrypts the session store (Dapr's `primaryEncryptionKey`): one secret
//! to provision and rotate, and each use gets a key of its own, so neither the store's AES key
//! nor one of ours tells anything about another.
//!
//! - the sign-in attempt's cookie is sealed with AES-256-GCM ([`AttemptKey`]);
//! - a session is stored under HMAC-SHA256 of its id ([`SessionKeys::record_key`]), so the
//!   store (its backups, whoever reads the Cosmos DB container) never holds a live cookie value.
//!
//! Crypto from aws-lc-rs, which rustls and jsonwebtoken already bring.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{hkdf, hmac, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// What each derived key is for (HKDF's `info`); a new version of a format gets a new label.
const ATTEMPT_LABEL: &[u8] = b"dapr-pair frontend: sign-in attempt cookie, AES-256-GCM, v1";
const RECORD_LABEL: &[u8] = b"dapr-pair frontend: session record key, HMAC-SHA256, v1";

pub struct SessionKeys {
    pub attempts: AttemptKey,
    record_ids: hmac::Key,
}

/// The AEAD key of sign-in attempt cookies.
pub struct AttemptKey(LessSafeKey);

/// HKDF output length for a 256-bit key.
struct Bits256;

impl hkdf::KeyType for Bits256 {
    fn len(&self) -> usize {
        32
    }
}

impl SessionKeys {
    /// From the secret in hex (64 digits, as `openssl rand -hex 32` makes it and as Dapr's
    /// state encryption takes it). The error never contains the secret.
    pub fn from_hex(secret: &str) -> Result<Self, String> {
        let secret = decode_hex(secret.trim()).ok_or(
            "SESSION_ENCRYPTION_KEY must be 32 bytes in hex (64 digits, e.g. `openssl rand -hex 32`)",
        )?;
        // No salt: the input is already a uniformly random key (RFC 5869 §3.1).
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(&secret);
        let derive = |label: &[u8]| {
            let mut key = [0u8; 32];
            let labels = [label];
            prk.expand(&labels, Bits256)
                .and_then(|okm| okm.fill(&mut key))
                .map(|()| key)
                .map_err(|_| "deriving the session login's keys failed".to_owned())
        };
        let attempts = UnboundKey::new(&AES_256_GCM, &derive(ATTEMPT_LABEL)?)
            .map_err(|_| "making the attempt cookie's key failed".to_owned())?;
        Ok(Self {
            attempts: AttemptKey(LessSafeKey::new(attempts)),
            record_ids: hmac::Key::new(hmac::HMAC_SHA256, &derive(RECORD_LABEL)?),
        })
    }

    /// The store key of the session whose cookie carries `id`: `session-` and the id's
    /// HMAC in base64url. The same on every replica (same secret), and not the id.
    pub fn record_key(&self, id: &str) -> String {
        let tag = hmac::sign(&self.record_ids, id.as_bytes());
        format!("session-{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }
}

impl AttemptKey {
    /// `plain` encrypted and authenticated together with `bound_to` (which is not encrypted,
    /// and must be given again to open it): base64url of nonce, ciphertext and tag.
    pub fn seal(&self, plain: &[u8], bound_to: &str) -> Result<String, String> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce).map_err(|_| "no random nonce".to_owned())?;
        let mut sealed = plain.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(bound_to.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| "sealing failed".to_owned())?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// What [`Self::seal`] sealed with this key and `bound_to`; `None` for anything else
    /// (another key, another `bound_to`, a changed byte, not base64url).
    pub fn open(&self, sealed: &str, bound_to: &str) -> Option<Vec<u8>> {
        let mut bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let mut body = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).ok()?;
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(bound_to.as_bytes()), &mut body)
            .ok()?;
        Some(plain.to_vec())
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const SECRET: &str =
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn the_secret_is_32_bytes_of_hex_and_never_echoed() {
        assert!(SessionKeys::from_hex(SECRET).is_ok());
        for bad in ["", "00", &SECRET[1..], &format!("{}zz", &SECRET[2..]), "é"] {
            let error = SessionKeys::from_hex(bad).err().expect(bad);
            assert!(bad.len() < 8 || !error.contains(bad), "{error}");
        }
    }

    #[test]
    fn a_record_key_is_a_keyed_hash_of_the_id_not_the_id() {
        let keys = SessionKeys::from_hex(SECRET).unwrap();
        let id = "a".repeat(43);
        let key = keys.record_key(&id);
        assert!(key.starts_with("session-"), "{key}");
        assert!(!key.contains(&id), "{key}");
        assert_eq!(key, keys.record_key(&id), "the same on every replica");
        assert_ne!(key, keys.record_key(&"b".repeat(43)));
        let other = SessionKeys::from_hex(&SECRET.replace('0', "1")).unwrap();
        assert_ne!(key, other.record_key(&id), "keyed by the secret");
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_binding_and_unchanged() {
        let keys = SessionKeys::from_hex(SECRET).unwrap();
        let sealed = keys.attempts.seal(b"verifier", "state-1").unwrap();
        assert!(!sealed.contains("verifier"));
        assert_eq!(
            keys.attempts.open(&sealed, "state-1").as_deref(),
            Some(&b"verifier"[..])
        );
        assert_eq!(keys.attempts.open(&sealed, "state-2"), None);
        let other = SessionKeys::from_hex(&SECRET.replace('0', "1")).unwrap();
        assert_eq!(other.attempts.open(&sealed, "state-1"), None);
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(keys.attempts.open(&tampered, "state-1"), None);
        for junk in ["", "%%%", "AAAA"] {
            assert_eq!(keys.attempts.open(junk, "state-1"), None, "{junk}");
        }
    }
}
