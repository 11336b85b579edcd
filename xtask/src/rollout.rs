//! `cargo xtask rollout --data-dir DIR`: every replica of a running `run-local` (started with
//! the same `--data-dir`) replaced as Kubernetes does it ([`launcher::Topology::rollout`]), so
//! anyone can watch their own traffic go through one.
//!
//! `run-local` owns its processes (they die with it), so it does the rollout itself: it listens
//! on `DIR/control.sock` (in the private data folder), and this command asks it there and
//! prints each step as it is told. One request a line: `rollout LAG_MS GRACE_MS`; the answer
//! is the steps, one a line, and last `ok` or `error: …`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use launcher::{RolloutOptions, Topology};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

const SOCKET: &str = "control.sock";

#[derive(clap::Args)]
pub struct Args {
    /// The data folder of the running `run-local`.
    #[arg(long, env = "DATA_DIR", default_value = ".data")]
    data_dir: PathBuf,
    /// How long after SIGTERM an old replica stays in name resolution and nginx's upstream (the
    /// time Kubernetes takes to remove a terminating pod's endpoints): `2s`, `500ms`.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    endpoint_lag: Duration,
    /// From SIGTERM, how long the old processes get before SIGKILL
    /// (`terminationGracePeriodSeconds`).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    grace_period: Duration,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()
        .context("starting the Tokio runtime")?
        .block_on(ask_for_rollout(args))
}

async fn ask_for_rollout(args: Args) -> anyhow::Result<()> {
    let path = args.data_dir.join(SOCKET);
    let mut stream = UnixStream::connect(&path).await.with_context(|| {
        format!(
            "no run-local is listening on {} (start it with the same --data-dir, and with \
             --frontend-replicas 2 or more)",
            path.display()
        )
    })?;
    let request = format!(
        "rollout {} {}\n",
        args.endpoint_lag.as_millis(),
        args.grace_period.as_millis()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut lines = BufReader::new(stream).lines();
    while let Some(line) = lines.next_line().await? {
        match line.as_str() {
            "ok" => return Ok(()),
            _ if line.starts_with("error: ") => anyhow::bail!("{}", &line["error: ".len()..]),
            _ => println!("{line}"),
        }
    }
    anyhow::bail!("run-local closed the connection before the rollout ended")
}

/// `run-local`'s side: the socket it takes rollout requests on.
pub fn listen(workdir: &Path) -> anyhow::Result<UnixListener> {
    let path = workdir.join(SOCKET);
    // One left by a run that was killed.
    let _ = std::fs::remove_file(&path);
    UnixListener::bind(&path).with_context(|| format!("listening on {}", path.display()))
}

/// Serves one request on `stream`: a rollout of `topology`, each step sent back as a line.
pub async fn serve(topology: &mut Topology, stream: UnixStream) -> anyhow::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut request = String::new();
    BufReader::new(reader).read_line(&mut request).await?;
    let options = match request.split_whitespace().collect::<Vec<_>>()[..] {
        ["rollout", lag, grace] => RolloutOptions {
            endpoint_lag: Duration::from_millis(lag.parse()?),
            grace_period: Duration::from_millis(grace.parse()?),
        },
        _ => anyhow::bail!("not a rollout request: {request:?}"),
    };
    eprintln!("rollout asked for ...");
    let (steps_tx, mut steps_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    // The sender goes with the rollout, so the forwarding ends with it.
    let rollout = topology.rollout(&options, move |line| {
        eprintln!("rollout: {line}");
        let _ = steps_tx.send(line);
    });
    let forward = async {
        while let Some(line) = steps_rx.recv().await {
            // The asker may have gone (Ctrl-C): the rollout goes on.
            let _ = writer.write_all(format!("{line}\n").as_bytes()).await;
        }
    };
    let (rolled, ()) = tokio::join!(rollout, forward);
    let last = match &rolled {
        Ok(()) => "ok\n".to_owned(),
        Err(error) => format!("error: {}\n", format!("{error:#}").replace('\n', " ")),
    };
    let _ = writer.write_all(last.as_bytes()).await;
    rolled
}
