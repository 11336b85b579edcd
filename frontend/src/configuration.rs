use service_kit::settings::ServiceSettings;

use crate::allowlist::Allowlist;
use crate::auth::AuthSettings;

/// Every setting of the frontend: a flag, or the environment variable named beside it.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "frontend",
    version,
    about = "Forwards allowlisted calls to other apps over Dapr service invocation"
)]
pub struct Config {
    #[command(flatten)]
    pub service: ServiceSettings,

    /// Which app ids and methods `/call` may invoke: comma-separated `appId:method` rules,
    /// where a method ending in `/*` allows anything below it and `*` allows every method.
    #[arg(long, env = "CALL_ALLOWLIST", default_value = Allowlist::DEFAULT)]
    pub call_allowlist: Allowlist,

    #[command(flatten)]
    pub auth: AuthSettings,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// Every settings type of the frontend, each secret set: none shows in `{:?}`.
    #[test]
    fn no_secret_shows_in_the_debug_output_of_the_settings() {
        let config = Config::parse_from([
            "frontend",
            "--dapr-api-token",
            "hunter2",
            "--app-api-token",
            "swordfish",
            "--oidc-client-secret",
            "correct-horse",
        ]);
        for printed in [
            format!("{config:?}"),
            format!("{:?}", config.service),
            format!("{:?}", config.auth),
        ] {
            for secret in ["hunter2", "swordfish", "correct-horse"] {
                assert!(!printed.contains(secret), "{secret} in {printed}");
            }
        }
        assert_eq!(
            config.auth.session.oidc_client_secret.unwrap().expose(),
            "correct-horse"
        );
    }
}
