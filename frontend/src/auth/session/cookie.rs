//! The session cookie: an opaque random id and nothing else. `__Host-` (so no `Domain`, only
//! `Path=/`, only `Secure`: no subdomain or plain-http page can set or overwrite it), HttpOnly
//! (no script reads it), SameSite=Lax (cross-site requests other than top-level navigations
//! carry none).

use axum::http::{HeaderMap, HeaderValue, header};

use super::is_random_id;

pub const NAME: &str = "__Host-session";

/// Every cookie the browser sent, as (name, value).
pub fn pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .map(|(name, value)| (name.trim(), value.trim()))
}

/// The session id the browser sent, if it looks like one of ours.
pub fn session_id(headers: &HeaderMap) -> Option<String> {
    pairs(headers)
        .find(|(name, _)| *name == NAME)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|id| is_random_id(id))
}

/// `Set-Cookie` for a new session. `Secure` always: browsers treat `http://127.0.0.1` and
/// `http://localhost` as secure contexts, so local runs keep it too.
pub fn set(id: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{NAME}={id}; Path=/; Secure; HttpOnly; SameSite=Lax"
    ))
    .expect("a base64url id is a valid header value")
}

/// `Set-Cookie` that makes the browser forget the session.
pub fn clear() -> HeaderValue {
    HeaderValue::from_static("__Host-session=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_well_formed_id_under_our_name_is_read() {
        let id = "a".repeat(43);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {NAME}={id}; x=y")).unwrap(),
        );
        assert_eq!(session_id(&headers), Some(id.clone()));
        for bad in ["short", &format!("{id}x"), &format!("{}%", &id[1..])] {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::COOKIE,
                HeaderValue::from_str(&format!("{NAME}={bad}")).unwrap(),
            );
            assert_eq!(session_id(&headers), None, "{bad}");
        }
        assert!(set(&id).to_str().unwrap().contains("HttpOnly"));
    }
}
