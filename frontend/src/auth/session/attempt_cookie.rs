//! A sign-in attempt kept in the browser that started it, not in the store: one cookie per
//! attempt, `__Host-signin-<state>`, its value the attempt (PKCE verifier, nonce, return path,
//! when it began) sealed with the app's key and bound to that `state`.
//!
//! - The callback needs the cookie of its `state` (RFC 6749 §10.12, RFC 9700 §4.7.1): a
//!   callback URL opened in another browser (login CSRF) has none and signs nobody in.
//! - An anonymous `GET /auth/login` costs no store write: nothing is stored before the
//!   provider has answered and the code is exchanged.
//! - One cookie per `state`, so two tabs signing in at once each find their own; at most
//!   [`MAX_ATTEMPTS`] (and [`BUDGET`] bytes) per browser, the oldest dropped first, so that
//!   the `Cookie` header stays under proxies' limits (nginx: 8 KB a line by default).
//!
//! `__Host-` (only `Path=/`, `Secure`, no `Domain`), HttpOnly, SameSite=Lax: the provider sends
//! the browser back with a top-level GET, which carries Lax cookies.

use axum::http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

use super::cookie;
use super::keys::AttemptKey;
use super::records::{LoginAttempt, now};
use super::{ATTEMPT_TTL, is_random_id};

pub const PREFIX: &str = "__Host-signin-";
/// Sign-ins one browser may have in progress at once (tabs); a fourth drops the oldest.
pub const MAX_ATTEMPTS: usize = 3;
/// Bytes of all attempt cookies of a browser together (a return path may be 2 KB).
pub const BUDGET: usize = 6000;

/// What is sealed: the attempt and when it began (the cookie's `Max-Age` is the browser's to
/// keep; this is ours to check).
#[derive(Serialize, Deserialize)]
struct Sealed {
    attempt: LoginAttempt,
    created_at: u64,
}

fn name(state: &str) -> String {
    format!("{PREFIX}{state}")
}

/// The cookie of a new attempt under `state` (name and value, `name=value`).
pub fn make(key: &AttemptKey, state: &str, attempt: LoginAttempt) -> Result<String, String> {
    let plain = serde_json::to_vec(&Sealed {
        attempt,
        created_at: now(),
    })
    .map_err(|e| format!("encoding the attempt: {e}"))?;
    Ok(format!("{}={}", name(state), key.seal(&plain, state)?))
}

/// `Set-Cookie` of a cookie made by [`make`].
pub fn set(cookie: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{cookie}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Lax",
        ATTEMPT_TTL.as_secs()
    ))
    .ok()
}

/// `Set-Cookie` that makes the browser forget the attempt cookie called `cookie_name`.
fn clear_named(cookie_name: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{cookie_name}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax"
    ))
    .ok()
}

/// `Set-Cookie` that makes the browser forget the attempt of `state`.
pub fn clear(state: &str) -> Option<HeaderValue> {
    clear_named(&name(state))
}

/// The attempt of `state` this browser holds: sealed by us for this `state`, not older than
/// [`ATTEMPT_TTL`]. `None` for anything else.
pub fn find(key: &AttemptKey, headers: &HeaderMap, state: &str) -> Option<LoginAttempt> {
    let wanted = name(state);
    cookie::pairs(headers)
        .filter(|(name, _)| *name == wanted)
        .find_map(|(_, value)| open(key, value, state))
}

fn open(key: &AttemptKey, value: &str, state: &str) -> Option<LoginAttempt> {
    let plain = key.open(value, state)?;
    let sealed: Sealed = serde_json::from_slice(&plain).ok()?;
    let age = now().saturating_sub(sealed.created_at);
    (age <= ATTEMPT_TTL.as_secs()).then_some(sealed.attempt)
}

/// `Set-Cookie`s that drop this browser's older attempts so that, with a new one of
/// `new_len` bytes, it keeps at most [`MAX_ATTEMPTS`] and [`BUDGET`] bytes; attempt cookies
/// that are not ours or have expired are dropped too.
pub fn make_room(key: &AttemptKey, headers: &HeaderMap, new_len: usize) -> Vec<HeaderValue> {
    let mut kept: Vec<(u64, &str, usize)> = Vec::new();
    let mut dropped: Vec<&str> = Vec::new();
    for (cookie_name, value) in cookie::pairs(headers) {
        let Some(state) = cookie_name.strip_prefix(PREFIX) else {
            continue;
        };
        let created_at = is_random_id(state)
            .then(|| key.open(value, state))
            .flatten()
            .and_then(|plain| serde_json::from_slice::<Sealed>(&plain).ok())
            .map(|sealed| sealed.created_at)
            .filter(|created_at| now().saturating_sub(*created_at) <= ATTEMPT_TTL.as_secs());
        match created_at {
            Some(created_at) => {
                kept.push((created_at, cookie_name, cookie_name.len() + value.len()))
            }
            None => dropped.push(cookie_name),
        }
    }
    // Newest first; keep while there is room next to the new one.
    kept.sort_by_key(|(created_at, _, _)| std::cmp::Reverse(*created_at));
    let (mut count, mut bytes) = (1, new_len);
    for (_, cookie_name, len) in kept {
        if count < MAX_ATTEMPTS && bytes + len <= BUDGET {
            count += 1;
            bytes += len;
        } else {
            dropped.push(cookie_name);
        }
    }
    dropped.into_iter().filter_map(clear_named).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::session::keys::SessionKeys;
    use crate::auth::session::keys::tests::SECRET;
    use axum::http::header;

    fn attempt(return_to: &str) -> LoginAttempt {
        LoginAttempt {
            pkce_verifier: "verifier".to_owned(),
            nonce: "nonce".to_owned(),
            return_to: return_to.to_owned(),
        }
    }

    fn state(n: u8) -> String {
        char::from(b'A' + n).to_string().repeat(43)
    }

    fn sent(cookies: &[String]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&cookies.join("; ")).unwrap(),
        );
        headers
    }

    #[test]
    fn an_attempt_is_found_under_its_own_state_only() {
        let keys = SessionKeys::from_hex(SECRET).unwrap();
        let one = make(&keys.attempts, &state(1), attempt("/one")).unwrap();
        let two = make(&keys.attempts, &state(2), attempt("/two")).unwrap();
        assert!(!one.contains("verifier") && !one.contains("/one"), "{one}");
        let headers = sent(&["other=x".to_owned(), one.clone(), two]);
        assert_eq!(
            find(&keys.attempts, &headers, &state(1)).unwrap().return_to,
            "/one"
        );
        assert_eq!(
            find(&keys.attempts, &headers, &state(2)).unwrap().return_to,
            "/two"
        );
        assert!(find(&keys.attempts, &headers, &state(3)).is_none());
        // One state's sealed value under another state's name does not open.
        let moved = one.replacen(&state(1), &state(3), 1);
        assert!(find(&keys.attempts, &sent(&[moved]), &state(3)).is_none());
        let set = set(&one).unwrap();
        let set = set.to_str().unwrap();
        for attribute in [
            "Path=/;",
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
            "Max-Age=600",
        ] {
            assert!(set.contains(attribute), "{set}");
        }
    }

    #[test]
    fn a_browser_keeps_a_bounded_set_of_attempts() {
        let keys = SessionKeys::from_hex(SECRET).unwrap();
        let cookies: Vec<String> = (1..=4)
            .map(|n| make(&keys.attempts, &state(n), attempt("/")).unwrap())
            .collect();
        let mut with_junk = cookies.clone();
        with_junk.push(format!("{PREFIX}{}=junk", state(9)));
        let cleared = make_room(&keys.attempts, &sent(&with_junk), 200);
        // Four of ours (one second apart at most, so any two may be dropped) and the junk:
        // room for two besides the new one.
        assert_eq!(cleared.len(), 3, "{cleared:?}");
        assert!(cleared.iter().any(|c| {
            c.to_str()
                .unwrap()
                .starts_with(&format!("{PREFIX}{}=;", state(9)))
        }));
        assert!(make_room(&keys.attempts, &sent(&cookies[..2]), 200).is_empty());
        // A long return path counts against the bytes.
        let long = make(
            &keys.attempts,
            &state(5),
            attempt(&format!("/{}", "x".repeat(2040))),
        )
        .unwrap();
        assert_eq!(
            make_room(
                &keys.attempts,
                &sent(std::slice::from_ref(&long)),
                long.len()
            )
            .len(),
            0
        );
        let both = sent(&[
            long.clone(),
            make(
                &keys.attempts,
                &state(6),
                attempt(&format!("/{}", "y".repeat(2040))),
            )
            .unwrap(),
        ]);
        assert_eq!(make_room(&keys.attempts, &both, long.len()).len(), 1);
    }
}
