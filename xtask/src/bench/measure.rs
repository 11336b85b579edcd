//! What the benchmark reads from the processes themselves: resident memory from
//! `/proc/PID/status`, CPU time from `/proc/PID/stat`, and how long an app takes from spawn to
//! listening and to ready.

use std::net::TcpStream;
use std::time::Duration;

use anyhow::Context;
use launcher::{Service, Topology};
use serde::Serialize;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The four processes of the pair, by name.
#[derive(Clone)]
pub struct Processes(Vec<(String, u32)>);

impl Processes {
    pub fn of(topology: &Topology) -> anyhow::Result<Self> {
        let mut all = Vec::new();
        for service in [&topology.frontend, &topology.backend] {
            for process in [service.app_process(), service.sidecar_process()] {
                let process = process.context("a process of the pair is not running")?;
                let pid = process.pid().context("a process of the pair has exited")?;
                all.push((process.name.clone(), pid));
            }
        }
        Ok(Self(all))
    }

    pub fn rss_kib(&self) -> Vec<(String, u64)> {
        self.0
            .iter()
            .map(|(name, pid)| (name.clone(), rss_kib(*pid).unwrap_or(0)))
            .collect()
    }

    /// CPU time (user and system, all threads) each process has used so far, in microseconds.
    pub fn cpu_micros(&self) -> Vec<(String, u64)> {
        self.0
            .iter()
            .map(|(name, pid)| (name.clone(), cpu_micros(*pid).unwrap_or(0)))
            .collect()
    }

    /// Samples every process's RSS every 100 ms until [`PeakSampler::finish`].
    pub fn sample_peak_rss(&self) -> PeakSampler {
        let processes = self.clone();
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut peak = processes.rss_kib();
            loop {
                tokio::select! {
                    _ = &mut stop_rx => return peak,
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
                for ((_, high), (_, now)) in peak.iter_mut().zip(processes.rss_kib()) {
                    *high = (*high).max(now);
                }
            }
        });
        PeakSampler { stop_tx, task }
    }
}

pub struct PeakSampler {
    stop_tx: oneshot::Sender<()>,
    task: JoinHandle<Vec<(String, u64)>>,
}

impl PeakSampler {
    pub async fn finish(self) -> Vec<(String, u64)> {
        let _ = self.stop_tx.send(());
        self.task.await.unwrap_or_default()
    }
}

/// `VmRSS` of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `utime + stime` of a process (fields 14 and 15 of `/proc/PID/stat`), in microseconds.
fn cpu_micros(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let mut fields = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    let ticks_per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
    Some((user + system) * 1_000_000 / u64::try_from(ticks_per_second).ok()?)
}

/// Medians (and the slowest) of several starts, in milliseconds.
#[derive(Debug, Serialize)]
pub struct Startup {
    pub to_listening_ms: f64,
    pub to_ready_ms: f64,
    pub slowest_to_listening_ms: f64,
    pub slowest_to_ready_ms: f64,
}

/// Restarts `service`'s app `times` times (its sidecar keeps running) and times each start.
pub async fn time_starts(service: &mut Service, times: usize) -> anyhow::Result<Startup> {
    let mut listening = Vec::new();
    let mut ready = Vec::new();
    for _ in 0..times.max(1) {
        let (to_listening, to_ready) = time_start(service).await?;
        listening.push(to_listening.as_secs_f64() * 1000.0);
        ready.push(to_ready.as_secs_f64() * 1000.0);
    }
    Ok(Startup {
        to_listening_ms: median(&mut listening),
        to_ready_ms: median(&mut ready),
        slowest_to_listening_ms: listening.iter().copied().fold(0.0, f64::max),
        slowest_to_ready_ms: ready.iter().copied().fold(0.0, f64::max),
    })
}

const START_LIMIT: Duration = Duration::from_secs(20);

async fn time_start(service: &mut Service) -> anyhow::Result<(Duration, Duration)> {
    service.stop_app().await;
    service.start_app().await?;
    let spawned_at = service
        .app_process()
        .context("the app did not start")?
        .spawned_at;
    let address = format!("127.0.0.1:{}", service.app_port);
    // Listening: the first TCP connect that succeeds. Polled every 100 µs from a thread of its
    // own, so the figure's resolution is well under the 10 ms target.
    let to_listening = tokio::task::spawn_blocking(move || {
        while spawned_at.elapsed() < START_LIMIT {
            if TcpStream::connect(&address).is_ok() {
                return Ok(spawned_at.elapsed());
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        Err(anyhow::anyhow!(
            "nothing listened on {address} within {START_LIMIT:?}"
        ))
    })
    .await??;

    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    let url = format!("{}/readyz", service.app_url());
    while spawned_at.elapsed() < START_LIMIT {
        let answer = http.get(&url).send().await;
        if answer.is_ok_and(|answer| answer.status() == 200) {
            return Ok((to_listening, spawned_at.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Err(anyhow::anyhow!(
        "{url} did not answer 200 within {START_LIMIT:?}"
    ))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
