//! Settings both services take, as command-line flags with environment fallbacks. Each service
//! flattens [`ServiceSettings`] into its own `Config`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::telemetry::{LogFormat, SamplingSettings};

#[derive(clap::Args, Debug, Clone)]
pub struct ServiceSettings {
    /// Address the app listens on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,

    /// Port the app listens on (Dapr's --app-port). 0 picks a free one.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,

    /// Host of the Dapr sidecar's HTTP API.
    #[arg(long, env = "DAPR_HOST", default_value = "127.0.0.1")]
    pub dapr_host: String,

    /// Port of the Dapr sidecar's HTTP API (daprd --dapr-http-port).
    #[arg(long, env = "DAPR_HTTP_PORT", default_value_t = 3500)]
    pub dapr_http_port: u16,

    /// Token the app sends to its sidecar as `dapr-api-token` (daprd's DAPR_API_TOKEN).
    #[arg(long, env = "DAPR_API_TOKEN", hide_env_values = true)]
    pub dapr_api_token: Option<Secret>,

    /// Token the sidecar sends to the app; when set, requests without it get 401 (daprd's APP_API_TOKEN).
    #[arg(long, env = "APP_API_TOKEN", hide_env_values = true)]
    pub app_api_token: Option<Secret>,

    /// Whether a set APP_API_TOKEN is enforced. Turn off only where the platform's ingress
    /// reaches the app without going through the sidecar (the frontend on Container Apps).
    #[arg(long, env = "REQUIRE_APP_API_TOKEN", default_value_t = true, action = clap::ArgAction::Set)]
    pub require_app_api_token: bool,

    /// Timeout of one call to the sidecar.
    #[arg(long, env = "SIDECAR_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub sidecar_timeout: Duration,

    /// How long start-up waits for the sidecar to answer before the app gives up.
    #[arg(long, env = "SIDECAR_WAIT", default_value = "60s", value_parser = parse_duration)]
    pub sidecar_wait: Duration,

    /// The old names of the two above, still accepted: `SIDECAR_TIMEOUT_MS` in milliseconds,
    /// `SIDECAR_WAIT_SECS` in seconds.
    #[arg(long, env = "SIDECAR_TIMEOUT_MS", hide = true)]
    #[arg(conflicts_with = "sidecar_timeout")]
    pub sidecar_timeout_ms: Option<u64>,
    #[arg(long, env = "SIDECAR_WAIT_SECS", hide = true)]
    #[arg(conflicts_with = "sidecar_wait")]
    pub sidecar_wait_secs: Option<u64>,

    /// How long a connection may take to send a request's headers: from the moment it is
    /// opened, or from the first byte of a later request on it. Then it is closed (slowloris).
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,

    /// How long a kept-alive connection may wait between requests before it is closed. Longer
    /// than daprd's own idle timeout to the app (Go's 90 s), so daprd closes first and never
    /// sends a request down a connection the app is closing.
    #[arg(long, env = "IDLE_TIMEOUT", default_value = "120s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// The longest a request may take, its body included, once its headers are in: a body still
    /// arriving then gets 408, a request still being worked on 503.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Connections open at once; one more is answered 503 and closed.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// On SIGTERM, how long the app keeps serving, with `/readyz` answering 503, before it stops
    /// accepting: the time the platform takes to stop routing to it (see `shutdown.rs`).
    /// Ctrl-C skips it.
    #[arg(long, env = "SHUTDOWN_DELAY", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_delay: Duration,

    /// Once it stops accepting, how long requests in flight may take to finish before the app
    /// exits anyway.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Port of the Prometheus `/metrics` endpoint, apart from the app's port. 0 picks a free one.
    #[arg(long, env = "METRICS_PORT", default_value_t = 9464)]
    pub metrics_port: u16,

    /// Threads serving requests. 1, the default, is a single-threaded runtime: an app's work per
    /// request is small next to its sidecar's, and it runs on a fraction of a core (Container
    /// Apps, the AKS limits), where more threads only add wake-ups between them.
    #[arg(long, env = "WORKER_THREADS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub worker_threads: u16,

    /// Log format: `json`, `text`, or `auto` (JSON unless stdout is a terminal).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub sampling: SamplingSettings,
}

impl ServiceSettings {
    pub fn listen_address(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    pub fn metrics_address(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.metrics_port)
    }

    pub fn sidecar_url(&self) -> String {
        format!("http://{}:{}", self.dapr_host, self.dapr_http_port)
    }

    /// `SIDECAR_TIMEOUT`, or the old `SIDECAR_TIMEOUT_MS` where that is set instead.
    pub fn sidecar_timeout(&self) -> Duration {
        (self.sidecar_timeout_ms.map(Duration::from_millis)).unwrap_or(self.sidecar_timeout)
    }

    /// `SIDECAR_WAIT`, or the old `SIDECAR_WAIT_SECS` where that is set instead.
    pub fn sidecar_wait(&self) -> Duration {
        (self.sidecar_wait_secs.map(Duration::from_secs)).unwrap_or(self.sidecar_wait)
    }

    /// The app token to check on incoming requests, if it is to be checked.
    pub fn enforced_app_token(&self) -> Option<&Secret> {
        self.app_api_token
            .as_ref()
            .filter(|_| self.require_app_api_token)
    }
}

/// A duration setting, as every one is written: a humantime string (`500ms`, `10s`, `2m`,
/// `1h 30m`), or a bare number of seconds (`10`), as the settings took before.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) {
        return text
            .parse()
            .map(Duration::from_secs)
            .map_err(|error| format!("{text:?}: {error}"));
    }
    humantime::parse_duration(text)
        .map_err(|error| format!("{text:?} is not a duration such as 10s or 500ms: {error}"))
}

/// A token or password: printed as `[redacted]` so it never reaches a log line, zeroed in
/// memory when dropped (`secrecy`), and with no `==`: a comparison of secrets is written where
/// it happens, in constant time (see `app_token.rs`).
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(SecretString::from(value))
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(SecretString::from(s)))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Config {
        #[command(flatten)]
        service: ServiceSettings,
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let config = Config::parse_from([
            "app",
            "--dapr-api-token",
            "hunter2",
            "--app-api-token",
            "swordfish",
        ]);
        let printed = format!("{:?}", config.service);
        assert!(
            !printed.contains("hunter2") && !printed.contains("swordfish"),
            "{printed}"
        );
        assert_eq!(config.service.dapr_api_token.unwrap().expose(), "hunter2");
        let secret = Secret::from("hunter2".to_owned());
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(secret.clone().expose(), "hunter2");
    }

    #[test]
    fn durations_take_a_unit_or_bare_seconds() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        for wrong in ["", "s", "ten", "10x", "-1s", "1,5s"] {
            assert!(parse_duration(wrong).is_err(), "{wrong:?}");
        }
        let defaults = Config::parse_from(["app"]).service;
        assert_eq!(
            (
                defaults.header_read_timeout,
                defaults.idle_timeout,
                defaults.request_timeout,
                defaults.shutdown_delay,
                defaults.shutdown_timeout,
                defaults.max_connections
            ),
            (
                Duration::from_secs(10),
                Duration::from_secs(120),
                Duration::from_secs(30),
                Duration::from_secs(5),
                Duration::from_secs(10),
                512
            )
        );
    }

    #[test]
    fn the_sidecar_durations_take_their_old_names_in_ms_and_secs_too() {
        let defaults = Config::parse_from(["app"]).service;
        assert_eq!(
            (defaults.sidecar_timeout(), defaults.sidecar_wait()),
            (Duration::from_secs(10), Duration::from_secs(60))
        );
        let new = Config::parse_from(["app", "--sidecar-timeout", "3s", "--sidecar-wait", "2m"]);
        assert_eq!(
            (new.service.sidecar_timeout(), new.service.sidecar_wait()),
            (Duration::from_secs(3), Duration::from_secs(120))
        );
        let old = Config::parse_from([
            "app",
            "--sidecar-timeout-ms",
            "2500",
            "--sidecar-wait-secs",
            "7",
        ]);
        assert_eq!(
            (old.service.sidecar_timeout(), old.service.sidecar_wait()),
            (Duration::from_millis(2500), Duration::from_secs(7))
        );
        assert!(
            Config::try_parse_from([
                "app",
                "--sidecar-timeout",
                "3s",
                "--sidecar-timeout-ms",
                "2500"
            ])
            .is_err(),
            "the two names of one setting, both set"
        );
    }

    #[test]
    fn the_app_token_is_enforced_unless_turned_off() {
        let enforced = Config::parse_from(["app", "--app-api-token", "t"]);
        assert!(enforced.service.enforced_app_token().is_some());
        let off = Config::parse_from([
            "app",
            "--app-api-token",
            "t",
            "--require-app-api-token",
            "false",
        ]);
        assert!(off.service.enforced_app_token().is_none());
    }
}
