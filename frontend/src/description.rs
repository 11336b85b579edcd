//! The frontend as `dapr-pair describe` tells it to the deploy checks: from its settings'
//! definition, its route tables, the Dapr APIs its calls are built from, and the settings its
//! start-up needs in each auth mode (held to [`crate::startup::authentication`] below).

use service_kit::description::{Description, Modes};

use crate::auth::authenticator::BEARER_SETTINGS;
use crate::auth::session;
use crate::configuration::Config;
use crate::{invocation, page, routes};

/// What exists only with the session login (`AUTH_MODE=session`).
const SESSION: Modes = Some(&["session"]);

pub fn describe() -> Description {
    Description::new::<Config>()
        .routes(routes::ROUTES, None)
        .routes(page::ROUTES, None)
        .routes(session::routes::ROUTES, SESSION)
        .dapr_apis(&[invocation::INVOKE_API], None)
        .dapr_apis(session::store::DAPR_APIS, SESSION)
        .required("jwt", &BEARER_SETTINGS)
        .required("session", &BEARER_SETTINGS)
        .required("session", &session::REQUIRED_SETTINGS)
        .required("easyauth", &[])
        .required("off", &[])
        .state_store(session::settings::SESSION_STORE, SESSION)
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser, ValueEnum};

    use super::*;
    use crate::auth::AuthMode;
    use crate::startup::authentication;

    /// A value start-up takes for each setting an auth mode may need.
    fn valid(env: &str) -> &'static str {
        match env {
            "OIDC_ISSUER" => "http://127.0.0.1:1/issuer",
            "OIDC_REDIRECT_URL" => "https://pair.example.com/auth/callback",
            "SESSION_ENCRYPTION_KEY" => {
                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
            }
            _ => "dapr-pair",
        }
    }

    fn flag(env: &str) -> String {
        let command = Config::command();
        let arg = command
            .get_arguments()
            .find(|arg| arg.get_env().is_some_and(|name| name == env))
            .unwrap_or_else(|| panic!("{env} is not a setting"));
        format!("--{}", arg.get_long().unwrap())
    }

    /// Each mode starts with exactly its described settings (nothing else is needed), and
    /// refuses to start without any one of them, naming it.
    #[tokio::test]
    async fn each_auth_mode_starts_with_its_required_settings_and_not_without_any_one() {
        let description = describe();
        for (mode, required) in &description.required_settings {
            let args = |without: Option<&str>| {
                let mut args = vec!["frontend".to_owned(), "--auth-mode".into(), (*mode).into()];
                for env in required.iter().filter(|env| Some(**env) != without) {
                    args.extend([flag(env), valid(env).to_owned()]);
                }
                Config::try_parse_from(args).unwrap()
            };
            if let Err(error) = authentication(&args(None)) {
                panic!("{mode} with {required:?}: {error}");
            }
            for name in required {
                let error = authentication(&args(Some(name)))
                    .err()
                    .unwrap_or_else(|| panic!("{mode} started without {name}"));
                assert!(error.contains(name), "{mode} without {name}: {error}");
            }
        }
    }

    /// The modes named are the setting's values, every one of them.
    #[test]
    fn the_auth_modes_described_are_auth_modes_values() {
        let description = describe();
        let named: Vec<_> = AuthMode::value_variants()
            .iter()
            .map(|mode| mode.to_possible_value().unwrap().get_name().to_owned())
            .collect();
        let described: Vec<_> = description.required_settings.keys().copied().collect();
        let mut sorted = named.clone();
        sorted.sort();
        assert_eq!(described, sorted);
        for mode in SESSION.unwrap() {
            assert!(named.iter().any(|name| name == mode), "{mode}");
        }
        assert_eq!(
            description.setting("AUTH_MODE").unwrap().default.as_deref(),
            Some("jwt")
        );
    }
}
