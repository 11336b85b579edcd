//! Sentry, then each app with its daprd: free ports, the shipped Dapr files, logs captured,
//! a readiness wait, and a clean stop.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::process::Command;

use crate::cosmos::{CosmosAuth, CosmosServer};
use crate::dapr::{app_bin_dir, bin_dir, free_port, random_token, repo_root};
use crate::idp::{self, IdentityProvider};
use crate::process::ManagedProcess;

pub(crate) const STOP_GRACE: Duration = Duration::from_secs(10);
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The state store behind the backend's daprd.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StateStore {
    /// `components/local`: Dapr's embedded SQLite store, a file in the run's folder.
    #[default]
    Sqlite,
    /// A shipped Cosmos DB component (`components/azure`), against the Cosmos DB protocol
    /// server of `tests/cosmos` started on loopback for this run.
    Cosmos(CosmosAuth),
}

pub struct TopologyOptions {
    /// Where state, Sentry's certificates and logs go. `None`: a fresh temporary folder,
    /// removed when the topology is dropped.
    pub workdir: Option<PathBuf>,
    /// The frontend app's port; 0 picks a free one.
    pub frontend_port: u16,
    /// An OTLP/gRPC collector (`http://host:port`) for the traces of both apps and both
    /// daprd. `None`: nothing is exported.
    pub otlp_endpoint: Option<String>,
    /// Where the backend's daprd saves: Dapr's SQLite store (the default) or Cosmos DB.
    pub state_store: StateStore,
    /// The login topology: a local identity provider, the frontend with `AUTH_MODE=jwt`, and
    /// its sidecar as the gated entry (OAuth2 login and bearer checks,
    /// `dapr-config/frontend-login.yaml`). Off: the frontend runs with `AUTH_MODE=off`.
    pub login: bool,
    /// The program run as the frontend app. `None`: the project's `frontend` of this build.
    /// The benchmark runs trivial echo apps here to measure what Dapr alone costs.
    pub frontend_program: Option<PathBuf>,
    /// The program run as the backend app. `None`: the project's `backend` of this build.
    pub backend_program: Option<PathBuf>,
}

impl Default for TopologyOptions {
    fn default() -> Self {
        Self {
            workdir: None,
            frontend_port: 0,
            otlp_endpoint: None,
            state_store: StateStore::Sqlite,
            login: false,
            frontend_program: None,
            backend_program: None,
        }
    }
}

/// What every process of one run shares: its folders, Sentry's address and CA, where traces go,
/// and where the backend's daprd finds its state store.
struct RunContext {
    workdir: PathBuf,
    log_dir: PathBuf,
    sentry_address: String,
    trust_anchors: String,
    /// The run's copies of the Dapr Configurations, with daprd's trace exporter pointed at
    /// `otlp_endpoint` (see [`configuration_for_run`]).
    config_dir: PathBuf,
    otlp_endpoint: Option<String>,
    backend_resources: PathBuf,
    /// What the backend's daprd needs in its environment to reach the state store.
    backend_env: Vec<(&'static str, String)>,
}

/// How soon a finished span is exported (the OpenTelemetry default is 5 s): a trace shows up
/// in the viewer, or in a test's collector, about a second after the request.
const SPAN_EXPORT_DELAY_MS: &str = "1000";

/// The OTLP endpoint variables a child could inherit from the launcher's environment; each
/// child gets the run's endpoint instead, or none.
const OTLP_ENDPOINT_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

pub struct Topology {
    pub workdir: PathBuf,
    pub backend: Service,
    pub frontend: Service,
    /// The Cosmos DB protocol server, with [`StateStore::Cosmos`].
    pub cosmos: Option<CosmosServer>,
    /// The local identity provider of the login topology.
    pub identity_provider: Option<IdentityProvider>,
    sentry: ManagedProcess,
    context: Arc<RunContext>,
    _temp: Option<TempDir>,
}

impl Topology {
    pub async fn start(options: TopologyOptions) -> Result<Self, String> {
        let (temp, workdir) = match options.workdir {
            Some(dir) => (None, dir),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("dapr-pair-")
                    .tempdir()
                    .map_err(|e| e.to_string())?;
                let path = temp.path().to_path_buf();
                (Some(temp), path)
            }
        };
        std::fs::create_dir_all(&workdir)
            .map_err(|e| format!("creating {}: {e}", workdir.display()))?;
        let log_dir = workdir.join("logs");
        let config_dir = workdir.join("dapr-config");
        write_configurations(&config_dir, options.otlp_endpoint.as_deref())?;
        let (sentry, sentry_address, trust_anchors) = start_sentry(&workdir, &log_dir).await?;
        // On an error the processes started so far are killed as they are dropped.
        let (cosmos, backend_resources, backend_env) = match options.state_store {
            StateStore::Sqlite => (None, repo_root().join("components/local"), Vec::new()),
            StateStore::Cosmos(auth) => {
                let server = CosmosServer::start(&workdir.join("cosmos"), &log_dir, auth).await?;
                let resources = workdir.join("components");
                server.write_components(&resources)?;
                let env = server.daprd_env();
                (Some(server), resources, env)
            }
        };
        let context = Arc::new(RunContext {
            workdir: workdir.clone(),
            log_dir,
            sentry_address,
            trust_anchors,
            config_dir,
            otlp_endpoint: options.otlp_endpoint,
            backend_resources,
            backend_env,
        });

        let frontend_port = if options.frontend_port == 0 {
            free_port()
        } else {
            options.frontend_port
        };
        let program = |chosen: Option<PathBuf>, app_id: &str| {
            chosen.unwrap_or_else(|| app_bin_dir().join(app_id))
        };
        let mut backend = Service::new("backend", free_port(), true, context.clone());
        backend.program = program(options.backend_program, "backend");
        let mut frontend = Service::new("frontend", frontend_port, false, context.clone());
        frontend.program = program(options.frontend_program, "frontend");
        let identity_provider = if options.login {
            let provider = IdentityProvider::start(&context.log_dir, &frontend.login_url()).await?;
            frontend.login = Some(LoginSettings::new(&provider, frontend.login_url()));
            // Browsers reach this sidecar's API and cannot send a dapr-api-token.
            frontend.dapr_api_token = String::new();
            Some(provider)
        } else {
            None
        };
        let mut topology = Self {
            workdir,
            backend,
            frontend,
            cosmos,
            identity_provider,
            sentry,
            context,
            _temp: temp,
        };
        match topology.start_services().await {
            Ok(()) => Ok(topology),
            Err(error) => Err(format!("{error}\n{}", topology.log_tails(30))),
        }
    }

    /// The backend first, so the frontend's first call finds it.
    async fn start_services(&mut self) -> Result<(), String> {
        self.backend.start_app().await?;
        self.backend.start_sidecar().await?;
        self.frontend.start_app().await?;
        self.frontend.start_sidecar().await?;
        let (backend, frontend) =
            tokio::join!(self.backend.wait_ready(), self.frontend.wait_ready());
        backend.and(frontend)
    }

    /// A daprd with an app id of its own and no app (for example, a caller the backend's
    /// access control does not know), with the same Sentry and files as the pair.
    pub async fn start_extra_sidecar(&self, app_id: &str) -> Result<Service, String> {
        let mut service = Service::new(app_id, 0, false, self.context.clone());
        service.start_sidecar().await?;
        service.wait_ready().await?;
        Ok(service)
    }

    pub fn frontend_url(&self) -> String {
        self.frontend.app_url()
    }

    /// The gated entry of the login topology: the page, through the frontend's sidecar.
    pub fn login_url(&self) -> String {
        self.frontend.login_url()
    }

    /// The end of every process's log, for a failure message.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for process in [
            Some(&self.sentry),
            self.backend.app.as_ref(),
            self.backend.sidecar.as_ref(),
            self.frontend.app.as_ref(),
            self.frontend.sidecar.as_ref(),
            self.cosmos.as_ref().map(|cosmos| &cosmos.process),
        ]
        .into_iter()
        .flatten()
        {
            out.push_str(&format!(
                "----- {} ({})\n{}\n",
                process.name,
                process.log.display(),
                process.log_tail(lines)
            ));
        }
        if let Some(provider) = &self.identity_provider {
            out.push_str(&format!(
                "----- oidc-provider\n{}\n",
                provider.log_tail(lines)
            ));
        }
        out
    }

    pub async fn stop(&mut self) {
        self.frontend.stop().await;
        if let Some(provider) = self.identity_provider.as_mut() {
            provider.stop().await;
        }
        self.backend.stop().await;
        if let Some(cosmos) = self.cosmos.as_mut() {
            cosmos.stop().await;
        }
        self.sentry.stop(STOP_GRACE).await;
    }
}

/// The Configurations of both sidecars as the project ships them, except for where daprd sends
/// its spans: the run's collector, or none. Written to `config_dir` for daprd's `--config`.
fn write_configurations(config_dir: &Path, otlp_endpoint: Option<&str>) -> Result<(), String> {
    std::fs::create_dir_all(config_dir)
        .map_err(|e| format!("creating {}: {e}", config_dir.display()))?;
    for name in ["frontend.yaml", "frontend-login.yaml", "backend.yaml"] {
        let shipped = repo_root().join("dapr-config").join(name);
        let text = std::fs::read_to_string(&shipped)
            .map_err(|e| format!("reading {}: {e}", shipped.display()))?;
        let text = configuration_for_run(&text, otlp_endpoint)
            .map_err(|e| format!("{}: {e}", shipped.display()))?;
        std::fs::write(config_dir.join(name), text)
            .map_err(|e| format!("writing {name} to {}: {e}", config_dir.display()))?;
    }
    Ok(())
}

/// The address the shipped Configurations send daprd's spans to: a collector on the laptop.
const SHIPPED_OTLP_ADDRESS: &str = r#"endpointAddress: "localhost:4317""#;

/// `configuration` with daprd's OTLP exporter aimed at `otlp_endpoint` (daprd wants `host:port`
/// for gRPC), or switched off (an empty address: daprd then still makes and passes on trace
/// context, but exports nothing).
fn configuration_for_run(
    configuration: &str,
    otlp_endpoint: Option<&str>,
) -> Result<String, String> {
    if !configuration.contains(SHIPPED_OTLP_ADDRESS) {
        return Err(format!(
            "expected `{SHIPPED_OTLP_ADDRESS}` under spec.tracing.otel"
        ));
    }
    let address = match otlp_endpoint {
        None => "",
        Some(url) => url
            .strip_prefix("http://")
            .ok_or_else(|| {
                format!("the OTLP endpoint {url:?} must be http://host:port (no TLS locally)")
            })?
            .trim_end_matches('/'),
    };
    Ok(configuration.replace(
        SHIPPED_OTLP_ADDRESS,
        &format!(r#"endpointAddress: "{address}""#),
    ))
}

async fn start_sentry(
    workdir: &Path,
    log_dir: &Path,
) -> Result<(ManagedProcess, String, String), String> {
    let credentials = workdir.join("sentry");
    std::fs::create_dir_all(&credentials)
        .map_err(|e| format!("creating {}: {e}", credentials.display()))?;
    let port = free_port();
    let healthz_port = free_port();
    let mut command = Command::new(bin_dir().join("sentry"));
    command
        .args(["--issuer-credentials", &credentials.to_string_lossy()])
        .args([
            "--config",
            &repo_root()
                .join("dapr-config/daprsystem.yaml")
                .to_string_lossy(),
        ])
        .args([
            "--trust-domain",
            "localhost",
            "--listen-address",
            "127.0.0.1",
            "--healthz-listen-address",
            "127.0.0.1",
        ])
        .args([
            "--port",
            &port.to_string(),
            "--healthz-port",
            &healthz_port.to_string(),
        ])
        .args(["--metrics-port", &free_port().to_string()])
        .current_dir(workdir);
    let mut sentry = ManagedProcess::spawn("sentry", command, log_dir)
        .map_err(|e| format!("starting sentry: {e}"))?;
    let ca = credentials.join("ca.crt");
    let url = format!("http://127.0.0.1:{healthz_port}/healthz");
    wait_until(
        "sentry",
        || async { ca.is_file() && get_status(&url).await == Some(200) },
        &mut sentry,
    )
    .await?;
    let trust_anchors =
        std::fs::read_to_string(&ca).map_err(|e| format!("reading {}: {e}", ca.display()))?;
    Ok((sentry, format!("127.0.0.1:{port}"), trust_anchors))
}

/// One app id: the app process and its daprd, with their ports and tokens fixed for the life
/// of the topology, so either can be stopped and started again where it was.
pub struct Service {
    pub app_id: String,
    pub app_port: u16,
    pub dapr_http_port: u16,
    pub dapr_grpc_port: u16,
    pub dapr_internal_grpc_port: u16,
    pub dapr_metrics_port: u16,
    /// The app's Prometheus `/metrics` port (`METRICS_PORT`).
    pub app_metrics_port: u16,
    /// What the app sends its daprd (daprd's `DAPR_API_TOKEN`). Empty for the login entry,
    /// whose sidecar asks for none.
    pub dapr_api_token: String,
    /// What daprd sends the app (`APP_API_TOKEN`), for apps that only accept their sidecar.
    pub app_api_token: Option<String>,
    /// The executable started as the app.
    pub program: PathBuf,
    app: Option<ManagedProcess>,
    sidecar: Option<ManagedProcess>,
    login: Option<LoginSettings>,
    context: Arc<RunContext>,
}

/// What the frontend and its sidecar are told in the login topology.
struct LoginSettings {
    issuer: String,
    client_id: String,
    client_secret: String,
    auth_url: String,
    token_url: String,
    redirect_url: String,
}

impl LoginSettings {
    fn new(provider: &IdentityProvider, redirect_url: String) -> Self {
        Self {
            issuer: provider.issuer.clone(),
            client_id: provider.client_id.clone(),
            client_secret: provider.client_secret.clone(),
            auth_url: provider.auth_url(),
            token_url: provider.token_url(),
            redirect_url,
        }
    }
}

impl Service {
    fn new(
        app_id: &str,
        app_port: u16,
        only_through_sidecar: bool,
        context: Arc<RunContext>,
    ) -> Self {
        Self {
            app_id: app_id.to_owned(),
            app_port,
            dapr_http_port: free_port(),
            dapr_grpc_port: free_port(),
            dapr_internal_grpc_port: free_port(),
            dapr_metrics_port: free_port(),
            app_metrics_port: free_port(),
            dapr_api_token: random_token(),
            app_api_token: only_through_sidecar.then(random_token),
            program: PathBuf::new(),
            app: None,
            sidecar: None,
            login: None,
            context,
        }
    }

    fn context(&self) -> &RunContext {
        &self.context
    }

    pub fn app_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.app_port)
    }

    pub fn sidecar_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.dapr_http_port)
    }

    /// The app's page through its sidecar (`/` of the app, invoked by app id).
    pub fn login_url(&self) -> String {
        format!("{}/v1.0/invoke/{}/method/", self.sidecar_url(), self.app_id)
    }

    /// `DAPR_API_TOKEN` for the app and its daprd, unless the sidecar asks for none.
    fn api_token(&self) -> Option<&str> {
        Some(self.dapr_api_token.as_str()).filter(|token| !token.is_empty())
    }

    /// The app's process: its pid and when it was spawned (for the benchmark's figures).
    pub fn app_process(&self) -> Option<&ManagedProcess> {
        self.app.as_ref()
    }

    /// The sidecar's process.
    pub fn sidecar_process(&self) -> Option<&ManagedProcess> {
        self.sidecar.as_ref()
    }

    pub async fn start_app(&mut self) -> Result<(), String> {
        let context = self.context();
        let mut command = Command::new(&self.program);
        command
            .env("HOST", "127.0.0.1")
            .env("PORT", self.app_port.to_string())
            .env("DAPR_HTTP_PORT", self.dapr_http_port.to_string())
            .env("LOG_FORMAT", "json")
            .env("METRICS_PORT", self.app_metrics_port.to_string())
            .env_remove("DAPR_API_TOKEN")
            .env_remove("APP_API_TOKEN")
            .current_dir(&context.workdir);
        if let Some(token) = self.api_token() {
            command.env("DAPR_API_TOKEN", token);
        }
        if let Some(token) = &self.app_api_token {
            command.env("APP_API_TOKEN", token);
        }
        for variable in OTLP_ENDPOINT_VARIABLES {
            command.env_remove(variable);
        }
        if let Some(endpoint) = &context.otlp_endpoint {
            command
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
                .env("OTEL_BSP_SCHEDULE_DELAY", SPAN_EXPORT_DELAY_MS);
        }
        // The frontend checks callers itself; `off` must be said explicitly (the backend
        // ignores the setting).
        match &self.login {
            Some(login) => command
                .env("AUTH_MODE", "jwt")
                .env("OIDC_ISSUER", &login.issuer)
                .env("OIDC_AUDIENCE", idp::AUDIENCE),
            None => command.env("AUTH_MODE", "off"),
        };
        let process = ManagedProcess::spawn(&self.app_id, command, &context.log_dir)
            .map_err(|e| format!("starting {}: {e}", self.app_id))?;
        self.app = Some(process);
        Ok(())
    }

    pub async fn start_sidecar(&mut self) -> Result<(), String> {
        let context = self.context();
        let root = repo_root();
        let (config, resources) = match (self.app_id.as_str(), &self.login) {
            ("backend", _) => ("backend.yaml", context.backend_resources.clone()),
            (_, Some(_)) => ("frontend-login.yaml", root.join("components/local")),
            _ => ("frontend.yaml", root.join("components/local")),
        };
        let mut command = Command::new(bin_dir().join("daprd"));
        command
            .args([
                "--app-id",
                &self.app_id,
                "--mode",
                "standalone",
                "--log-level",
                "info",
            ])
            .args(["--resources-path", &resources.to_string_lossy()])
            .args([
                "--config",
                &context.config_dir.join(config).to_string_lossy(),
            ])
            .args([
                "--dapr-listen-addresses",
                "127.0.0.1",
                "--dapr-http-port",
                &self.dapr_http_port.to_string(),
            ])
            .args(["--dapr-grpc-port", &self.dapr_grpc_port.to_string()])
            .args([
                "--dapr-internal-grpc-port",
                &self.dapr_internal_grpc_port.to_string(),
            ])
            .args(["--metrics-port", &self.dapr_metrics_port.to_string()])
            .args(["--enable-mtls", "--sentry-address", &context.sentry_address])
            .args(["--dapr-graceful-shutdown-seconds", "2"])
            .env("DAPR_TRUST_ANCHORS", &context.trust_anchors)
            .env("NAMESPACE", "default")
            .env("DAPR_HOST_IP", "127.0.0.1")
            .env_remove("DAPR_API_TOKEN")
            .env_remove("APP_API_TOKEN")
            .env("OTEL_BSP_SCHEDULE_DELAY", SPAN_EXPORT_DELAY_MS)
            .current_dir(&context.workdir);
        // daprd's exporter takes its address from the run's Configuration, not from these.
        for variable in OTLP_ENDPOINT_VARIABLES {
            command.env_remove(variable);
        }
        if let Some(token) = self.api_token() {
            command.env("DAPR_API_TOKEN", token);
        }
        // The login middleware and its secret store (components/login/), which read these.
        if let Some(login) = &self.login {
            command
                .args([
                    "--resources-path",
                    &root.join("components/login").to_string_lossy(),
                ])
                .env("LOGIN_CLIENT_ID", &login.client_id)
                .env("LOGIN_SECRET_CLIENT_SECRET", &login.client_secret)
                .env("LOGIN_SCOPES", idp::SCOPES)
                .env("LOGIN_AUTH_URL", &login.auth_url)
                .env("LOGIN_TOKEN_URL", &login.token_url)
                .env("LOGIN_REDIRECT_URL", &login.redirect_url)
                .env("LOGIN_ISSUER", &login.issuer)
                .env("LOGIN_AUDIENCE", idp::AUDIENCE);
        }
        if self.app_port != 0 {
            command.args([
                "--app-port",
                &self.app_port.to_string(),
                "--app-protocol",
                "http",
                "--app-channel-address",
                "127.0.0.1",
            ]);
        }
        if let Some(token) = &self.app_api_token {
            command.env("APP_API_TOKEN", token);
        }
        if self.app_id == "backend" {
            command.envs(
                context
                    .backend_env
                    .iter()
                    .map(|(name, value)| (*name, value)),
            );
        }
        let name = format!("{}-daprd", self.app_id);
        let process = ManagedProcess::spawn(&name, command, &context.log_dir)
            .map_err(|e| format!("starting {name}: {e}"))?;
        self.sidecar = Some(process);
        Ok(())
    }

    /// Waits until daprd is healthy (which, with an app, means it reaches the app) and the app
    /// says it is ready (which means it reaches daprd).
    pub async fn wait_ready(&mut self) -> Result<(), String> {
        let sidecar_health = format!("{}/v1.0/healthz", self.sidecar_url());
        if let Some(sidecar) = self.sidecar.as_mut() {
            wait_until(
                &sidecar.name.clone(),
                || async { get_status(&sidecar_health).await == Some(204) },
                sidecar,
            )
            .await?;
        }
        let app_ready = format!("{}/readyz", self.app_url());
        if let Some(app) = self.app.as_mut() {
            wait_until(
                &app.name.clone(),
                || async { get_status(&app_ready).await == Some(200) },
                app,
            )
            .await?;
        }
        Ok(())
    }

    /// SIGTERM to the app; its exit status, if it was running.
    pub async fn stop_app(&mut self) -> Option<std::process::ExitStatus> {
        let mut app = self.app.take()?;
        app.stop(STOP_GRACE).await
    }

    pub async fn kill_app(&mut self) {
        if let Some(mut app) = self.app.take() {
            app.kill().await;
        }
    }

    pub async fn stop_sidecar(&mut self) {
        if let Some(mut sidecar) = self.sidecar.take() {
            sidecar.stop(STOP_GRACE).await;
        }
    }

    pub async fn kill_sidecar(&mut self) {
        if let Some(mut sidecar) = self.sidecar.take() {
            sidecar.kill().await;
        }
    }

    pub async fn stop(&mut self) {
        self.stop_app().await;
        self.stop_sidecar().await;
    }
}

/// Polls `ready` until it says yes, failing early if `process` exits and late after
/// [`READY_TIMEOUT`].
pub(crate) async fn wait_until<F, Fut>(
    what: &str,
    ready: F,
    process: &mut ManagedProcess,
) -> Result<(), String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < READY_TIMEOUT {
        if ready().await {
            return Ok(());
        }
        if !process.is_running() {
            return Err(format!(
                "{what} exited while starting; its log ends:\n{}",
                process.log_tail(40)
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "{what} was not ready after {READY_TIMEOUT:?}; its log ends:\n{}",
        process.log_tail(40)
    ))
}

pub(crate) async fn get_status(url: &str) -> Option<u16> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    client
        .get(url)
        .send()
        .await
        .ok()
        .map(|response| response.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_sends_daprd_spans_to_its_collector_or_nowhere() {
        let shipped =
            std::fs::read_to_string(repo_root().join("dapr-config/frontend.yaml")).unwrap();
        let traced = configuration_for_run(&shipped, Some("http://127.0.0.1:4999")).unwrap();
        assert!(
            traced.contains(r#"endpointAddress: "127.0.0.1:4999""#),
            "{traced}"
        );
        let silent = configuration_for_run(&shipped, None).unwrap();
        assert!(silent.contains(r#"endpointAddress: """#), "{silent}");
        assert!(configuration_for_run(&shipped, Some("https://collector:4317")).is_err());
    }
}
