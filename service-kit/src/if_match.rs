//! The `If-Match` header as an extractor of its own: the handlers that pass it on or check it
//! need that one header, and axum's `HeaderMap` extractor clones every header of every request
//! (seen in the apps' profiles, docs/benchmark.md). What the value may be is each app's
//! business.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};

/// The request's `If-Match` (the first, if it came twice), unchecked.
pub struct IfMatch(pub Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(IfMatch(parts.headers.get(header::IF_MATCH).cloned()))
    }
}
