//! What tests need to stand in for an identity provider's keys: RSA signing keys with their
//! JWKs, and tokens signed with them, valid or broken in the ways an attacker would try.

pub mod tokens;
