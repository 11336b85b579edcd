//! `cargo xtask bench` (`scripts/bench.sh`): the pair under load, next to a floor.
//!
//! For each topology, all started by the launcher the local run uses (Sentry, two real daprd,
//! the embedded SQLite store):
//! - **ours**: the real frontend and backend;
//! - **floor** (`--floors http`, the first by default): trivial echo apps (`echo_frontend.rs`, `echo_backend.rs`) that do the cheapest
//!   thing that does the job: invoke the backend, save the value with one state operation
//!   through daprd's HTTP state API (measured no dearer than its gRPC one), nothing else; so
//!   the floor is what daprd and the HTTP stack cost by themselves, and ours/floor what the
//!   real apps add;
//! - further floors (`--floors`, [`Floor`]): the echo apps calling daprd another way, one
//!   thing changed at a time (the gRPC state API, the value as bytes, no trace context, a bare
//!   answer), or all the ways the Go original calls it; the backend's daprd CPU per request of
//!   each says what each difference costs daprd (`--profile-daprd`: where, in its profile);
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
mod profile;
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
    /// The floors: the echo apps, each calling daprd one way, comma-separated. The first is the
    /// one ours is compared with; each other is compared with the first.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Floor::Http, Floor::Original])]
    floors: Vec<Floor>,
    /// Also run the pair built elsewhere (the `frontend` and `backend` binaries in this folder,
    /// for example a release build of another commit) as the topology `other-pair`, compared
    /// with the floor like the other floors: the way to tell what a change to the apps does,
    /// within one run rather than across runs.
    #[arg(long, value_name = "DIR")]
    other_pair: Option<PathBuf>,
    /// Also record a CPU profile of each topology's backend daprd in every round (Go's
    /// pprof), to `OUT/pprof/` (read them with `go tool pprof -top FILES`).
    #[arg(long)]
    profile_daprd: bool,
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

/// How a floor's echo apps call daprd (`echo.rs`'s `CallPattern`): the real pair's way, or
/// that with one thing changed, or the Go original's way.
#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
enum Floor {
    /// As the real pair: HTTP state API, the value as JSON, trace context passed on, the
    /// backend answering `{"key":…}`.
    Http,
    /// The same over daprd's gRPC state API (the Dapr SDK's generated client).
    Grpc,
    /// gRPC, the value as bytes: daprd does not parse it, the store keeps it as base64.
    GrpcRaw,
    /// HTTP without trace context: daprd starts a new trace at each hop.
    NoTrace,
    /// HTTP, the backend answering a bare 200.
    EmptyAnswer,
    /// As the Go original (gbaeke/super-api) calls daprd: gRPC, the value as bytes, no
    /// trace context, a bare 200.
    Original,
}

impl Floor {
    fn topology_name(self) -> &'static str {
        match self {
            Floor::Http => "floor",
            Floor::Grpc => "floor-grpc",
            Floor::GrpcRaw => "floor-grpc-raw",
            Floor::NoTrace => "floor-no-trace",
            Floor::EmptyAnswer => "floor-empty-answer",
            Floor::Original => "floor-original",
        }
    }

    fn backend_program(self) -> &'static str {
        match self {
            Floor::Http | Floor::NoTrace | Floor::EmptyAnswer => "echo-backend",
            Floor::Grpc | Floor::GrpcRaw | Floor::Original => "echo-backend-grpc",
        }
    }

    /// The echo apps' settings for this pattern (`echo.rs`'s `CallPattern`).
    fn app_env(self) -> Vec<(String, String)> {
        let (trace, answer, value) = match self {
            Floor::Http | Floor::Grpc => (true, true, true),
            Floor::GrpcRaw => (true, true, false),
            Floor::NoTrace => (false, true, true),
            Floor::EmptyAnswer => (true, false, true),
            Floor::Original => (false, false, false),
        };
        let mut env = Vec::new();
        for (on, name, off) in [
            (trace, "ECHO_TRACE", "off"),
            (answer, "ECHO_ANSWER", "empty"),
            (value, "ECHO_VALUE", "raw"),
        ] {
            if !on {
                env.push((name.to_owned(), off.to_owned()));
            }
        }
        env
    }
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

/// A topology of this run: its name, and its apps with their settings.
struct Planned {
    name: &'static str,
    options: TopologyOptions,
}

fn topologies(args: &Args, dir: &Path) -> Vec<Planned> {
    let pair = |name, dir: &Path| Planned {
        name,
        options: TopologyOptions {
            frontend_program: Some(dir.join("frontend")),
            backend_program: Some(dir.join("backend")),
            ..TopologyOptions::default()
        },
    };
    let ours = pair("ours", dir);
    let floors = args.floors.iter().map(|floor| Planned {
        name: floor.topology_name(),
        options: TopologyOptions {
            frontend_program: Some(dir.join("echo-frontend")),
            backend_program: Some(dir.join(floor.backend_program())),
            app_env: floor.app_env(),
            ..TopologyOptions::default()
        },
    });
    let other_pair = (args.other_pair.as_deref()).map(|other| pair("other-pair", other));
    std::iter::once(ours)
        .chain(floors)
        .chain(other_pair)
        .map(|mut planned| {
            planned.options.sidecar_profiling = args.profile_daprd;
            planned
        })
        .collect()
}

async fn run_all(args: Args, dir: PathBuf, oha: PathBuf) -> anyhow::Result<()> {
    // The topologies run side by side, and the load alternates between them, so a change in
    // the machine's background load during the run falls on all alike. (An idle one costs
    // next to nothing.)
    eprintln!("bench: starting the topologies ...");
    let mut started: Vec<(&'static str, Topology)> = Vec::new();
    for Planned { name, options } in topologies(&args, &dir) {
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
                let profile = variants[index]
                    .topology
                    .backend
                    .dapr_profile_port
                    .map(|port| {
                        let file = format!(
                            "{}-{}-{keys}-round{round}.pprof",
                            variants[index].name, level.concurrency
                        );
                        profile::record(port, round_length, args.out.join("pprof").join(file))
                    });
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
                if let Some(profile) = profile {
                    profile.await??;
                }
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
