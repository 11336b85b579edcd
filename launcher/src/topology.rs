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
use crate::image::ImageRoot;
use crate::paths::{app_bin_dir, repo_root};
use crate::ports::free_port;
use crate::process::{ManagedProcess, STOP_GRACE};
use crate::proxy::{ReverseProxy, Site};
use crate::secrets::random_token;
use crate::sentry::start_sentry;
use crate::service::{Login, LoginSettings, Role, Service};

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
    /// nginx's port, with more than one frontend replica; `None` picks a free one.
    pub proxy_port: Option<u16>,
    /// An OTLP/gRPC collector (`http://host:port`) for the traces of both apps and both
    /// daprd. `None`: nothing is exported.
    pub otlp_endpoint: Option<String>,
    /// Where the backend's daprd saves: Dapr's SQLite store (the default) or Cosmos DB.
    pub state_store: StateStore,
    /// The login topology: a local identity provider and the browser login of [`Login`].
    /// [`Login::Off`]: the frontend runs with `AUTH_MODE=off`.
    pub login: Login,
    /// How many frontend replicas (each with its own daprd) run; more than one puts nginx
    /// in front of them, round robin, as the one entry for browsers ([`Topology::browser_url`]).
    pub frontend_replicas: usize,
    /// How many backend replicas (each with its own daprd, one app id) run; the frontends'
    /// sidecars pick one at random for each call, from the run's name resolution.
    pub backend_replicas: usize,
    /// Users the identity provider knows besides the first (`ada`): `(login, name)`, each
    /// with the run's password.
    pub extra_users: Vec<(String, String)>,
    /// How long the provider's access tokens live, in seconds (default 600).
    pub access_token_ttl_secs: Option<u64>,
    /// The program run as the frontend app. `None`: the project's `frontend` of this build.
    /// The benchmark runs trivial echo apps here to measure what Dapr alone costs.
    pub frontend_program: Option<PathBuf>,
    /// The program run as the backend app. `None`: the project's `backend` of this build.
    pub backend_program: Option<PathBuf>,
    /// Settings given to both apps, as environment variables (`IDLE_TIMEOUT=2s`), on top of
    /// the launcher's own.
    pub app_env: Vec<(String, String)>,
    /// Both apps started from this container image's root filesystem (its entrypoint, `USER`
    /// and `ENV`, see [`crate::image`]) instead of the programs above.
    pub image: Option<Arc<ImageRoot>>,
    /// Every daprd serves Go's pprof on its [`Service::dapr_profile_port`], for the
    /// benchmark's CPU profiles of daprd (`cargo xtask bench --profile-daprd`).
    pub sidecar_profiling: bool,
}

impl Default for TopologyOptions {
    fn default() -> Self {
        Self {
            workdir: None,
            frontend_port: 0,
            proxy_port: None,
            otlp_endpoint: None,
            state_store: StateStore::Sqlite,
            login: Login::Off,
            frontend_replicas: 1,
            backend_replicas: 1,
            extra_users: Vec::new(),
            access_token_ttl_secs: None,
            frontend_program: None,
            backend_program: None,
            app_env: Vec::new(),
            image: None,
            sidecar_profiling: false,
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
    /// [`TopologyOptions::sidecar_profiling`].
    pub sidecar_profiling: bool,
}

pub struct Topology {
    pub workdir: PathBuf,
    /// The first backend replica.
    pub backend: Service,
    /// Replicas of the backend beyond the first (`backend-2`, …), each with its own daprd.
    pub more_backends: Vec<Service>,
    /// The first frontend replica.
    pub frontend: Service,
    /// Replicas of the frontend beyond the first (`frontend-2`, …), each with its own daprd.
    pub more_frontends: Vec<Service>,
    /// nginx in front of the frontend replicas, when there is more than one.
    pub proxy: Option<ReverseProxy>,
    /// The session login's way in for API clients: nginx in front of the frontend's sidecars,
    /// one route, their token added ([`crate::proxy::Site::SidecarCall`]).
    pub front_door: Option<ReverseProxy>,
    /// The Cosmos DB protocol server, with [`StateStore::Cosmos`].
    pub cosmos: Option<CosmosServer>,
    /// The local identity provider of the login topology.
    pub identity_provider: Option<IdentityProvider>,
    /// Where browsers open the page: the first replica's port, nginx's, or (with the
    /// middleware login) the page through the frontend's sidecar.
    browser_url: String,
    proxy_port: Option<u16>,
    sentry: ManagedProcess,
    /// How many replicas of each app were started so far, for the next one's name.
    pub(crate) frontends_started: usize,
    pub(crate) backends_started: usize,
    /// The processes of replicas a rollout replaced, for their logs' tails.
    pub(crate) retired: Vec<ManagedProcess>,
    context: Arc<RunContext>,
    _temp: Option<TempDir>,
}

/// `backend`, `backend-2`, …: the name of the `number`th replica of `app_id` started in a run.
pub(crate) fn replica_name(app_id: &str, number: usize) -> String {
    if number == 1 {
        app_id.to_owned()
    } else {
        format!("{app_id}-{number}")
    }
}

/// The session store's encryption key of this run's folder: made once and kept there
/// (private to its owner), so that a `run-local` started again on the same folder still
/// reads its sessions.
fn session_key(workdir: &std::path::Path) -> anyhow::Result<String> {
    let path = workdir.join("session-encryption-key");
    if let Ok(key) = std::fs::read_to_string(&path) {
        let key = key.trim();
        if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(key.to_owned());
        }
    }
    // 32 random bytes in hex: an AES-256 key as Dapr's state encryption takes it.
    let key: String = random_token() + &random_token()[..16];
    std::fs::write(&path, &key).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(key)
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
            sidecar_profiling: options.sidecar_profiling,
        });

        let frontend_port = if options.frontend_port == 0 {
            free_port()
        } else {
            options.frontend_port
        };
        let program = |chosen: Option<PathBuf>, app_id: &str| {
            chosen.unwrap_or_else(|| app_bin_dir().join(app_id))
        };
        let backend_program = program(options.backend_program, "backend");
        let backend_replicas = options.backend_replicas.max(1);
        let mut backends: Vec<Service> = (1..=backend_replicas)
            .map(|number| {
                let mut backend =
                    Service::new("backend", Role::Backend, free_port(), context.clone());
                backend.name = replica_name("backend", number);
                backend.program = backend_program.clone();
                backend.image = options.image.clone();
                backend
            })
            .collect();
        let frontend_program = program(options.frontend_program, "frontend");
        let frontend_replicas = options.frontend_replicas.max(1);
        let mut frontends: Vec<Service> = (1..=frontend_replicas)
            .map(|number| {
                let port = if number == 1 {
                    frontend_port
                } else {
                    free_port()
                };
                let mut frontend = Service::new("frontend", Role::Frontend, port, context.clone());
                frontend.name = replica_name("frontend", number);
                frontend.program = frontend_program.clone();
                frontend.image = options.image.clone();
                frontend
            })
            .collect();
        // nginx is started after the replicas; its port is needed now for the redirect URI.
        let proxy_port =
            (frontends.len() > 1).then(|| options.proxy_port.unwrap_or_else(free_port));
        let browser_url = match (options.login, proxy_port) {
            (Login::Middleware, _) => frontends[0].login_url(),
            (_, Some(port)) => format!("http://127.0.0.1:{port}/"),
            (_, None) => format!("{}/", frontends[0].app_url()),
        };
        let identity_provider = if options.login != Login::Off {
            let redirect_url = match options.login {
                Login::Middleware => browser_url.clone(),
                _ => format!("{browser_url}auth/callback"),
            };
            let provider = IdentityProvider::start(
                &context.log_dir,
                &crate::identity_provider::ProviderOptions {
                    redirect_uri: redirect_url.clone(),
                    post_logout_redirect_uri: browser_url.clone(),
                    extra_users: options.extra_users.clone(),
                    access_token_ttl_secs: options.access_token_ttl_secs,
                },
            )
            .await?;
            let session_key = session_key(&workdir)?;
            for frontend in &mut frontends {
                frontend.login = Some(LoginSettings::new(
                    options.login,
                    &provider,
                    redirect_url.clone(),
                    session_key.clone(),
                ));
                // With the session login the sidecar asks its app's token on every API (API
                // clients get to the one route through the front door, which adds it); with the
                // OAuth2 middleware browsers reach its API, which then asks for none.
                if options.login == Login::Middleware {
                    frontend.dapr_api_token = None;
                }
            }
            // One token for every replica, as the pods of one Deployment read one secret: the
            // front door adds it for whichever replica it picks.
            let token = frontends[0].dapr_api_token.clone();
            for frontend in &mut frontends {
                frontend.dapr_api_token = token.clone();
            }
            Some(provider)
        } else {
            None
        };
        let frontend = frontends.remove(0);
        let backend = backends.remove(0);
        let mut topology = Self {
            workdir,
            backend,
            more_backends: backends,
            frontend,
            more_frontends: frontends,
            frontends_started: frontend_replicas,
            backends_started: backend_replicas,
            retired: Vec::new(),
            proxy: None,
            front_door: None,
            browser_url,
            proxy_port,
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

    /// The backend first, so the frontend's first call finds it; one daprd after another,
    /// because each creates or migrates the run's shared SQLite files at start (the name
    /// resolution's, the session store's). A daprd opening such a file while another creates
    /// it gets SQLITE_BUSY at once, past its busy timeout, and a name resolution that fails so
    /// leaves daprd running unregistered: its app is "no host found" to every caller (CI saw
    /// it when both sidecars started together).
    async fn start_services(&mut self) -> anyhow::Result<()> {
        let backends = std::iter::once(&mut self.backend).chain(self.more_backends.iter_mut());
        let frontends = std::iter::once(&mut self.frontend).chain(self.more_frontends.iter_mut());
        for service in backends.chain(frontends) {
            service.start().await?;
        }
        if let Some(port) = self.proxy_port {
            let upstreams: Vec<u16> = self.frontends().map(|f| f.app_port).collect();
            let dir = self.workdir.join("nginx");
            let proxy =
                ReverseProxy::start(Site::Apps, &dir, &self.context.log_dir, port, &upstreams)
                    .await?;
            self.proxy = Some(proxy);
        }
        if let (Some(login), Some(token)) = (&self.frontend.login, &self.frontend.dapr_api_token)
            && login.kind == Login::Session
        {
            let site = Site::SidecarCall {
                token: token.clone(),
            };
            let sidecars: Vec<u16> = self.frontends().map(|f| f.dapr_http_port).collect();
            let dir = self.workdir.join("front-door");
            let door =
                ReverseProxy::start(site, &dir, &self.context.log_dir, free_port(), &sidecars)
                    .await?;
            self.front_door = Some(door);
        }
        Ok(())
    }

    /// Every frontend replica, the first one first.
    pub fn frontends(&self) -> impl Iterator<Item = &Service> {
        std::iter::once(&self.frontend).chain(self.more_frontends.iter())
    }

    /// Every frontend replica, to stop or restart them.
    pub fn frontends_mut(&mut self) -> impl Iterator<Item = &mut Service> {
        std::iter::once(&mut self.frontend).chain(self.more_frontends.iter_mut())
    }

    /// Every backend replica, the first one first.
    pub fn backends(&self) -> impl Iterator<Item = &Service> {
        std::iter::once(&self.backend).chain(self.more_backends.iter())
    }

    /// Every backend replica, to stop or restart them.
    pub fn backends_mut(&mut self) -> impl Iterator<Item = &mut Service> {
        std::iter::once(&mut self.backend).chain(self.more_backends.iter_mut())
    }

    /// Where clients send `/call`: nginx in front of the frontend replicas, or the one
    /// frontend app.
    pub fn entry_url(&self) -> String {
        match &self.proxy {
            Some(proxy) => proxy.url(),
            None => self.frontend_url(),
        }
    }

    /// Where a browser opens the page (`…/`): the frontend app, nginx in front of its
    /// replicas, or with the middleware login the page through the frontend's sidecar.
    pub fn browser_url(&self) -> String {
        self.browser_url.clone()
    }

    /// A daprd with an app id of its own and no app (for example, a caller the backend's
    /// access control does not know), with the same Sentry and files as the pair.
    pub async fn start_extra_sidecar(&self, app_id: &str) -> anyhow::Result<Service> {
        let mut service = Service::new(app_id, Role::Frontend, 0, self.context.clone());
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

    /// The gated entry of the login topology for API clients (`…/method/`, add `call`): the
    /// front door to the frontend's sidecar with the session login, else the sidecar itself.
    pub fn login_url(&self) -> String {
        match &self.front_door {
            Some(door) => door.url(),
            None => self.frontend.login_url(),
        }
    }

    /// The end of every process's log, for a failure message.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for process in [
            Some(&self.sentry),
            self.cosmos.as_ref().map(|cosmos| &cosmos.process),
        ]
        .into_iter()
        .chain(
            self.backends()
                .chain(self.frontends())
                .flat_map(|service| [service.app.as_ref(), service.sidecar.as_ref()]),
        )
        .flatten()
        .chain(&self.retired)
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
        if let Some(proxy) = &self.proxy {
            out.push_str(&format!("----- nginx\n{}\n", proxy.log_tail(lines)));
        }
        if let Some(door) = &self.front_door {
            out.push_str(&format!(
                "----- front door (nginx)\n{}\n",
                door.log_tail(lines)
            ));
        }
        out
    }

    pub async fn stop(&mut self) {
        if let Some(proxy) = self.proxy.as_mut() {
            proxy.stop().await;
        }
        if let Some(door) = self.front_door.as_mut() {
            door.stop().await;
        }
        for frontend in self.frontends_mut() {
            frontend.stop().await;
        }
        if let Some(provider) = self.identity_provider.as_mut() {
            provider.stop().await;
        }
        for backend in self.backends_mut() {
            backend.stop().await;
        }
        if let Some(cosmos) = self.cosmos.as_mut() {
            cosmos.stop().await;
        }
        self.sentry.stop(STOP_GRACE).await;
    }
}
