//! The pair on this machine: Sentry, the backend and its daprd, the frontend and its daprd,
//! with the embedded SQLite state store under `./.data`. With `--login`, also a local identity
//! provider, and the frontend's sidecar as the gated entry a browser can log in through.
//! Stops on Ctrl-C. The end-to-end tests start the same topology through the same launcher.

use std::path::PathBuf;

use anyhow::Context;
use launcher::{IdentityProvider, Topology, TopologyOptions};

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
    /// and put the OAuth2 login in front of the frontend, on its sidecar.
    #[arg(long, env = "LOGIN")]
    login: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    // The launcher finds the apps next to this program.
    build_bins(Profile::Dev, &["frontend", "backend"])?;
    let workdir = std::path::absolute(&args.data_dir)
        .with_context(|| format!("the data folder {}", args.data_dir.display()))?;
    tokio::runtime::Runtime::new()
        .context("starting the Tokio runtime")?
        .block_on(run_pair(args, workdir))
}

async fn run_pair(args: Args, workdir: PathBuf) -> anyhow::Result<()> {
    eprintln!(
        "starting Sentry, backend + daprd, frontend + daprd (logs in {}) ...",
        workdir.join("logs").display()
    );
    let mut topology = Topology::start(TopologyOptions {
        workdir: Some(workdir),
        frontend_port: args.port,
        otlp_endpoint: args.otlp_endpoint,
        login: args.login,
        ..TopologyOptions::default()
    })
    .await
    .context("the pair did not start")?;
    let instructions = match &topology.identity_provider {
        Some(provider) => login_instructions(&topology, provider),
        None => plain_instructions(&topology),
    };
    println!("{instructions}");
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("stopping ...");
    topology.stop().await;
    Ok(())
}

fn plain_instructions(topology: &Topology) -> String {
    let url = topology.frontend_url();
    format!(
        r#"
The pair is running. The frontend is at {url}

  # save a key through the frontend -> Dapr -> backend -> state store
  curl -X POST -d '{{"appId":"backend","method":"savestate","httpMethod":"POST","payload":"{{\"key\":\"mykey\",\"data\":\"123\"}}"}}' {url}/call

  # read it back
  curl -X POST -d '{{"appId":"backend","method":"state/mykey","httpMethod":"GET"}}' {url}/call

  # delete it
  curl -X POST -d '{{"appId":"backend","method":"state/mykey","httpMethod":"DELETE"}}' {url}/call

State is kept in {state}. Press Ctrl-C to stop.
"#,
        state = topology.workdir.join("state.db").display()
    )
}

fn login_instructions(topology: &Topology, provider: &IdentityProvider) -> String {
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
