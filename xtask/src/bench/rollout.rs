//! The rollout figure: the pair with two replicas of each app (nginx in front), under load at
//! 16 concurrent with distinct keys, once steady and once while every replica is replaced
//! ([`launcher::Topology::rollout`], as `cargo xtask rollout` does it). Same window, same
//! load: what a rollout costs in failed requests and in p99.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use launcher::{RolloutOptions, Topology, TopologyOptions};
use serde::Serialize;

use super::load::{self, Body, LoadResult};

const CONCURRENCY: usize = 16;
/// Long enough for a rollout of four replicas (about 35 s here), and the same for the steady
/// window beside it.
const WINDOW: Duration = Duration::from_secs(45);
/// Load first, then the rollout: the first replica is replaced under load.
const LEAD: Duration = Duration::from_secs(2);

#[derive(Serialize)]
pub struct RolloutResult {
    pub concurrency: usize,
    pub window_secs: u64,
    pub steady: LoadResult,
    pub during_rollout: LoadResult,
    /// How long the rollout took.
    pub rollout_secs: f64,
}

pub async fn measure(
    oha: &Path,
    bodies: &Path,
    frontend: &Path,
    backend: &Path,
    out: &Path,
) -> anyhow::Result<RolloutResult> {
    // Kept, with every process's log and nginx's access log, to see what a failure was.
    let workdir = std::path::absolute(out.join("rollout-run"))?;
    let _ = std::fs::remove_dir_all(&workdir);
    eprintln!(
        "bench: rollout: 2 frontends behind nginx, 2 backends, {CONCURRENCY} concurrent (logs in {}) ...",
        workdir.join("logs").display()
    );
    let mut topology = Topology::start(TopologyOptions {
        workdir: Some(workdir),
        frontend_program: Some(frontend.to_owned()),
        backend_program: Some(backend.to_owned()),
        frontend_replicas: 2,
        backend_replicas: 2,
        ..TopologyOptions::default()
    })
    .await
    .context("the rollout's topology did not start")?;
    let measured = steady_and_rolling(&mut topology, oha, bodies).await;
    if measured.is_err() {
        eprintln!("{}", topology.log_tails(20));
    }
    topology.stop().await;
    measured
}

async fn steady_and_rolling(
    topology: &mut Topology,
    oha: &Path,
    bodies: &Path,
) -> anyhow::Result<RolloutResult> {
    let url = format!("{}/call", topology.entry_url());
    let body = Body::Lines(bodies);
    load::run(oha, &url, body, CONCURRENCY, Duration::from_secs(3)).await?;
    let steady = load::run(oha, &url, body, CONCURRENCY, WINDOW).await?;
    let started = tokio::time::Instant::now();
    let loaded = load::run(oha, &url, body, CONCURRENCY, WINDOW);
    let rolled = async {
        tokio::time::sleep(LEAD).await;
        topology
            .rollout(&RolloutOptions::default(), |line| {
                eprintln!("bench: rollout: {line}")
            })
            .await?;
        Ok::<_, anyhow::Error>(started.elapsed() - LEAD)
    };
    let (during_rollout, rollout_took) = tokio::join!(loaded, rolled);
    let rollout_took = rollout_took?;
    if rollout_took + LEAD > WINDOW {
        eprintln!(
            "bench: rollout: it took {rollout_took:?}, longer than the load's window: its end was not under load"
        );
    }
    Ok(RolloutResult {
        concurrency: CONCURRENCY,
        window_secs: WINDOW.as_secs(),
        steady,
        during_rollout: during_rollout?,
        rollout_secs: rollout_took.as_secs_f64(),
    })
}
