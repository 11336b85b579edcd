//! `cargo xtask bench` (`scripts/bench.sh`): the pair under load, next to a floor.
//!
//! For each topology, all started by the launcher the local run uses (Sentry, two real daprd,
//! the embedded SQLite store):
//! - **ours**: the real frontend and backend;
//! - **floor**: trivial echo apps (`echo_frontend.rs`, `echo_backend.rs`) that do the cheapest
//!   thing that does the job: invoke the backend, save the value with one state operation
//!   through daprd's HTTP state API (measured no dearer than its gRPC one), nothing else; so
//!   the floor is what daprd and the HTTP stack cost by themselves, and ours/floor what the
//!   real apps add;
//! - with `--floor-api both`, also **floor-grpc**: the same floor saving over daprd's gRPC
//!   state API (`echo_backend_grpc.rs`), which shows which of the two APIs costs daprd less;
//!
//! it times each app's start (spawn to listening, spawn to `/readyz` 200), warms up, reads
//! every process's RSS at idle, then drives `POST /call` → `/savestate` with `oha` at each
//! concurrency level, all requests saving one key, and then at each distinct-keys level, every
//! request another key (as real clients send), recording requests/s, p50, p99, errors, the
//! peak RSS and the CPU time per request of each process. The topologies run side by side and
//! each level is split into rounds that alternate between them, so drift in the machine's load
//! (these machines are shared) falls on all. It prints the figures with the ratios ours/floor
//! and the targets, and writes `bench.json` and `bench.svg` to the results folder.
//!
//! Unless `--no-image`, the image figure ([`image`]): the container image's size next to the
//! binaries', and its apps' start next to theirs (written to `image.json`).
//!
//! Last, unless `--no-rollout`, the rollout figure ([`rollout`]): the real apps with two
//! replicas of each, failed requests and p99 while every replica is replaced, next to the same
//! load steady.

mod image;
mod load;
mod measure;
mod oha;
mod report;
mod rollout;

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
    /// Concurrency levels at which every request saves the same key, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16, 64])]
    levels: Vec<usize>,
    /// Concurrency levels at which every request saves another key, comma-separated; the flag
    /// with no value: none.
    #[arg(long, value_delimiter = ',', num_args = 0.., default_values_t = [64])]
    distinct_levels: Vec<usize>,
    /// Which of daprd's state APIs the floor's echo backend saves through: `http` (the one the
    /// backend uses), `grpc`, or `both` (a second floor, `floor-grpc`, to compare them).
    #[arg(long, value_enum, default_value_t = FloorApi::Http)]
    floor_api: FloorApi,
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
    /// Skip the rollout figure (about 100 s).
    #[arg(long)]
    no_rollout: bool,
    /// Skip the image figure: the container image's size and its apps' start (it builds the
    /// image with `cargo xtask image` and needs root).
    #[arg(long)]
    no_image: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
enum FloorApi {
    Grpc,
    Http,
    Both,
}

/// What `/call` gets under load: the original sample's save request.
const CALL_BODY: &str = r#"{"appId":"backend","method":"savestate","httpMethod":"POST","payload":"{\"key\":\"bench\",\"data\":{\"name\":\"geert\",\"n\":1}}"}"#;

/// Bodies for the distinct-keys levels: `oha` picks one of these lines at random for each
/// request, so nearly every request saves another key.
const DISTINCT_KEYS: usize = 100_000;

fn distinct_key_bodies() -> String {
    (0..DISTINCT_KEYS)
        .map(|n| CALL_BODY.replace(r#"\"key\":\"bench\""#, &format!(r#"\"key\":\"bench-{n}\""#)))
        .collect::<Vec<_>>()
        .join("\n")
}

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
    /// `one`: every request saves the same key; `distinct`: each another.
    pub keys: &'static str,
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
        .block_on(run_all(args, dir, oha))
}

/// The topologies of this run: name, frontend program, backend program.
fn topologies(args: &Args, dir: &Path) -> Vec<(&'static str, PathBuf, PathBuf)> {
    let mut all = vec![("ours", dir.join("frontend"), dir.join("backend"))];
    let floor = |backend: &str| (dir.join("echo-frontend"), dir.join(backend));
    let (frontend, backend) = match args.floor_api {
        FloorApi::Http | FloorApi::Both => floor("echo-backend"),
        FloorApi::Grpc => floor("echo-backend-grpc"),
    };
    all.push(("floor", frontend, backend));
    if args.floor_api == FloorApi::Both {
        let (frontend, backend) = floor("echo-backend-grpc");
        all.push(("floor-grpc", frontend, backend));
    }
    all
}

async fn run_all(args: Args, dir: PathBuf, oha: PathBuf) -> anyhow::Result<()> {
    // The topologies run side by side, and the load alternates between them, so a change in
    // the machine's background load during the run falls on all alike. (An idle one costs
    // next to nothing.)
    eprintln!("bench: starting the topologies ...");
    let mut started: Vec<(&'static str, Topology)> = Vec::new();
    for (name, frontend, backend) in topologies(&args, &dir) {
        let options = TopologyOptions {
            frontend_program: Some(frontend),
            backend_program: Some(backend),
            ..TopologyOptions::default()
        };
        match Topology::start(options).await {
            Ok(topology) => started.push((name, topology)),
            Err(error) => {
                for (_, topology) in &mut started {
                    topology.stop().await;
                }
                return Err(error.context(format!("{name} did not start")));
            }
        }
    }
    let bodies = std::env::temp_dir().join(format!("dapr-pair-bench-{}.txt", std::process::id()));
    std::fs::write(&bodies, distinct_key_bodies()).context("writing the distinct-keys bodies")?;
    let mut variants: Vec<Variant> = started
        .iter_mut()
        .map(|(name, topology)| Variant { name, topology })
        .collect();
    let measured = measure(&mut variants, &args, &oha, &bodies).await;
    if measured.is_err() {
        for variant in &variants {
            eprintln!("{}", variant.topology.log_tails(20));
        }
    }
    for variant in &mut variants {
        variant.topology.stop().await;
    }
    let rolled = match (&measured, args.no_rollout) {
        (Ok(_), false) => Some(
            rollout::measure(
                &oha,
                &bodies,
                &dir.join("frontend"),
                &dir.join("backend"),
                &args.out,
            )
            .await,
        ),
        _ => None,
    };
    let _ = std::fs::remove_file(&bodies);
    let imaged = match (&measured, args.no_image) {
        (Ok(_), false) => Some(image::measure(&dir, args.starts).await),
        _ => None,
    };
    let results = measured?;
    report::print(&results);
    match imaged {
        Some(Ok(imaged)) => {
            image::print(&imaged, &results[0]);
            std::fs::create_dir_all(&args.out)?;
            std::fs::write(
                args.out.join("image.json"),
                serde_json::to_string_pretty(&imaged)?,
            )?;
        }
        Some(Err(error)) => eprintln!("bench: no image figure: {error:#}"),
        None => {}
    }
    if let Some(rolled) = rolled {
        report::print_rollout(&rolled?);
    }
    let written = report::write(&args.out, &results, args.duration).context("writing results")?;
    eprintln!("bench: wrote {written}");
    Ok(())
}

/// One topology under measurement.
struct Variant<'a> {
    name: &'static str,
    topology: &'a mut Topology,
}

/// One level of load: how many requests at once, and whether each saves another key.
#[derive(Clone, Copy)]
struct Level {
    concurrency: usize,
    distinct: bool,
}

async fn measure(
    variants: &mut [Variant<'_>],
    args: &Args,
    oha: &Path,
    bodies: &Path,
) -> anyhow::Result<Vec<VariantResult>> {
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
        let body = load::Body::Fixed(CALL_BODY);
        let warmup = load::run(oha, url, body, 16, Duration::from_secs(args.warmup)).await?;
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

    // Each level in rounds, rotating which topology goes first.
    let count = variants.len();
    let rounds = args.rounds.max(1);
    let round_length = Duration::from_secs(args.duration).div_f64(rounds as f64);
    let levels = (args.levels.iter().map(|&concurrency| Level {
        concurrency,
        distinct: false,
    }))
    .chain(args.distinct_levels.iter().map(|&concurrency| Level {
        concurrency,
        distinct: true,
    }));
    let mut results: Vec<Vec<LevelResult>> = (0..count).map(|_| Vec::new()).collect();
    for level in levels {
        let keys = if level.distinct { "distinct" } else { "one" };
        eprintln!(
            "bench: {} concurrent, {keys} key(s), {rounds} rounds of {round_length:?} each ...",
            level.concurrency
        );
        let body = if level.distinct {
            load::Body::Lines(bodies)
        } else {
            load::Body::Fixed(CALL_BODY)
        };
        let mut runs: Vec<Vec<LoadResult>> = (0..count).map(|_| Vec::new()).collect();
        let mut peaks: Vec<Vec<(String, u64)>> = vec![Vec::new(); count];
        let mut cpu: Vec<Vec<(String, u64)>> = vec![Vec::new(); count];
        for round in 0..rounds as usize {
            for offset in 0..count {
                let index = (round + offset) % count;
                let sampler = processes[index].sample_peak_rss();
                let cpu_before = processes[index].cpu_micros();
                runs[index].push(
                    load::run(oha, &urls[index], body, level.concurrency, round_length).await?,
                );
                let used: Vec<_> = (processes[index].cpu_micros().into_iter())
                    .zip(cpu_before)
                    .map(|((name, after), (_, before))| (name, after.saturating_sub(before)))
                    .collect();
                cpu[index] = added(&cpu[index], &used);
                peaks[index] = highest(&peaks[index], &sampler.finish().await);
            }
        }
        for index in 0..count {
            let load = LoadResult::combine(&runs[index]);
            let requests = (load.successes + load.errors).max(1) as f64;
            results[index].push(LevelResult {
                concurrency: level.concurrency,
                keys,
                cpu_us_per_request: cpu[index]
                    .iter()
                    .map(|(name, micros)| (name.clone(), *micros as f64 / requests))
                    .collect(),
                load,
                peak_rss_kib: std::mem::take(&mut peaks[index]),
            });
        }
    }

    Ok(variants
        .iter()
        .zip(results)
        .zip(starts.into_iter().zip(idle))
        .map(
            |((variant, levels), ((frontend_start, backend_start), idle_rss_kib))| VariantResult {
                name: variant.name,
                frontend_start,
                backend_start,
                idle_rss_kib,
                levels,
            },
        )
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
