//! The pair on this machine: Sentry, the backend and its daprd, the frontend and its daprd,
//! with the embedded SQLite state store under `./.data`. Stops on Ctrl-C.

use std::path::PathBuf;

use clap::Parser;
use e2e::{Topology, TopologyOptions};

#[derive(Parser)]
#[command(about = "Runs the frontend and backend with their Dapr sidecars on this machine")]
struct Args {
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
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let workdir =
        std::path::absolute(&args.data_dir).expect("an absolute path for the data folder");
    eprintln!(
        "starting Sentry, backend + daprd, frontend + daprd (logs in {}) ...",
        workdir.join("logs").display()
    );
    let mut topology = match Topology::start(TopologyOptions {
        workdir: Some(workdir),
        frontend_port: args.port,
        otlp_endpoint: args.otlp_endpoint,
        ..TopologyOptions::default()
    })
    .await
    {
        Ok(topology) => topology,
        Err(error) => {
            eprintln!("the pair did not start: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let url = topology.frontend_url();
    println!(
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
    );
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("stopping ...");
    topology.stop().await;
    std::process::ExitCode::SUCCESS
}
