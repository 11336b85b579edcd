//! One run of the `oha` load generator, and the figures taken from its JSON summary.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
use tokio::process::Command;

#[derive(Debug, Serialize)]
pub struct LoadResult {
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub successes: u64,
    /// Answers other than 2xx, plus requests that got no answer.
    pub errors: u64,
    /// What the errors were: a status code, or oha's words for a request with no answer, each
    /// with its count.
    pub error_kinds: Vec<(String, u64)>,
}

impl LoadResult {
    /// Several runs at one level as one figure: the mean of requests/s, the median of each
    /// percentile, the sums of the counts.
    pub fn combine(runs: &[LoadResult]) -> LoadResult {
        let median = |value: fn(&LoadResult) -> f64| {
            let mut values: Vec<f64> = runs.iter().map(value).collect();
            values.sort_by(f64::total_cmp);
            values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
        };
        LoadResult {
            requests_per_sec: runs.iter().map(|r| r.requests_per_sec).sum::<f64>()
                / runs.len().max(1) as f64,
            p50_ms: median(|r| r.p50_ms),
            p99_ms: median(|r| r.p99_ms),
            successes: runs.iter().map(|r| r.successes).sum(),
            errors: runs.iter().map(|r| r.errors).sum(),
            error_kinds: runs.iter().flat_map(|r| r.error_kinds.clone()).collect(),
        }
    }
}

/// What each request sends.
#[derive(Clone, Copy)]
pub enum Body<'a> {
    /// The same body every time.
    Fixed(&'a str),
    /// A line of this file, picked at random for each request.
    Lines(&'a Path),
}

/// `POST body` to `url` from `concurrency` connections for `duration`.
pub async fn run(
    oha: &Path,
    url: &str,
    body: Body<'_>,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<LoadResult> {
    let mut command = Command::new(oha);
    match body {
        Body::Fixed(text) => command.args(["-d", text]),
        Body::Lines(file) => command.arg("-Z").arg(file),
    };
    let output = command
        .args(["--no-tui", "--output-format", "json"])
        // Requests still in flight at the deadline are waited for, not counted as errors.
        .arg("--wait-ongoing-requests-after-deadline")
        .args(["-z", &format!("{}ms", duration.as_millis())])
        .args(["-c", &concurrency.to_string()])
        .args(["-m", "POST", "-H", "content-type: application/json"])
        .arg(url)
        .output()
        .await
        .with_context(|| format!("running {}", oha.display()))?;
    if !output.status.success() {
        return Err(anyhow::anyhow!(
            "oha failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let summary: Value =
        serde_json::from_slice(&output.stdout).context("oha's output is not JSON")?;
    parse(&summary)
}

fn parse(summary: &Value) -> anyhow::Result<LoadResult> {
    let number = |pointer: &str| {
        summary
            .pointer(pointer)
            .and_then(Value::as_f64)
            .with_context(|| format!("oha's summary has no {pointer}: {summary}"))
    };
    // Each `status or error: count` of one of oha's distributions that `wanted` accepts.
    let kinds = |pointer: &str, wanted: fn(&str) -> bool| -> Vec<(String, u64)> {
        summary
            .pointer(pointer)
            .and_then(Value::as_object)
            .map(|map| {
                map.iter()
                    .filter(|(key, _)| wanted(key))
                    .filter_map(|(key, n)| Some((key.clone(), n.as_u64()?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let count = |pointer: &str, wanted: fn(&str) -> bool| -> u64 {
        kinds(pointer, wanted).iter().map(|(_, n)| n).sum()
    };
    let mut error_kinds = kinds("/statusCodeDistribution", |code| !code.starts_with('2'));
    error_kinds.extend(kinds("/errorDistribution", |_| true));
    let successes = count("/statusCodeDistribution", |code| code.starts_with('2'));
    let failed_answers = count("/statusCodeDistribution", |code| !code.starts_with('2'));
    let no_answer = count("/errorDistribution", |_| true);
    Ok(LoadResult {
        requests_per_sec: number("/summary/requestsPerSec")?,
        p50_ms: number("/latencyPercentiles/p50").unwrap_or(f64::NAN) * 1000.0,
        p99_ms: number("/latencyPercentiles/p99").unwrap_or(f64::NAN) * 1000.0,
        successes,
        errors: failed_answers + no_answer,
        error_kinds,
    })
}
