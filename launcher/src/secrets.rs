//! Secrets made up for one run: API tokens, client secrets, passwords.

/// A fresh random token (API tokens for the local run and the tests).
pub fn random_token() -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("random bytes");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
