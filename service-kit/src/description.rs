//! What a service says of itself (`dapr-pair describe`): its routes, its settings, what each
//! auth mode needs, and the Dapr APIs and state stores it calls. The deploy checks read this
//! rather than the source text, so each part comes from what the app runs with: settings from
//! clap's own definition of them, routes and Dapr APIs from the tables the code uses (and that
//! each crate's tests hold against its router and its calls).

use std::collections::BTreeMap;

use axum::http::Method;
use clap::CommandFactory;
use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};

use crate::health;

/// One route of a router: its path as axum reads it (`/state/{*key}`) and its methods.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Route {
    pub path: &'static str,
    #[serde(serialize_with = "method_names")]
    pub methods: &'static [Method],
}

/// An auth mode's name as its setting takes it (`session`), or every mode when `None`.
pub type Modes = Option<&'static [&'static str]>;

/// A Dapr API the service calls: over HTTP its path's API part (`/v1.0/state`), over gRPC the
/// method (`/dapr.proto.runtime.v1.Dapr/GetState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "protocol", rename_all = "lowercase")]
pub enum DaprApi {
    Http { path: &'static str },
    Grpc { method: &'static str },
}

/// The service as the deploy checks see it.
#[derive(Debug, Serialize)]
pub struct Description {
    pub routes: Vec<DescribedRoute>,
    /// The liveness and readiness probes' paths.
    pub probes: Probes,
    pub settings: Vec<Setting>,
    /// Per auth mode (`"*"`: any), the settings start-up refuses to go without.
    pub required_settings: BTreeMap<&'static str, Vec<&'static str>>,
    pub dapr_apis: Vec<DescribedApi>,
    pub state_stores: Vec<StateStore>,
}

#[derive(Debug, Serialize)]
pub struct DescribedRoute {
    #[serde(flatten)]
    pub route: Route,
    /// The auth modes it exists in; absent: every one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_modes: Modes,
    /// A health probe's route, which every service has (the platform's, not a client's).
    pub probe: bool,
}

#[derive(Debug, Serialize)]
pub struct Probes {
    pub liveness: &'static str,
    pub readiness: &'static str,
}

/// One setting: its environment variable, its flag, its default, and whether its value is a
/// secret (clap's `hide_env_values`, which every secret setting sets so `--help` never shows
/// its value).
#[derive(Debug, Serialize)]
pub struct Setting {
    pub env: String,
    pub flag: Option<String>,
    pub default: Option<String>,
    pub secret: bool,
}

#[derive(Debug, Serialize)]
pub struct DescribedApi {
    #[serde(flatten)]
    pub api: DaprApi,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_modes: Modes,
}

/// A state store the service uses: the setting naming its component, and that setting's default.
#[derive(Debug, Serialize)]
pub struct StateStore {
    pub setting: &'static str,
    pub default: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_modes: Modes,
}

impl Description {
    /// A service with the settings of `Config` and the health routes every service has.
    pub fn new<Config: CommandFactory>() -> Self {
        Self {
            routes: health::ROUTES
                .iter()
                .map(|route| DescribedRoute::new(route, None, true))
                .collect(),
            probes: Probes {
                liveness: health::LIVENESS,
                readiness: health::READINESS,
            },
            settings: settings::<Config>(),
            required_settings: BTreeMap::new(),
            dapr_apis: vec![DescribedApi {
                api: crate::sidecar::HEALTH_API,
                auth_modes: None,
            }],
            state_stores: Vec::new(),
        }
    }

    pub fn routes(mut self, routes: &[Route], auth_modes: Modes) -> Self {
        let described = routes
            .iter()
            .map(|route| DescribedRoute::new(route, auth_modes, false));
        self.routes.extend(described);
        self
    }

    pub fn dapr_apis(mut self, apis: &[DaprApi], auth_modes: Modes) -> Self {
        let described = apis.iter().map(|&api| DescribedApi { api, auth_modes });
        self.dapr_apis.extend(described);
        self
    }

    pub fn required(mut self, auth_mode: &'static str, settings: &[&'static str]) -> Self {
        self.required_settings
            .entry(auth_mode)
            .or_default()
            .extend(settings);
        for names in self.required_settings.values_mut() {
            names.sort_unstable();
            names.dedup();
        }
        self
    }

    /// The state store named by the setting `env` (its default from the settings).
    ///
    /// # Panics
    /// If `env` is not one of the settings: the description would name a store nothing sets.
    pub fn state_store(mut self, env: &'static str, auth_modes: Modes) -> Self {
        let setting = self.setting(env);
        let default = setting
            .unwrap_or_else(|| panic!("{env} is not a setting"))
            .default
            .clone();
        self.state_stores.push(StateStore {
            setting: env,
            default,
            auth_modes,
        });
        self
    }

    pub fn setting(&self, env: &str) -> Option<&Setting> {
        self.settings.iter().find(|setting| setting.env == env)
    }
}

impl DescribedRoute {
    fn new(route: &Route, auth_modes: Modes, probe: bool) -> Self {
        Self {
            route: *route,
            auth_modes,
            probe,
        }
    }
}

/// Every setting `Config` reads from the environment, as clap defines it.
fn settings<Config: CommandFactory>() -> Vec<Setting> {
    Config::command()
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_str()?.to_owned();
            let default = match arg.get_default_values() {
                [] => None,
                values => Some(
                    values
                        .iter()
                        .map(|value| value.to_string_lossy())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
            };
            Some(Setting {
                env,
                flag: arg.get_long().map(|long| format!("--{long}")),
                default,
                secret: arg.is_hide_env_values_set(),
            })
        })
        .collect()
}

fn method_names<S: Serializer>(methods: &&[Method], serializer: S) -> Result<S::Ok, S::Error> {
    let mut seq = serializer.serialize_seq(Some(methods.len()))?;
    for method in methods.iter() {
        seq.serialize_element(method.as_str())?;
    }
    seq.end()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::ServiceSettings;

    #[derive(clap::Parser)]
    struct Config {
        #[command(flatten)]
        service: ServiceSettings,
    }

    #[test]
    fn settings_come_from_clap_with_their_defaults_flags_and_secrets() {
        let description = Description::new::<Config>();
        let timeout = description.setting("SHUTDOWN_TIMEOUT").unwrap();
        assert_eq!(timeout.default.as_deref(), Some("10s"));
        assert_eq!(timeout.flag.as_deref(), Some("--shutdown-timeout"));
        assert!(!timeout.secret);
        assert!(description.setting("DAPR_API_TOKEN").unwrap().secret);
        assert_eq!(
            description.setting("PORT").unwrap().default.as_deref(),
            Some("8080")
        );
    }

    #[test]
    fn the_json_names_methods_and_leaves_out_modes_that_are_every_mode() {
        let json = serde_json::to_value(Description::new::<Config>()).unwrap();
        assert_eq!(json["routes"][0]["path"], health::LIVENESS);
        assert_eq!(json["routes"][0]["methods"], serde_json::json!(["GET"]));
        assert!(json["routes"][0].get("auth_modes").is_none());
        assert_eq!(json["dapr_apis"][0]["protocol"], "http");
        assert_eq!(json["dapr_apis"][0]["path"], "/v1.0/healthz");
    }
}
