//! Many clients on one key at once, through `/call`, on each state store:
//!
//! - **counter**: 16 clients increment one counter with read-modify-write (`If-Match`),
//!   retrying on 412, for a bounded time. Afterwards the counter equals the number of
//!   acknowledged increments, and the acknowledged values are exactly 1..=N, each once: no
//!   lost update, no double count. A client goes on from the ETag its save returned when there
//!   is one, so an ETag of another version would show up as a lost update.
//! - **blind writers**: 16 clients save unique values to one key with `returnEtag` and read
//!   the key right after. A save's ETag must be its own version's: wherever a read saw that
//!   ETag, it saw the value that save wrote.
//!
//! Every ETag seen is checked to belong to one value only. Each test prints its counts.
//! `CONCURRENCY_SECS` sets the time of each phase (default 8 s for the counter, half that for
//! the blind writers).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{Answer, TestPair};
use launcher::{CosmosAuth, StateStore};
use serde_json::{Value, json};

const CLIENTS: usize = 16;

#[tokio::test]
async fn sqlite() {
    concurrent_clients_on_one_key(StateStore::Sqlite).await
}

#[tokio::test]
async fn cosmos() {
    concurrent_clients_on_one_key(StateStore::Cosmos(CosmosAuth::ManagedIdentity)).await
}

fn phase_length() -> Duration {
    let secs = std::env::var("CONCURRENCY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    Duration::from_secs(secs)
}

async fn concurrent_clients_on_one_key(store: StateStore) {
    let name = format!("{store:?}");
    let pair = Arc::new(TestPair::spawn_on(store).await);
    let seen = Arc::new(Mutex::new(Versions::default()));
    blind_writers(&name, &pair, &seen, phase_length() / 2).await;
    counter(&name, &pair, &seen, phase_length()).await;
    seen.lock().unwrap().assert_each_etag_has_one_value();
}

/// Every (ETag, value) pair seen, from saves and from reads.
#[derive(Default)]
struct Versions {
    /// ETag → the values it was seen with, and where.
    by_etag: BTreeMap<String, Vec<(Value, &'static str)>>,
}

impl Versions {
    fn saw(&mut self, etag: &str, value: &Value, source: &'static str) {
        self.by_etag
            .entry(etag.to_owned())
            .or_default()
            .push((value.clone(), source));
    }

    /// An ETag names one version, so one value. A save's ETag that a read saw with another
    /// value is another writer's version given to the saver: the bug this contract rules out.
    fn assert_each_etag_has_one_value(&self) {
        for (etag, seen) in &self.by_etag {
            let first = &seen[0].0;
            assert!(
                seen.iter().all(|(value, _)| value == first),
                "ETag {etag} was seen with different values: {seen:?}"
            );
        }
        let saves = self
            .by_etag
            .values()
            .filter(|seen| seen.iter().filter(|(_, source)| *source == "save").count() > 1)
            .count();
        assert_eq!(saves, 0, "two saves returned the same ETag");
    }
}

/// The ETag of an answer, if it has one.
fn etag_of(answer: &Answer) -> Option<String> {
    answer
        .headers
        .get("etag")
        .map(|_| answer.etag())
        .filter(|etag| !etag.is_empty())
}

fn save_request(key: &str, data: &Value, etag: Option<&str>, return_etag: bool) -> Value {
    let mut payload = json!({"key": key, "data": data});
    if let Some(etag) = etag {
        payload["etag"] = json!(etag);
    }
    if return_etag {
        payload["returnEtag"] = json!(true);
    }
    json!({"appId": "backend", "method": "savestate", "payload": payload.to_string()})
}

async fn blind_writers(
    store: &str,
    pair: &Arc<TestPair>,
    seen: &Arc<Mutex<Versions>>,
    length: Duration,
) {
    const KEY: &str = "blind";
    let deadline = Instant::now() + length;
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let (pair, seen) = (pair.clone(), seen.clone());
        clients.push(tokio::spawn(async move {
            let (mut with_etag, mut without, mut failed) = (0, 0, 0);
            let mut n = 0;
            while Instant::now() < deadline {
                n += 1;
                let data = json!({"client": client, "n": n});
                let saved = pair.call(save_request(KEY, &data, None, true)).await;
                if saved.status != 200 {
                    eprintln!("blind writer: {} {}", saved.status, saved.text);
                    failed += 1;
                    continue;
                }
                let body = saved.json();
                match etag_of(&saved) {
                    Some(etag) => {
                        assert_eq!(body["etag"], etag.as_str(), "{}", saved.text);
                        seen.lock().unwrap().saw(&etag, &data, "save");
                        with_etag += 1;
                    }
                    None => {
                        assert!(body["etagUnknown"].is_string(), "{}", saved.text);
                        without += 1;
                    }
                }
                let read = pair.read(KEY).await;
                if read.status == 200
                    && let Some(etag) = etag_of(&read)
                {
                    seen.lock().unwrap().saw(&etag, &read.json(), "read");
                }
            }
            (with_etag, without, failed)
        }));
    }
    let (mut with_etag, mut without, mut failed) = (0, 0, 0);
    for client in clients {
        let (a, b, c) = client.await.expect("a blind writer panicked");
        with_etag += a;
        without += b;
        failed += c;
    }
    println!(
        "concurrency {store}: blind writers: {CLIENTS} clients, {} saves in {length:?}: {with_etag} answered their own ETag, {without} none (written again before the read-back), {failed} failed",
        with_etag + without + failed
    );
    if failed > 0 {
        eprintln!("{}", pair.topology.log_tails(40));
    }
    assert_eq!(failed, 0, "saves failed under {CLIENTS} blind writers");
    assert!(with_etag > 0, "no save answered an ETag");
}

/// What one client did.
#[derive(Default)]
struct Tally {
    /// The values of its acknowledged increments.
    acknowledged: Vec<u64>,
    conflicts: u64,
    /// Answers that leave open whether the increment was written (a 5xx, no answer).
    unknown: u64,
    etags_returned: u64,
    failed_reads: u64,
}

async fn counter(store: &str, pair: &Arc<TestPair>, seen: &Arc<Mutex<Versions>>, length: Duration) {
    const KEY: &str = "counter";
    let started = pair.save(KEY, json!(0)).await;
    assert_eq!(started.status, 200, "{}", started.text);
    let deadline = Instant::now() + length;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (pair, seen) = (pair.clone(), seen.clone());
        clients.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            // The version this client knows: from a read, or from its own last save.
            let mut known: Option<(u64, String)> = None;
            while Instant::now() < deadline {
                let (n, etag) = match known.take() {
                    Some(version) => version,
                    None => {
                        let read = pair.read(KEY).await;
                        if read.status != 200 {
                            eprintln!("counter: reading: {} {}", read.status, read.text);
                            tally.failed_reads += 1;
                            continue;
                        }
                        let value = read.json();
                        let etag = read.etag();
                        seen.lock().unwrap().saw(&etag, &value, "read");
                        (value.as_u64().expect("a counter"), etag)
                    }
                };
                let next = json!(n + 1);
                let saved = pair
                    .call(save_request(KEY, &next, Some(&etag), false))
                    .await;
                match saved.status {
                    200 => {
                        tally.acknowledged.push(n + 1);
                        if let Some(new_etag) = etag_of(&saved) {
                            tally.etags_returned += 1;
                            seen.lock().unwrap().saw(&new_etag, &next, "save");
                            known = Some((n + 1, new_etag));
                        }
                    }
                    412 => tally.conflicts += 1,
                    _ => {
                        tally.unknown += 1;
                        eprintln!("counter: {} {}", saved.status, saved.text);
                    }
                }
            }
            tally
        }));
    }
    let mut acknowledged = Vec::new();
    let (mut conflicts, mut unknown, mut etags_returned, mut failed_reads) = (0, 0, 0, 0);
    for client in clients {
        let tally = client.await.expect("a counter client panicked");
        acknowledged.extend(tally.acknowledged);
        conflicts += tally.conflicts;
        unknown += tally.unknown;
        etags_returned += tally.etags_returned;
        failed_reads += tally.failed_reads;
    }
    let stored = pair
        .dapr_state(KEY)
        .await
        .and_then(|value| value.as_u64())
        .expect("the counter");
    println!(
        "concurrency {store}: counter: {CLIENTS} clients for {length:?}: {} increments acknowledged ({etags_returned} with their new ETag), {conflicts} conflicts (412, retried), {unknown} other answers, {failed_reads} failed reads; counter = {stored}",
        acknowledged.len()
    );
    if unknown + failed_reads > 0 {
        eprintln!("{}", pair.topology.log_tails(40));
    }
    acknowledged.sort_unstable();
    let count = acknowledged.len() as u64;
    assert!(count > 0, "no increment was acknowledged");
    // Each acknowledged increment wrote the next value: 1, 2, ..., N, each once.
    assert!(
        acknowledged.windows(2).all(|pair| pair[0] != pair[1]),
        "two acknowledged increments wrote the same value (a lost update)"
    );
    if unknown == 0 {
        assert_eq!(stored, count, "the counter is not the number of increments");
        assert_eq!(acknowledged, (1..=count).collect::<Vec<_>>());
    } else {
        assert!(
            (count..=count + unknown).contains(&stored),
            "counter {stored}, {count} acknowledged, {unknown} unknown"
        );
    }
    assert_eq!(unknown, 0, "increments failed other than with 412");
    assert_eq!(failed_reads, 0, "reads of the counter failed");
}
