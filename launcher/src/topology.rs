//! A whole run: Sentry, then each app with its daprd (the backend first), optionally the
//! Cosmos DB protocol server behind the backend's state store and the identity provider in
//! front of the frontend; a readiness wait and a clean stop.

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tempfile::TempDir;

use crate::configurations::write_configurations;
use crate::cosmos::{CosmosAuth, CosmosServer};
use crate::identity_provider::IdentityProvider;
use crate::paths::{app_bin_dir, repo_root};
use crate::ports::free_port;
use crate::process::{ManagedProcess, STOP_GRACE};
use crate::sentry::start_sentry;
use crate::service::{LoginSettings, Service};

/// The state store behind the backend's daprd.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StateStore {
    /// `components/local`: Dapr's embedded SQLite store, a file in the run's folder.
    #[default]
    Sqlite,
    /// A shipped Cosmos DB component (`components/azure`), against the Cosmos DB protocol
    /// server of `launcher/cosmos` started on loopback for this run.
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
    /// Settings given to both apps, as environment variables (`IDLE_TIMEOUT=2s`), on top of
    /// the launcher's own.
    pub app_env: Vec<(String, String)>,
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
            app_env: Vec::new(),
        }
    }
}

/// What every process of one run shares: its folders, Sentry's address and CA, where traces go,
/// and where the backend's daprd finds its state store.
pub(crate) struct RunContext {
    pub workdir: PathBuf,
    pub log_dir: PathBuf,
    pub sentry_address: String,
    pub trust_anchors: String,
    /// The run's copies of the Dapr Configurations, with daprd's trace exporter pointed at
    /// `otlp_endpoint` (see [`crate::configurations`]).
    pub config_dir: PathBuf,
    pub otlp_endpoint: Option<String>,
    pub backend_resources: PathBuf,
    /// What the backend's daprd needs in its environment to reach the state store.
    pub backend_env: Vec<(&'static str, String)>,
    /// [`TopologyOptions::app_env`].
    pub app_env: Vec<(String, String)>,
}

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
    pub async fn start(options: TopologyOptions) -> anyhow::Result<Self> {
        let (temp, workdir) = match options.workdir {
            Some(dir) => (None, dir),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("dapr-pair-")
                    .tempdir()
                    .context("creating a temporary folder for the run")?;
                let path = temp.path().to_path_buf();
                (Some(temp), path)
            }
        };
        std::fs::create_dir_all(&workdir)
            .with_context(|| format!("creating {}", workdir.display()))?;
        // The state, Sentry's keys, the Configurations and every log are the run's owner's
        // alone (a folder of `run-local` may have been made with a looser umask).
        std::fs::set_permissions(&workdir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private", workdir.display()))?;
        let log_dir = workdir.join("logs");
        let config_dir = workdir.join("dapr-config");
        write_configurations(&config_dir, options.otlp_endpoint.as_deref())?;
        let sentry = start_sentry(&workdir, &log_dir).await?;
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
            sentry_address: sentry.address,
            trust_anchors: sentry.trust_anchors,
            config_dir,
            otlp_endpoint: options.otlp_endpoint,
            backend_resources,
            backend_env,
            app_env: options.app_env,
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
            sentry: sentry.process,
            context,
            _temp: temp,
        };
        match topology.start_services().await {
            Ok(()) => Ok(topology),
            Err(error) => Err(anyhow::anyhow!("{error:#}\n{}", topology.log_tails(30))),
        }
    }

    /// The backend first, so the frontend's first call finds it.
    async fn start_services(&mut self) -> anyhow::Result<()> {
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
    pub async fn start_extra_sidecar(&self, app_id: &str) -> anyhow::Result<Service> {
        let mut service = Service::new(app_id, 0, false, self.context.clone());
        service.start_sidecar().await?;
        service.wait_ready().await?;
        Ok(service)
    }

    pub fn frontend_url(&self) -> String {
        self.frontend.app_url()
    }

    /// Sentry's process (to see what it listens on).
    pub fn sentry_process(&self) -> &ManagedProcess {
        &self.sentry
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
