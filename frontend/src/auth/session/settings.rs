//! The settings of `AUTH_MODE=session`: the app's client at the identity provider, where the
//! provider sends the browser back, and the Dapr state store that keeps the sessions.

use std::time::Duration;

use service_kit::settings::{Secret, parse_duration};

/// The setting naming the session store component.
pub const SESSION_STORE: &str = "SESSION_STORE";

#[derive(clap::Args, Debug, Clone)]
pub struct SessionSettings {
    /// The frontend's client id at the identity provider (`AUTH_MODE=session`).
    #[arg(long, env = "OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,

    /// The client's secret (sent with client_secret_basic). Never logged.
    #[arg(long, env = "OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<Secret>,

    /// The absolute URL of `/auth/callback` as browsers reach it (the ingress's address), the
    /// one redirect URI registered at the provider. `https://`, or `http://` on a loopback
    /// host for local runs: the session cookie is `Secure`.
    #[arg(long, env = "OIDC_REDIRECT_URL")]
    pub oidc_redirect_url: Option<String>,

    /// Scopes asked for at sign-in, space- or comma-separated; `openid` is always asked for.
    #[arg(
        long,
        env = "OIDC_SCOPES",
        default_value = "openid profile offline_access"
    )]
    pub oidc_scopes: String,

    /// The Dapr state store component holding sessions.
    #[arg(long, env = SESSION_STORE, default_value = "sessionstore")]
    pub session_store: String,

    /// How long a session lives at most, whatever the tokens say (its record's `ttlInSeconds`).
    #[arg(long, env = "SESSION_TTL", default_value = "480m", value_parser = parse_duration)]
    pub session_ttl: Duration,

    /// 32 random bytes in hex, the secret the session store's records are encrypted with
    /// (Dapr's `primaryEncryptionKey`), from which the app derives its own keys: the sign-in
    /// attempt cookie's and the one the store keys of sessions are hashed with. Never logged.
    #[arg(long, env = "SESSION_ENCRYPTION_KEY", hide_env_values = true)]
    pub session_encryption_key: Option<Secret>,

    /// Port of the sidecar's gRPC API, through which the session store is reached.
    #[arg(long, env = "DAPR_GRPC_PORT", default_value_t = 50001)]
    pub dapr_grpc_port: u16,
}
