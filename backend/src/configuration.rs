use service_kit::settings::ServiceSettings;

use crate::state_store::Consistency;

/// The setting naming the state store component.
pub const STATESTORE: &str = "STATESTORE";

/// Every setting of the backend: a flag, or the environment variable named beside it.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "backend",
    version,
    about = "Saves, reads and deletes keys through a Dapr state store"
)]
pub struct Config {
    #[command(flatten)]
    pub service: ServiceSettings,

    /// Name of the Dapr state store component to use.
    #[arg(long, env = STATESTORE, default_value = "statestore")]
    pub statestore: String,

    /// Consistency asked of the state store on every read and write.
    #[arg(long, env = "STATE_CONSISTENCY", value_enum, default_value_t = Consistency::Strong)]
    pub state_consistency: Consistency,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The backend's settings, each secret set: none shows in `{:?}`.
    #[test]
    fn no_secret_shows_in_the_debug_output_of_the_settings() {
        let config = Config::parse_from([
            "backend",
            "--dapr-api-token",
            "hunter2",
            "--app-api-token",
            "swordfish",
        ]);
        let printed = format!("{config:?}");
        for secret in ["hunter2", "swordfish"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
    }
}
