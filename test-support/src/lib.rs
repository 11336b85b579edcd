//! What the tests of every crate share: RSA signing keys with their JWKs and tokens signed
//! with them, valid or broken in the ways an attacker would try ([`tokens`]); one HTTP answer
//! and its checks ([`answer`]); and HTTP/1.1 by hand on a raw socket ([`raw_http`]).

pub mod answer;
pub mod raw_http;
pub mod tokens;

pub use answer::Answer;
