//! `cargo xtask bench` (`scripts/bench.sh`): the pair under load, next to a floor.
//!
//! For each of two topologies, both started by the launcher the local run uses (Sentry, two
//! real daprd, the embedded SQLite store):
//! - **ours**: the real frontend and backend;
//! - **floor**: trivial echo apps (`echo_frontend.rs`, `echo_backend.rs`) that make the same Dapr
//!   calls and nothing else, so the floor is what daprd and the HTTP stack cost by themselves;
//!
//! it times each app's start (spawn to listening, spawn to `/readyz` 200), warms up, reads
//! every process's RSS at idle, then drives `POST /call` → `/savestate` with `oha` at each
//! concurrency level, recording requests/s, p50, p99, errors and the peak RSS of each process.
//! Both topologies run side by side and each level is split into rounds that alternate between
//! them, so drift in the machine's load (these machines are shared) falls on both. It prints
//! the figures with the ratios ours/floor and the targets, and writes `bench.json` and
//! `bench.svg` to the results folder.

mod load;
mod measure;
mod oha;
mod report;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use launcher::{Topology, TopologyOptions};
use serde::Serialize;

use self::load::LoadResult;
use self::measure::{Processes, Startup};
use crate::cargo::{Profile, build_bins};

#[derive(clap::Args)]
pub struct Args {
    /// Seconds of load at each concurrency level, for each topology.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Rounds each level is split into, alternating between the two topologies.
    #[arg(long, default_value_t = 6)]
    rounds: u32,
    /// Concurrency levels, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16, 64])]
    levels: Vec<usize>,
    /// Seconds of load before measuring, so connection pools and caches are warm.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// How many times each app is restarted to time its start (the median is reported).
    #[arg(long, default_value_t = 5)]
    starts: usize,
    /// The oha load generator. Default: a pinned one, built once into a cache folder.
    #[arg(long, env = "OHA")]
    oha: Option<PathBuf>,
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
    /// CPU time per request (µs) of each process during the level: steadier than requests/s
    /// on a shared machine, and it shows where the time goes.
    pub cpu_us_per_request: Vec<(String, f64)>,
}

pub fn run(mut args: Args) -> anyhow::Result<()> {
    let oha = match args.oha.take() {
        Some(oha) => oha,
        None => oha::installed()?,
    };
    // Release builds of the pair and of the floor's echo apps (this crate's other binaries).
    let dir = build_bins(Profile::Release, &["frontend", "backend", "xtask"])?;
    tokio::runtime::Runtime::new()
        .context("starting the Tokio runtime")?
        .block_on(run_both(args, dir, oha))
}

async fn run_both(args: Args, dir: PathBuf, oha: PathBuf) -> anyhow::Result<()> {
    let ours_options = TopologyOptions {
        frontend_program: Some(dir.join("frontend")),
        backend_program: Some(dir.join("backend")),
        ..TopologyOptions::default()
    };
    let floor_options = TopologyOptions {
        frontend_program: Some(dir.join("echo-frontend")),
        backend_program: Some(dir.join("echo-backend")),
        ..TopologyOptions::default()
    };
    // Both topologies run side by side, and the load alternates between them, so a change in
    // the machine's background load during the run falls on both alike. (The idle one costs
    // next to nothing.)
    eprintln!("bench: starting both topologies ...");
    let mut ours = Topology::start(ours_options)
        .await
        .context("ours did not start")?;
    let mut floor = match Topology::start(floor_options).await {
        Ok(topology) => topology,
        Err(error) => {
            ours.stop().await;
            return Err(error.context("the floor did not start"));
        }
    };
    let measured = measure(&mut ours, &mut floor, &args, &oha).await;
    if measured.is_err() {
        eprintln!("{}\n{}", ours.log_tails(20), floor.log_tails(20));
    }
    ours.stop().await;
    floor.stop().await;
    let results = measured?;
    report::print(&results);
    let written = report::write(&args.out, &results, args.duration).context("writing results")?;
    eprintln!("bench: wrote {written}");
    Ok(())
}

/// One topology under measurement.
struct Variant<'a> {
    name: &'static str,
    topology: &'a mut Topology,
}

async fn measure(
    ours: &mut Topology,
    floor: &mut Topology,
    args: &Args,
    oha: &Path,
) -> anyhow::Result<Vec<VariantResult>> {
    let mut variants = [
        Variant {
            name: "ours",
            topology: ours,
        },
        Variant {
            name: "floor",
            topology: floor,
        },
    ];
    let mut starts = Vec::new();
    for variant in variants.iter_mut() {
        eprintln!(
            "bench: {}: timing {} starts of each app ...",
            variant.name, args.starts
        );
        let frontend = measure::time_starts(&mut variant.topology.frontend, args.starts).await?;
        let backend = measure::time_starts(&mut variant.topology.backend, args.starts).await?;
        starts.push((frontend, backend));
    }

    let urls: Vec<String> = variants
        .iter()
        .map(|v| format!("{}/call", v.topology.frontend_url()))
        .collect();
    let mut processes = Vec::new();
    for (variant, url) in variants.iter().zip(&urls) {
        let warmup = load::run(oha, url, CALL_BODY, 16, Duration::from_secs(args.warmup)).await?;
        if warmup.successes == 0 {
            return Err(anyhow::anyhow!(
                "{}: no request succeeded during warm-up: {warmup:?}",
                variant.name
            ));
        }
        processes.push(Processes::of(variant.topology)?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle: Vec<_> = processes.iter().map(Processes::rss_kib).collect();

    // Each level in rounds, alternating which topology goes first.
    let rounds = args.rounds.max(1);
    let round_length = Duration::from_secs(args.duration).div_f64(rounds as f64);
    let mut levels: [Vec<LevelResult>; 2] = [Vec::new(), Vec::new()];
    for &concurrency in &args.levels {
        eprintln!("bench: {concurrency} concurrent, {rounds} rounds of {round_length:?} each ...");
        let mut runs: [Vec<LoadResult>; 2] = [Vec::new(), Vec::new()];
        let mut peaks: [Vec<(String, u64)>; 2] = [Vec::new(), Vec::new()];
        let mut cpu: [Vec<(String, u64)>; 2] = [Vec::new(), Vec::new()];
        for round in 0..rounds {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for index in order {
                let sampler = processes[index].sample_peak_rss();
                let cpu_before = processes[index].cpu_micros();
                runs[index].push(
                    load::run(oha, &urls[index], CALL_BODY, concurrency, round_length).await?,
                );
                let used: Vec<_> = (processes[index].cpu_micros().into_iter())
                    .zip(cpu_before)
                    .map(|((name, after), (_, before))| (name, after.saturating_sub(before)))
                    .collect();
                cpu[index] = added(&cpu[index], &used);
                peaks[index] = highest(&peaks[index], &sampler.finish().await);
            }
        }
        for index in 0..2 {
            let load = LoadResult::combine(&runs[index]);
            let requests = (load.successes + load.errors).max(1) as f64;
            levels[index].push(LevelResult {
                concurrency,
                cpu_us_per_request: cpu[index]
                    .iter()
                    .map(|(name, micros)| (name.clone(), *micros as f64 / requests))
                    .collect(),
                load,
                peak_rss_kib: std::mem::take(&mut peaks[index]),
            });
        }
    }

    let [ours_levels, floor_levels] = levels;
    let mut starts = starts.into_iter();
    let mut idle = idle.into_iter();
    Ok([("ours", ours_levels), ("floor", floor_levels)]
        .into_iter()
        .map(|(name, levels)| {
            let (frontend_start, backend_start) = starts.next().expect("a start per variant");
            VariantResult {
                name,
                frontend_start,
                backend_start,
                idle_rss_kib: idle.next().expect("an idle RSS per variant"),
                levels,
            }
        })
        .collect())
}

/// Per process, the sum of two readings (`seen` may be empty: the first round).
fn added(seen: &[(String, u64)], new: &[(String, u64)]) -> Vec<(String, u64)> {
    combined(seen, new, |a, b| a + b)
}

/// Per process, the higher of two peak readings (`seen` may be empty: the first round).
fn highest(seen: &[(String, u64)], new: &[(String, u64)]) -> Vec<(String, u64)> {
    combined(seen, new, u64::max)
}

fn combined(
    seen: &[(String, u64)],
    new: &[(String, u64)],
    combine: fn(u64, u64) -> u64,
) -> Vec<(String, u64)> {
    new.iter()
        .map(|(name, value)| {
            let before = seen.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v);
            (name.clone(), combine(before, *value))
        })
        .collect()
}
