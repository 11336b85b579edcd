//! What a state key may be. Dapr stores a key as `<app id>||<key>`, so `||` inside a key would
//! be ambiguous; control characters break logs and URLs; 512 characters is a generous bound
//! that every Dapr state store (Cosmos DB ids: 1,023 bytes) can hold.
//!
//! A saved key must also be one `GET`/`DELETE /state/{key}` can name, through the frontend's
//! `/call` and daprd: a path below `/state/`. So no empty, `.` or `..` segment (a path does not
//! keep them: `..` was written, then read by daprd as an invocation, never found), and no `%`,
//! `?`, `#` or `\`, which `/call` refuses in a method because daprd decodes a path before the
//! backend decodes it again (`%25` read as `%`, `%3F` as a query).

use service_kit::Problem;

pub const MAX_KEY_CHARS: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateKey(String);

impl StateKey {
    pub fn parse(key: String) -> Result<Self, Problem> {
        let length = key.chars().count();
        if length == 0 {
            return Err(Problem::bad_request(
                "the key is empty; it must be 1 to 512 characters",
            ));
        }
        if length > MAX_KEY_CHARS {
            return Err(Problem::bad_request(format!(
                "the key is {length} characters long; at most {MAX_KEY_CHARS} are allowed"
            )));
        }
        if key.chars().any(char::is_control) {
            return Err(Problem::bad_request("the key contains a control character"));
        }
        if key.contains("||") {
            return Err(Problem::bad_request(
                "the key contains '||', which Dapr uses to separate the app id from the key",
            ));
        }
        if key.contains(['%', '?', '#', '\\']) {
            return Err(Problem::bad_request(
                "the key contains '%', '?', '#' or '\\', which no path /state/{key} can carry through Dapr",
            ));
        }
        if key
            .split('/')
            .any(|segment| segment.is_empty() || segment == "." || segment == "..")
        {
            return Err(Problem::bad_request(
                "the key has an empty, '.' or '..' segment between slashes, which no path /state/{key} keeps",
            ));
        }
        Ok(Self(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(key: &str) -> String {
        StateKey::parse(key.to_owned()).unwrap_err().detail
    }

    #[test]
    fn accepts_ordinary_keys_up_to_512_characters() {
        for key in [
            "mykey",
            "a/b",
            "order 42",
            "ключ",
            "a.b",
            "...",
            &"é".repeat(512),
        ] {
            assert_eq!(StateKey::parse(key.to_owned()).unwrap().as_str(), key);
        }
    }

    #[test]
    fn rejects_empty_long_control_and_separator_keys() {
        assert!(rejected("").contains("empty"));
        assert!(rejected(&"k".repeat(513)).contains("513 characters"));
        assert!(rejected("a\nb").contains("control character"));
        assert!(rejected("a\u{7f}b").contains("control character"));
        assert!(rejected("app||key").contains("'||'"));
    }

    #[test]
    fn rejects_keys_no_path_can_name() {
        for key in [".", "..", "a/..", "./a", "a//b", "/a", "a/"] {
            assert!(rejected(key).contains("segment"), "{key:?}");
        }
        for key in ["100%", "a?b", "a#b", "a\\b", "%2E%2E"] {
            assert!(rejected(key).contains("'%', '?', '#'"), "{key:?}");
        }
    }
}
