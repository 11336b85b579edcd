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
