//! `scripts/bench.sh`: the pair under load, next to a floor.
//!
//! For each of two topologies, both started by the launcher the local run uses (Sentry, two
//! real daprd, the embedded SQLite store):
//! - **ours**: the real frontend and backend;
//! - **floor**: trivial echo apps (`echo-frontend`, `echo-backend`) that make the same Dapr
//!   calls and nothing else, so the floor is what daprd and the HTTP stack cost by themselves;
//!
//! it times each app's start (spawn to listening, spawn to `/readyz` 200), warms up, reads
//! every process's RSS at idle, then drives `POST /call` → `/savestate` with `oha` at each
//! concurrency level for a fixed time, recording requests/s, p50, p99, errors and the peak RSS
//! of each process. It prints the figures with the ratios ours/floor and the targets, and
//! writes `bench.json` and `bench.svg` to the results folder.

mod load;
mod measure;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use e2e::{Topology, TopologyOptions};
use serde::Serialize;

use crate::load::LoadResult;
use crate::measure::{Processes, Startup};

#[derive(Parser)]
#[command(about = "Benchmarks the pair against a floor of echo apps on the same Dapr topology")]
struct Args {
    /// Seconds of load at each concurrency level.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Concurrency levels, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16, 64])]
    levels: Vec<usize>,
    /// Seconds of load before measuring, so connection pools and caches are warm.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// How many times each app is restarted to time its start (the median is reported).
    #[arg(long, default_value_t = 5)]
    starts: usize,
    /// The oha load generator (`scripts/bench.sh` installs a pinned one).
    #[arg(long, env = "OHA", default_value = "oha")]
    oha: PathBuf,
    /// Folder for bench.json and bench.svg.
    #[arg(long, default_value = "results")]
    out: PathBuf,
}

/// What `/call` gets under load: the original sample's save request.
const CALL_BODY: &str = r#"{"appId":"backend","method":"savestate","httpMethod":"POST","payload":"{\"key\":\"bench\",\"data\":{\"name\":\"geert\",\"n\":1}}"}"#;

#[derive(Serialize)]
pub struct VariantResult {
    pub name: &'static str,
    pub frontend_start: Startup,
    pub backend_start: Startup,
    /// KiB per process, after warm-up with no load.
    pub idle_rss_kib: Vec<(String, u64)>,
    pub levels: Vec<LevelResult>,
}

#[derive(Serialize)]
pub struct LevelResult {
    pub concurrency: usize,
    #[serde(flatten)]
    pub load: LoadResult,
    /// Highest RSS (KiB) seen per process during the level.
    pub peak_rss_kib: Vec<(String, u64)>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let dir = e2e::dapr::app_bin_dir();
    let variants = [
        ("ours", TopologyOptions::default()),
        (
            "floor",
            TopologyOptions {
                frontend_program: Some(dir.join("echo-frontend")),
                backend_program: Some(dir.join("echo-backend")),
                ..TopologyOptions::default()
            },
        ),
    ];
    let mut results = Vec::new();
    for (name, options) in variants {
        eprintln!("bench: {name}: starting the topology ...");
        match run_variant(name, options, &args).await {
            Ok(result) => results.push(result),
            Err(error) => {
                eprintln!("bench: {name} failed: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    report::print(&results);
    match report::write(&args.out, &results, args.duration) {
        Ok(written) => {
            eprintln!("bench: wrote {written}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("bench: writing results: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run_variant(
    name: &'static str,
    options: TopologyOptions,
    args: &Args,
) -> Result<VariantResult, String> {
    let mut topology = Topology::start(options).await?;
    let result = measure_variant(name, &mut topology, args).await;
    if result.is_err() {
        eprintln!("{}", topology.log_tails(20));
    }
    topology.stop().await;
    result
}

async fn measure_variant(
    name: &'static str,
    topology: &mut Topology,
    args: &Args,
) -> Result<VariantResult, String> {
    eprintln!(
        "bench: {name}: timing {} starts of each app ...",
        args.starts
    );
    let frontend_start = measure::time_starts(&mut topology.frontend, args.starts).await?;
    let backend_start = measure::time_starts(&mut topology.backend, args.starts).await?;

    let url = format!("{}/call", topology.frontend_url());
    let warmup = load::run(
        &args.oha,
        &url,
        CALL_BODY,
        16,
        Duration::from_secs(args.warmup),
    )
    .await?;
    if warmup.successes == 0 {
        return Err(format!("no request succeeded during warm-up: {warmup:?}"));
    }
    let processes = Processes::of(topology)?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss_kib = processes.rss_kib();

    let mut levels = Vec::new();
    for &concurrency in &args.levels {
        eprintln!(
            "bench: {name}: {concurrency} concurrent for {}s ...",
            args.duration
        );
        let sampler = processes.sample_peak_rss();
        let load = load::run(
            &args.oha,
            &url,
            CALL_BODY,
            concurrency,
            Duration::from_secs(args.duration),
        )
        .await?;
        let peak_rss_kib = sampler.finish().await;
        levels.push(LevelResult {
            concurrency,
            load,
            peak_rss_kib,
        });
    }
    Ok(VariantResult {
        name,
        frontend_start,
        backend_start,
        idle_rss_kib,
        levels,
    })
}
