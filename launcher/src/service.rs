//! One app id: the app process and its daprd, with the project's component and configuration
//! files, their ports and tokens, their start, readiness and stop.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use nix::sys::signal::Signal;
use tokio::process::Command;

use crate::identity_provider::{self, IdentityProvider};
use crate::image::ImageRoot;
use crate::name_resolution::NameResolution;
use crate::paths::{bin_dir, repo_root};
use crate::ports::free_port;
use crate::process::{ManagedProcess, STOP_GRACE};
use crate::secrets::random_token;
use crate::topology::RunContext;
use crate::wait::{get_status, wait_until};

/// How soon a finished span is exported (the OpenTelemetry default is 5 s): a trace shows up
/// in the viewer, or in a test's collector, about a second after the request.
const SPAN_EXPORT_DELAY_MS: &str = "1000";

/// The OTLP endpoint variables a child could inherit from the launcher's environment; each
/// child gets the run's endpoint instead, or none.
const OTLP_ENDPOINT_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

/// How long daprd keeps serving after SIGTERM at most, while its app still runs (it ends
/// sooner once Dapr's app health check finds the app gone): the app's `SHUTDOWN_DELAY` (5 s)
/// and `SHUTDOWN_TIMEOUT` (10 s) by default, plus the health check's 3 s to notice the app
/// has exited. See docs/rollouts.md.
const BLOCK_SHUTDOWN: &str = "20s";

/// Which of the pair an app is: it decides the daprd's files and whether only the sidecar may
/// call the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The entry: `/call`, the page and the sign-in. Also a bare daprd of another app id.
    Frontend,
    /// Reached only through its sidecar (an app token), saves through its state store.
    Backend,
}

/// One app id: the app process and its daprd, with their ports and tokens fixed for the life
/// of the topology, so either can be stopped and started again where it was.
pub struct Service {
    pub app_id: String,
    pub role: Role,
    /// The name of its processes and logs: the app id, or `frontend-2` for a second replica.
    pub name: String,
    pub app_port: u16,
    pub dapr_http_port: u16,
    pub dapr_grpc_port: u16,
    pub dapr_internal_grpc_port: u16,
    pub dapr_metrics_port: u16,
    /// The app's Prometheus `/metrics` port (`METRICS_PORT`).
    pub app_metrics_port: u16,
    /// daprd's pprof port (`/debug/pprof/`), with [`crate::TopologyOptions::sidecar_profiling`].
    pub dapr_profile_port: Option<u16>,
    /// What the app sends its daprd (daprd's `DAPR_API_TOKEN`). `None` for the OAuth2
    /// middleware's entry, whose sidecar browsers reach; with the session login API clients
    /// reach the sidecar through the front door, which adds it ([`crate::proxy::Site`]).
    pub dapr_api_token: Option<String>,
    /// What daprd sends the app (`APP_API_TOKEN`), for apps that only accept their sidecar.
    pub app_api_token: Option<String>,
    /// The executable started as the app.
    pub program: PathBuf,
    /// The container image whose entrypoint is started as the app instead of `program`.
    pub image: Option<Arc<ImageRoot>>,
    pub(crate) app: Option<ManagedProcess>,
    pub(crate) sidecar: Option<ManagedProcess>,
    pub(crate) login: Option<LoginSettings>,
    context: Arc<RunContext>,
}

/// Which browser login the login topology runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Login {
    /// No login: the frontend runs with `AUTH_MODE=off`.
    #[default]
    Off,
    /// The default: the frontend signs browsers in itself (`AUTH_MODE=session`), sessions in
    /// the `sessionstore` component; its sidecar checks API clients' bearer tokens
    /// (`dapr-config/frontend-session.yaml`).
    Session,
    /// Dapr's `middleware.http.oauth2` on the frontend's sidecar, with the frontend on
    /// `AUTH_MODE=jwt` (`dapr-config/frontend-login.yaml`): one-user demos only, see README.
    Middleware,
}

/// What the frontend and its sidecar are told in the login topology.
#[derive(Clone)]
pub(crate) struct LoginSettings {
    pub(crate) kind: Login,
    /// The session store's encryption key (hex AES-256), the same for every replica.
    pub(crate) session_key: String,
    issuer: String,
    client_id: String,
    client_secret: String,
    auth_url: String,
    token_url: String,
    redirect_url: String,
}

impl LoginSettings {
    pub(crate) fn new(
        kind: Login,
        provider: &IdentityProvider,
        redirect_url: String,
        session_key: String,
    ) -> Self {
        Self {
            kind,
            session_key,
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
    pub(crate) fn new(app_id: &str, role: Role, app_port: u16, context: Arc<RunContext>) -> Self {
        Self {
            app_id: app_id.to_owned(),
            role,
            name: app_id.to_owned(),
            app_port,
            dapr_http_port: free_port(),
            dapr_grpc_port: free_port(),
            dapr_internal_grpc_port: free_port(),
            dapr_metrics_port: free_port(),
            app_metrics_port: free_port(),
            dapr_profile_port: context.sidecar_profiling.then(free_port),
            dapr_api_token: Some(random_token()),
            app_api_token: (role == Role::Backend).then(random_token),
            program: PathBuf::new(),
            image: None,
            app: None,
            sidecar: None,
            login: None,
            context,
        }
    }

    /// A new replica of the same app, named `name`, on ports of its own, its app token its own
    /// and everything else as this one's (its sidecar's token too, as a Deployment's pods read
    /// one secret): what a rollout starts before it stops this one.
    pub fn successor(&self, name: String) -> Self {
        let mut next = Self::new(&self.app_id, self.role, free_port(), self.context.clone());
        next.name = name;
        next.program = self.program.clone();
        next.image = self.image.clone();
        next.login = self.login.clone();
        next.dapr_api_token = self.dapr_api_token.clone();
        next
    }

    fn context(&self) -> &RunContext {
        &self.context
    }

    /// The address daprd registers in name resolution: its internal gRPC API, where other
    /// sidecars call it.
    pub fn internal_address(&self) -> String {
        format!("127.0.0.1:{}", self.dapr_internal_grpc_port)
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

    /// The app's process: its pid and when it was spawned (for the benchmark's figures).
    pub fn app_process(&self) -> Option<&ManagedProcess> {
        self.app.as_ref()
    }

    /// The app's process, to ask whether it is still running.
    pub fn app_process_mut(&mut self) -> Option<&mut ManagedProcess> {
        self.app.as_mut()
    }

    /// The sidecar's process.
    pub fn sidecar_process(&self) -> Option<&ManagedProcess> {
        self.sidecar.as_ref()
    }

    pub async fn start_app(&mut self) -> anyhow::Result<()> {
        let context = self.context();
        let mut command = match &self.image {
            Some(image) => image.command(match self.role {
                Role::Frontend => "frontend",
                Role::Backend => "backend",
            })?,
            None => Command::new(&self.program),
        };
        command
            .env("HOST", "127.0.0.1")
            .env("PORT", self.app_port.to_string())
            .env("DAPR_HTTP_PORT", self.dapr_http_port.to_string())
            // As the Dapr injector and Container Apps do; the bench's gRPC floor uses it.
            .env("DAPR_GRPC_PORT", self.dapr_grpc_port.to_string())
            .env("LOG_FORMAT", "json")
            .env("METRICS_PORT", self.app_metrics_port.to_string())
            .env_remove("DAPR_API_TOKEN")
            .env_remove("APP_API_TOKEN")
            .current_dir(&context.workdir);
        if let Some(token) = &self.dapr_api_token {
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
        command.envs(context.app_env.iter().map(|(name, value)| (name, value)));
        // The frontend checks callers itself; `off` must be said explicitly (the backend
        // ignores the setting).
        match &self.login {
            Some(login) if login.kind == Login::Session => command
                .env("AUTH_MODE", "session")
                .env("OIDC_ISSUER", &login.issuer)
                .env("OIDC_AUDIENCE", identity_provider::AUDIENCE)
                .env("OIDC_CLIENT_ID", &login.client_id)
                .env("OIDC_CLIENT_SECRET", &login.client_secret)
                .env("OIDC_REDIRECT_URL", &login.redirect_url)
                // The store's key: the app derives its attempt cookie's and its record keys'.
                .env("SESSION_ENCRYPTION_KEY", &login.session_key)
                // A refresh token (Entra ID's offline_access), and an access token for the API.
                .env("OIDC_SCOPES", "openid profile offline_access api"),
            Some(login) => command
                .env("AUTH_MODE", "jwt")
                .env("OIDC_ISSUER", &login.issuer)
                .env("OIDC_AUDIENCE", identity_provider::AUDIENCE),
            None => command.env("AUTH_MODE", "off"),
        };
        let mut process = ManagedProcess::spawn(&self.name, command, &context.log_dir)
            .with_context(|| format!("starting {}", self.name))?;
        if self.image.is_some() {
            process = process.signals_its_child();
        }
        self.app = Some(process);
        Ok(())
    }

    pub async fn start_sidecar(&mut self) -> anyhow::Result<()> {
        let context = self.context();
        let root = repo_root();
        let login = self.login.as_ref().map(|login| login.kind);
        let (config, resources) = match (self.role, login) {
            (Role::Backend, _) => ("backend.yaml", context.backend_resources.clone()),
            (Role::Frontend, Some(Login::Session)) => {
                ("frontend-session.yaml", root.join("components/local"))
            }
            (Role::Frontend, Some(_)) => ("frontend-login.yaml", root.join("components/local")),
            (Role::Frontend, None) => ("frontend.yaml", root.join("components/local")),
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
            // Every port of a local run on loopback only: daprd's internal gRPC API (the
            // daprd-to-daprd hop) and its metrics listen on all addresses by default.
            .args([
                "--dapr-internal-grpc-listen-address",
                "127.0.0.1",
                "--dapr-internal-grpc-port",
                &self.dapr_internal_grpc_port.to_string(),
            ])
            .args([
                "--metrics-listen-address",
                "127.0.0.1",
                "--metrics-port",
                &self.dapr_metrics_port.to_string(),
            ])
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
        if let Some(token) = &self.dapr_api_token {
            command.env("DAPR_API_TOKEN", token);
        }
        if let Some(port) = self.dapr_profile_port {
            // Go's pprof, on daprd's API addresses (loopback): for the benchmark's profiles.
            command.args(["--enable-profiling", "--profile-port", &port.to_string()]);
        }
        // The bearer check of API clients (components/bearer/), and either the session store
        // with its key's secret store (components/session/) or the login middleware with its
        // client secret's (components/login/), which read these.
        if let Some(login) = &self.login {
            command
                .args([
                    "--resources-path",
                    &root.join("components/bearer").to_string_lossy(),
                ])
                .env("LOGIN_ISSUER", &login.issuer)
                .env("LOGIN_AUDIENCE", identity_provider::AUDIENCE);
        }
        match &self.login {
            Some(login) if login.kind == Login::Session => {
                command
                    .args([
                        "--resources-path",
                        &root.join("components/session").to_string_lossy(),
                    ])
                    .env("SESSION_SECRET_ENCRYPTION_KEY", &login.session_key);
            }
            Some(login) => {
                command
                    .args([
                        "--resources-path",
                        &root.join("components/login").to_string_lossy(),
                    ])
                    .env("LOGIN_CLIENT_ID", &login.client_id)
                    .env("LOGIN_SECRET_CLIENT_SECRET", &login.client_secret)
                    .env("LOGIN_SCOPES", identity_provider::SCOPES)
                    .env("LOGIN_AUTH_URL", &login.auth_url)
                    .env("LOGIN_TOKEN_URL", &login.token_url)
                    .env("LOGIN_REDIRECT_URL", &login.redirect_url);
            }
            None => {}
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
            // daprd outlives its app on SIGTERM (a rollout's, kubelet's): it keeps serving until
            // Dapr's app health check finds the app gone, at most BLOCK_SHUTDOWN. The check
            // probes the app's liveness, which holds while the app drains; its readiness turns
            // 503 at SIGTERM, and daprd refuses to invoke an app it finds unhealthy. So every
            // app the launcher runs must answer `GET /healthz` (the bench's echo apps too).
            command
                .args(["--dapr-block-shutdown-duration", BLOCK_SHUTDOWN])
                .args([
                    "--enable-app-health-check",
                    "--app-health-check-path",
                    "/healthz",
                ])
                .args(["--app-health-probe-interval", "1"])
                .args(["--app-health-probe-timeout", "500"])
                .args(["--app-health-threshold", "3"]);
        }
        if let Some(token) = &self.app_api_token {
            command.env("APP_API_TOKEN", token);
        }
        if self.role == Role::Backend {
            command.envs(
                context
                    .backend_env
                    .iter()
                    .map(|(name, value)| (*name, value)),
            );
        }
        let name = format!("{}-daprd", self.name);
        let process = ManagedProcess::spawn(&name, command, &context.log_dir)
            .with_context(|| format!("starting {name}"))?;
        self.sidecar = Some(process);
        Ok(())
    }

    /// Waits until daprd is healthy (which, with an app, means it reaches the app) and the app
    /// says it is ready (which means it reaches daprd).
    pub async fn wait_ready(&mut self) -> anyhow::Result<()> {
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

    /// Starts the app and its daprd, waits until both are ready and its daprd invokes its app,
    /// and only then gives it to other sidecars in name resolution (held until then, when the
    /// app id has other replicas), as Kubernetes adds a pod to its endpoints once it is ready:
    /// a run's start and a rollout's successor alike.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let names = NameResolution::of_run(&self.context.workdir);
        let address = self.internal_address();
        let held = names.hold(&self.app_id, &address)?;
        self.start_app().await?;
        self.start_sidecar().await?;
        self.wait_ready().await?;
        self.wait_calling_its_app().await?;
        if held {
            names.admit(&self.app_id, &address)?;
        }
        anyhow::ensure!(
            names.is_registered(&self.app_id, &address),
            "{} is not registered in name resolution under {}",
            self.name,
            self.app_id
        );
        Ok(())
    }

    /// Waits until daprd invokes its app. With the app health check on, daprd refuses to (500)
    /// until a first probe has passed; past that check, the app channel's middleware may
    /// still answer for the app (the login's bearer check: 401), which is as good: daprd is
    /// sending to its app.
    async fn wait_calling_its_app(&mut self) -> anyhow::Result<()> {
        let through_sidecar = format!(
            "{}/v1.0/invoke/{}/method/healthz",
            self.sidecar_url(),
            self.app_id
        );
        let token = self.dapr_api_token.clone();
        let Some(sidecar) = self.sidecar.as_mut() else {
            anyhow::bail!("{} has no sidecar running", self.name);
        };
        wait_until(
            &format!("{} (calling its app)", sidecar.name),
            || async {
                crate::wait::get_status_with(&through_sidecar, token.as_deref())
                    .await
                    .is_some_and(|status| status < 500)
            },
            sidecar,
        )
        .await
    }

    /// SIGINT to the app, as a person's Ctrl-C (it skips `SHUTDOWN_DELAY`: nothing is routed
    /// to wait for); its exit status, if it was running.
    pub async fn stop_app(&mut self) -> Option<std::process::ExitStatus> {
        let mut app = self.app.take()?;
        app.signal(Signal::SIGINT);
        app.exit_within(STOP_GRACE).await
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

    /// SIGTERM to the app and its daprd at the same instant, as kubelet sends it to every
    /// container of a pod; the processes, to wait for.
    pub(crate) fn terminate(&mut self) -> Vec<ManagedProcess> {
        let processes: Vec<ManagedProcess> = self
            .app
            .take()
            .into_iter()
            .chain(self.sidecar.take())
            .collect();
        for process in &processes {
            process.signal(Signal::SIGTERM);
        }
        processes
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
