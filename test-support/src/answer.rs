//! One HTTP answer as a test looks at it, whoever sent it: a router called in-process (the
//! services' own tests), reqwest against a running pair, or a raw socket ([`crate::raw_http`]).

use http::HeaderMap;
use serde_json::Value;

/// The content type of every problem body (RFC 9457).
pub const PROBLEM: &str = "application/problem+json";

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    /// The body as JSON; panics, quoting the body, if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// The body as JSON, or `null` where it is empty or not JSON.
    pub fn body(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    /// A problem body with a detail that says something.
    pub fn is_problem(&self) -> bool {
        self.content_type() == Some(PROBLEM)
            && self.body()["detail"]
                .as_str()
                .is_some_and(|detail| !detail.is_empty())
    }

    /// Asserts a problem body with this status (a number or an `http::StatusCode`) whose
    /// detail contains `detail`.
    pub fn assert_problem<S: std::fmt::Debug>(&self, status: S, detail: &str)
    where
        u16: PartialEq<S>,
    {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(self.content_type(), Some(PROBLEM), "{}", self.text);
        let body = self.json();
        let found = body["detail"].as_str().unwrap_or_default();
        assert!(
            found.contains(detail),
            "expected a detail containing {detail:?}, got {found:?}"
        );
    }

    /// The `ETag` header, without its quotes.
    pub fn etag(&self) -> String {
        self.header("etag")
            .expect("an ETag header")
            .trim_matches('"')
            .to_owned()
    }
}
