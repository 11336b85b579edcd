//! Soak with faults: writers save unique keys through `/call` → `/savestate` while the test
//! SIGKILLs and restarts the backend, the backend's daprd and the frontend's daprd at random
//! moments (a bounded number of kills, from a seed it prints: `SOAK_SEED=N` repeats a run).
//!
//! Every 2xx is an acknowledged write. Afterwards every acknowledged key must read back, from
//! the Dapr state API, with the value that was sent (none lost); every failure must have been
//! a problem body, and every request must have finished within a bound (no hang); no process
//! may have panicked; and the frontend must have recovered by itself (same process, `/call`
//! works).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::TestPair;
use serde_json::{Value, json};

/// Concurrent writers: enough to have requests in flight at every kill, few enough for CI.
const WRITERS: usize = 8;
const KILLS: usize = 6;
/// No request may take longer than this. The apps' own sidecar timeout is 10 s, so a request
/// that reaches it hung somewhere.
const REQUEST_BOUND: Duration = Duration::from_secs(15);
/// A safety net on the number of keys, whatever the speed of the machine.
const MAX_KEYS: usize = 50_000;

#[derive(Debug, Clone, Copy)]
enum Target {
    Backend,
    BackendSidecar,
    FrontendSidecar,
}

/// What happened to one write.
enum Outcome {
    Acknowledged {
        key: String,
        data: Value,
    },
    /// A non-2xx answer: its status, and whether it came as a problem body.
    Failed {
        status: u16,
        problem: bool,
        body: String,
    },
    /// No answer within [`REQUEST_BOUND`], or the frontend could not be reached at all.
    NoAnswer {
        error: String,
    },
}

#[tokio::test]
async fn no_acknowledged_write_is_lost_while_processes_are_killed() {
    let seed = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("soak: seed {seed} (SOAK_SEED={seed} repeats this kill schedule)");
    let mut rng = SplitMix64(seed);

    let mut pair = TestPair::spawn().await;
    // The frontend's process as started: the one that must still be serving at the end.
    let frontend_spawned_at = pair.topology.frontend.app_process().unwrap().spawned_at;
    let started = Instant::now();

    let stop = Arc::new(AtomicBool::new(false));
    let next_key = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            tokio::spawn(write_until_stopped(
                url_of(&pair),
                seed,
                stop.clone(),
                next_key.clone(),
            ))
        })
        .collect();

    // Each target twice, in a seeded order, at seeded moments, down for a seeded while.
    let mut schedule = [
        Target::Backend,
        Target::BackendSidecar,
        Target::FrontendSidecar,
    ]
    .repeat(KILLS / 3);
    rng.shuffle(&mut schedule);
    for target in schedule {
        tokio::time::sleep(rng.millis(500, 3000)).await;
        let down = rng.millis(0, 1000);
        println!(
            "soak: {:>5.1}s kill {target:?}, restart after {down:?}",
            started.elapsed().as_secs_f64()
        );
        kill_and_restart(&mut pair, target, down).await;
    }
    // A healthy pair for a while at the end: writes must succeed again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);

    let mut outcomes = Vec::new();
    let mut slowest = Duration::ZERO;
    for writer in writers {
        let (mine, slowest_of_writer) = writer.await.unwrap();
        outcomes.extend(mine);
        slowest = slowest.max(slowest_of_writer);
    }

    let mut acknowledged = Vec::new();
    let mut failures: BTreeMap<u16, usize> = BTreeMap::new();
    let mut not_problems = Vec::new();
    let mut no_answers = Vec::new();
    for outcome in outcomes.iter() {
        match outcome {
            Outcome::Acknowledged { key, data } => acknowledged.push((key, data)),
            Outcome::Failed {
                status,
                problem,
                body,
            } => {
                *failures.entry(*status).or_default() += 1;
                if !problem {
                    not_problems.push(format!("{status} {body}"));
                }
            }
            Outcome::NoAnswer { error } => no_answers.push(error.clone()),
        }
    }
    let mut lost = Vec::new();
    for (key, data) in &acknowledged {
        let stored = pair.dapr_state(key).await;
        if stored.as_ref() != Some(*data) {
            lost.push(format!("{key}: sent {data}, stored {stored:?}"));
        }
    }
    let failed: usize = failures.values().sum();
    println!(
        "soak: sent {}, acknowledged {}, failed {failed} (by status {failures:?}), no answer {}, lost {}; slowest request {slowest:?}; {:.1}s",
        outcomes.len(),
        acknowledged.len(),
        no_answers.len(),
        lost.len(),
        started.elapsed().as_secs_f64()
    );

    assert!(lost.is_empty(), "acknowledged writes lost: {lost:#?}");
    assert!(
        no_answers.is_empty(),
        "requests without an answer within {REQUEST_BOUND:?}: {no_answers:#?}"
    );
    assert!(
        not_problems.is_empty(),
        "failures without a problem body: {not_problems:#?}"
    );
    assert!(
        acknowledged.len() >= WRITERS * 10,
        "too few writes were acknowledged for the soak to mean anything"
    );
    assert!(failed > 0, "the kills should have failed some requests");

    // The frontend is still the process that was started (alive, never restarted), and works.
    let n_after = outcomes.len();
    let frontend = pair.topology.frontend.app_process_mut().unwrap();
    assert!(frontend.is_running(), "the frontend's process exited");
    assert_eq!(
        frontend.spawned_at, frontend_spawned_at,
        "the frontend's process was restarted"
    );
    let request = json!({"appId": "backend", "method": "savestate", "payload": {"key": "soak-after", "data": n_after}});
    let answer = pair.eventually(40, request, |a| a.status == 200).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(pair.dapr_state("soak-after").await, Some(json!(n_after)));

    let panics = panicked_logs(&pair);
    assert!(panics.is_empty(), "processes panicked: {panics:#?}");
}

fn url_of(pair: &TestPair) -> String {
    format!("{}/call", pair.topology.frontend_url())
}

/// Saves fresh keys one after another until told to stop; each write's outcome, and the
/// longest any request took.
async fn write_until_stopped(
    url: String,
    seed: u64,
    stop: Arc<AtomicBool>,
    next_key: Arc<AtomicUsize>,
) -> (Vec<Outcome>, Duration) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_BOUND)
        .build()
        .unwrap();
    let mut outcomes = Vec::new();
    let mut slowest = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        let n = next_key.fetch_add(1, Ordering::Relaxed);
        if n >= MAX_KEYS {
            break;
        }
        let key = format!("soak-{n}");
        // The seed as text: daprd decodes JSON numbers as float64, so integers above 2^53
        // (like most seeds) come back rounded, which is not what this test is about.
        let data = json!({"n": n, "seed": seed.to_string()});
        let payload = json!({"key": key, "data": data}).to_string();
        let request = json!({"appId": "backend", "method": "savestate", "httpMethod": "POST", "payload": payload});
        let sent_at = Instant::now();
        let outcome = match http.post(&url).json(&request).send().await {
            Ok(answer) => {
                let status = answer.status().as_u16();
                let problem = answer
                    .headers()
                    .get("content-type")
                    .is_some_and(|v| v == "application/problem+json");
                match answer.text().await {
                    Ok(_) if (200..300).contains(&status) => Outcome::Acknowledged { key, data },
                    Ok(body) => Outcome::Failed {
                        status,
                        problem,
                        body,
                    },
                    Err(error) => Outcome::NoAnswer {
                        error: format!("{key}: reading the answer: {error}"),
                    },
                }
            }
            Err(error) => Outcome::NoAnswer {
                error: format!("{key}: {error}"),
            },
        };
        slowest = slowest.max(sent_at.elapsed());
        outcomes.push(outcome);
    }
    (outcomes, slowest)
}

async fn kill_and_restart(pair: &mut TestPair, target: Target, down: Duration) {
    let service = match target {
        Target::Backend | Target::BackendSidecar => &mut pair.topology.backend,
        Target::FrontendSidecar => &mut pair.topology.frontend,
    };
    match target {
        Target::Backend => service.kill_app().await,
        Target::BackendSidecar | Target::FrontendSidecar => service.kill_sidecar().await,
    }
    tokio::time::sleep(down).await;
    let restarted = match target {
        Target::Backend => service.start_app().await,
        Target::BackendSidecar | Target::FrontendSidecar => service.start_sidecar().await,
    };
    restarted.unwrap_or_else(|error| panic!("restarting {target:?}: {error}"));
    service
        .wait_ready()
        .await
        .unwrap_or_else(|error| panic!("{target:?} after its restart: {error}"));
}

/// Log lines, across every process's log, that say a process panicked.
fn panicked_logs(pair: &TestPair) -> Vec<String> {
    let logs = pair.topology.workdir.join("logs");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&logs).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for line in text.lines().filter(|line| line.contains("panicked")) {
            found.push(format!("{}: {line}", path.display()));
        }
    }
    found
}

/// A small seeded generator (SplitMix64): the same seed gives the same kill schedule.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from + 1))
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}
