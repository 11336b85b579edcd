//! The frontend's authentication settings: `AUTH_MODE`, the issuer and audience of accepted
//! tokens, and how they are checked.

use jsonwebtoken::Algorithm;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    Jwt,
    Session,
    Easyauth,
    Off,
}

/// The authentication settings of the frontend.
#[derive(clap::Args, Debug, Clone)]
pub struct AuthSettings {
    /// How callers are identified: `jwt` (bearer tokens), `session` (browsers sign in with
    /// the app, sessions in a Dapr state store; bearer tokens on `/call`), `easyauth`
    /// (Container Apps' built-in auth headers) or `off` (nobody is checked; logged as a warning).
    #[arg(long, env = "AUTH_MODE", value_enum, default_value_t = AuthMode::Jwt)]
    pub auth_mode: AuthMode,

    /// The OpenID issuer whose tokens are accepted (the `iss` claim, exactly); its keys are
    /// found through `<issuer>/.well-known/openid-configuration`.
    #[arg(long, env = "OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,

    /// The audience a token must be for (its `aud` claim).
    #[arg(long, env = "OIDC_AUDIENCE")]
    pub oidc_audience: Option<String>,

    /// Signature algorithms accepted, comma-separated. Only asymmetric ones (RS*, PS*, ES*,
    /// EdDSA): an HMAC secret has no place in a public key set, and `none` is never accepted.
    #[arg(long, env = "JWT_ALGORITHMS", default_value = "RS256", value_delimiter = ',', value_parser = parse_algorithm)]
    pub jwt_algorithms: Vec<Algorithm>,

    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    #[arg(long, env = "JWT_LEEWAY_SECS", default_value_t = 30)]
    pub jwt_leeway_secs: u64,

    /// The issuer's key set is fetched again for an unknown `kid` at most this often, in
    /// seconds, so tokens with made-up key ids cannot make the app hammer the issuer.
    #[arg(long, env = "JWKS_MIN_REFRESH_SECS", default_value_t = 60)]
    pub jwks_min_refresh_secs: u64,

    #[command(flatten)]
    pub session: super::session::SessionSettings,
}

fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    let algorithm: Algorithm = name
        .trim()
        .parse()
        .map_err(|_| format!("{name:?} is not a JWT signature algorithm"))?;
    match algorithm {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Err(format!(
            "{name} is an HMAC algorithm: only asymmetric algorithms are accepted"
        )),
        _ => Ok(algorithm),
    }
}

/// For the auth modules' tests: settings from command-line arguments.
#[cfg(test)]
pub(super) mod testing {
    use clap::Parser;

    use super::AuthSettings;

    #[derive(Parser)]
    struct Config {
        #[command(flatten)]
        auth: AuthSettings,
    }

    pub(in crate::auth) fn settings(args: &[&str]) -> Result<AuthSettings, clap::Error> {
        Config::try_parse_from(std::iter::once("app").chain(args.iter().copied())).map(|c| c.auth)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::settings;
    use super::*;

    #[test]
    fn hmac_and_none_are_refused_as_algorithms() {
        for bad in ["HS256", "none", "RS999"] {
            assert!(settings(&["--jwt-algorithms", bad]).is_err(), "{bad}");
        }
        let ok = settings(&["--jwt-algorithms", "RS256,ES256"]).unwrap();
        assert_eq!(ok.jwt_algorithms, vec![Algorithm::RS256, Algorithm::ES256]);
    }
}
