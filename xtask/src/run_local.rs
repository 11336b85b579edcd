//! The pair on this machine: Sentry, the backend and its daprd, the frontend and its daprd,
//! with the embedded SQLite state store under `./.data`. With `--login`, also a local identity
//! provider: browsers sign in with the frontend itself (`AUTH_MODE=session`, sessions in the
//! `sessionstore` component), API clients send bearer tokens through its sidecar; with
//! `--frontend-replicas 2`, two frontends (each with its daprd) behind nginx, round robin.
//! `--login-mode middleware` is Dapr's OAuth2 middleware instead, for one-user demos.
//! Stops on Ctrl-C. The end-to-end tests start the same topology through the same launcher.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use launcher::{IdentityProvider, ImageRoot, Login, Topology, TopologyOptions};

use crate::cargo::{Profile, build_bins};

#[derive(clap::Args)]
pub struct Args {
    /// Port of the frontend.
    #[arg(long, env = "FRONTEND_PORT", default_value_t = 8080)]
    port: u16,
    /// Folder for the state database, Sentry's certificates and the logs.
    #[arg(long, env = "DATA_DIR", default_value = ".data")]
    data_dir: PathBuf,
    /// An OTLP/gRPC collector (`http://host:port`, e.g. Jaeger's `http://127.0.0.1:4317`) for
    /// the traces of both apps and both daprd. Without it nothing is exported.
    #[arg(long, env = "OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// Start a local OpenID provider (npm `oidc-provider`, installed under launcher/oidc once)
    /// and the browser login of `--login-mode`, with bearer checks of API clients on the
    /// frontend's sidecar.
    #[arg(long, env = "LOGIN")]
    login: bool,
    /// `session` (the frontend signs browsers in, sessions in a Dapr state store) or
    /// `middleware` (Dapr's `middleware.http.oauth2` on the sidecar: one user at a time, see
    /// the README).
    #[arg(long, env = "LOGIN_MODE", value_enum, default_value_t = LoginMode::Session)]
    login_mode: LoginMode,
    /// Frontend replicas, each with its own daprd; more than one puts nginx (Debian's
    /// `nginx-light`) in front of them on `--port`, round robin. Not with the middleware login.
    #[arg(long, env = "FRONTEND_REPLICAS", default_value_t = 1)]
    frontend_replicas: usize,
    /// Backend replicas, each with its own daprd, one app id: the frontends' sidecars pick one
    /// for each call.
    #[arg(long, env = "BACKEND_REPLICAS", default_value_t = 1)]
    backend_replicas: usize,
    /// Start both apps from the container image instead of this build's binaries: built and
    /// unpacked first (`cargo xtask image`: buildah, musl), then each app chrooted into it as
    /// its `USER`, PID 1 of a pid namespace of its own. Needs root.
    #[arg(long, env = "IMAGE")]
    image: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
enum LoginMode {
    Session,
    Middleware,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // The launcher finds the apps next to this program.
    build_bins(Profile::Dev, &["frontend", "backend"])?;
    let image = if args.image {
        let built = crate::image::build()?;
        Some(Arc::new(ImageRoot::load(&built.dir)?))
    } else {
        None
    };
    let workdir = std::path::absolute(&args.data_dir)
        .with_context(|| format!("the data folder {}", args.data_dir.display()))?;
    tokio::runtime::Runtime::new()
        .context("starting the Tokio runtime")?
        .block_on(run_pair(args, workdir, image))
}

async fn run_pair(
    args: Args,
    workdir: PathBuf,
    image: Option<Arc<ImageRoot>>,
) -> anyhow::Result<()> {
    eprintln!(
        "starting Sentry, backend + daprd, frontend + daprd (logs in {}) ...",
        workdir.join("logs").display()
    );
    let login = match (args.login, args.login_mode) {
        (false, _) => Login::Off,
        (true, LoginMode::Session) => Login::Session,
        (true, LoginMode::Middleware) => Login::Middleware,
    };
    if args.frontend_replicas > 1 && login == Login::Middleware {
        anyhow::bail!(
            "--frontend-replicas needs the session login: the OAuth2 middleware keeps its sessions in one daprd's memory"
        );
    }
    // With replicas, nginx takes --port and the replicas free ones.
    let (frontend_port, proxy_port) = if args.frontend_replicas > 1 {
        (0, Some(args.port))
    } else {
        (args.port, None)
    };
    let mut topology = Topology::start(TopologyOptions {
        workdir: Some(workdir),
        frontend_port,
        proxy_port,
        otlp_endpoint: args.otlp_endpoint,
        login,
        frontend_replicas: args.frontend_replicas,
        backend_replicas: args.backend_replicas,
        image,
        ..TopologyOptions::default()
    })
    .await
    .context("the pair did not start")?;
    let instructions = match &topology.identity_provider {
        Some(provider) => login_instructions(&topology, provider),
        None => plain_instructions(&topology),
    };
    println!("{instructions}");
    // `cargo xtask rollout` asks here; one rollout at a time, Ctrl-C after it.
    let control = crate::rollout::listen(&topology.workdir)?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            accepted = control.accept() => {
                if let Ok((stream, _)) = accepted
                    && let Err(error) = crate::rollout::serve(&mut topology, stream).await
                {
                    eprintln!("the rollout failed: {error:#}");
                }
            }
        }
    }
    eprintln!("stopping ...");
    topology.stop().await;
    Ok(())
}

fn plain_instructions(topology: &Topology) -> String {
    let url = topology.entry_url();
    let replicas = replicas_line(topology);
    let rollout = if topology.proxy.is_some() {
        format!(
            "\n  # replace every replica, as Kubernetes does, while you keep sending (see docs/rollouts.md)\n  cargo xtask rollout --data-dir {}\n",
            topology.workdir.display()
        )
    } else {
        String::new()
    };
    format!(
        r#"
The pair is running. The frontend is at {url}{replicas}

  # save a key through the frontend -> Dapr -> backend -> state store
  curl -X POST -d '{{"appId":"backend","method":"savestate","httpMethod":"POST","payload":"{{\"key\":\"mykey\",\"data\":\"123\"}}"}}' {url}/call

  # read it back
  curl -X POST -d '{{"appId":"backend","method":"state/mykey","httpMethod":"GET"}}' {url}/call

  # delete it
  curl -X POST -d '{{"appId":"backend","method":"state/mykey","httpMethod":"DELETE"}}' {url}/call
{rollout}
State is kept in {state}. Press Ctrl-C to stop.
"#,
        state = topology.workdir.join("state.db").display()
    )
}

fn login_instructions(topology: &Topology, provider: &IdentityProvider) -> String {
    if topology.proxy.is_some() || topology.frontend.login_url() != topology.browser_url() {
        return session_instructions(topology, provider);
    }
    format!(
        r#"
The pair is running behind a login. Open this in a browser (use 127.0.0.1, not localhost:
the login's session cookie is kept per host name):

  {login_url}

  user: {user}    password: {password}    (made up for this run)

API clients get a token from the local provider (client credentials) and call through the
same sidecar; without a token the answer is 401:

  TOKEN=$(curl -s -u '{client_id}:{client_secret}' -d grant_type=client_credentials -d scope=api {token_url} | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
  curl -X POST -H "Authorization: Bearer $TOKEN" -d '{{"appId":"backend","method":"savestate","payload":{{"key":"mykey","data":"123"}}}}' {login_url}call

The frontend app itself ({app_url}) checks the same tokens (AUTH_MODE=jwt).
State is kept in {state}. Press Ctrl-C to stop.
"#,
        login_url = topology.login_url(),
        user = provider.user,
        password = provider.password,
        client_id = provider.client_id,
        client_secret = provider.client_secret,
        token_url = provider.token_url(),
        app_url = topology.frontend_url(),
        state = topology.workdir.join("state.db").display()
    )
}

fn session_instructions(topology: &Topology, provider: &IdentityProvider) -> String {
    let replicas = topology.frontends().count();
    let behind = if replicas > 1 {
        format!(" (nginx, round robin over {replicas} frontend replicas, each with its daprd)")
    } else {
        String::new()
    };
    format!(
        r#"
The pair is running behind a login. Open this in a browser{behind}:

  {browser_url}

  user: {user}    password: {password}    (made up for this run)

The frontend signs you in itself (AUTH_MODE=session); sessions are kept in the Dapr state
store `sessionstore` ({sessions}, encrypted), so any replica serves you and a restart signs
nobody out. API clients get a token from the local provider (client credentials) and call
through the front door (nginx, as AKS's Gateway: this one route only) to the frontend's sidecar,
whose bearer middleware checks it; without one the answer is 401. The sidecar itself answers
nothing without the app's own dapr-api-token (docs/security.md, "The frontend's sidecar"):

  TOKEN=$(curl -s -u '{client_id}:{client_secret}' -d grant_type=client_credentials -d scope=api {token_url} | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
  curl -X POST -H "Authorization: Bearer $TOKEN" -d '{{"appId":"backend","method":"savestate","payload":{{"key":"mykey","data":"123"}}}}' {sidecar_url}call

State is kept in {state}. Press Ctrl-C to stop.
"#,
        browser_url = topology.browser_url(),
        user = provider.user,
        password = provider.password,
        client_id = provider.client_id,
        client_secret = provider.client_secret,
        token_url = provider.token_url(),
        sidecar_url = topology.login_url(),
        sessions = topology.workdir.join("sessions.db").display(),
        state = topology.workdir.join("state.db").display()
    )
}

/// How many replicas run, when more than one of either: `(nginx, round robin over …)`.
fn replicas_line(topology: &Topology) -> String {
    let (frontends, backends) = (topology.frontends().count(), topology.backends().count());
    if frontends == 1 && backends == 1 {
        return String::new();
    }
    let front = if topology.proxy.is_some() {
        format!("nginx, round robin over {frontends} frontend replicas")
    } else {
        "one frontend".to_owned()
    };
    format!("\n({front} and {backends} backend replicas, each with its daprd)")
}
