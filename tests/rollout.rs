//! A rollout under load: two frontends behind nginx and two backends, every replica of both
//! replaced the way Kubernetes does it (`Topology::rollout`: surge one, SIGTERM to the app and
//! its daprd at once, the old replica routed to for an endpoint lag after it), while 16 clients
//! save unique keys through the front door and read each one back. Not one answer may be
//! other than 2xx, no connection may fail, and every acknowledged save must read back. With
//! the session login, the clients are one signed-in browser's tabs (its cookie must keep
//! working on every request) and API clients with a bearer token through the sidecars' front
//! door.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use launcher::name_resolution::NameResolution;
use launcher::{Login, RolloutOptions, TopologyOptions};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::login::sign_in_as_its_user;
use crate::support::TestPair;
use crate::support::browser::Browser;

const CLIENTS: usize = 16;
/// Each client's bound on its saves, so the loop ends even if the rollout hangs.
const MOST_SAVES_PER_CLIENT: usize = 20_000;

#[derive(Default)]
struct ClientLog {
    /// `(key, value)` of every save answered 200.
    acknowledged: Vec<(String, Value)>,
    /// What went wrong, one line each: a status other than 2xx, a connection error, a read that
    /// did not give back what was saved.
    failures: Vec<String>,
    requests: usize,
}

/// Where the clients send their calls, and what they send with each.
#[derive(Clone)]
struct Entry {
    /// `…/call` for API clients, `…/page/call` for the signed-in browser.
    url: String,
    headers: HeaderMap,
}

async fn call(http: &reqwest::Client, entry: &Entry, body: Value) -> Result<(u16, String), String> {
    let response = http
        .post(&entry.url)
        .headers(entry.headers.clone())
        .json(&body)
        .send()
        .await
        .map_err(|error| format!("connection: {error:#}"))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|error| format!("body: {error:#}"))?;
    Ok((status, text))
}

/// Saves `c{client}-{n}` and reads it back, over and over, until `stop` (or its bound).
async fn client(
    id: usize,
    http: reqwest::Client,
    entry: Entry,
    stop: Arc<AtomicBool>,
) -> ClientLog {
    let mut log = ClientLog::default();
    for n in 0..MOST_SAVES_PER_CLIENT {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let key = format!("c{id}-{n}");
        let value = json!({"client": id, "n": n});
        let payload = json!({"key": key, "data": value}).to_string();
        log.requests += 1;
        match call(
            &http,
            &entry,
            json!({"appId": "backend", "method": "savestate", "payload": payload}),
        )
        .await
        {
            Ok((200, _)) => log.acknowledged.push((key.clone(), value.clone())),
            Ok((status, text)) => {
                log.failures.push(format!("save {key}: {status} {text}"));
                continue;
            }
            Err(error) => {
                log.failures.push(format!("save {key}: {error}"));
                continue;
            }
        }
        log.requests += 1;
        let read =
            json!({"appId": "backend", "method": format!("state/{key}"), "httpMethod": "GET"});
        match call(&http, &entry, read).await {
            Ok((200, text)) if serde_json::from_str::<Value>(&text).ok() == Some(value.clone()) => {
            }
            Ok((status, text)) => log.failures.push(format!("read {key}: {status} {text}")),
            Err(error) => log.failures.push(format!("read {key}: {error}")),
        }
    }
    log
}

#[tokio::test]
async fn a_rollout_of_every_replica_under_load_fails_no_request_and_loses_no_write() {
    let mut pair = TestPair::spawn_with(TopologyOptions {
        frontend_replicas: 2,
        backend_replicas: 2,
        ..TopologyOptions::default()
    })
    .await;
    let entry = Entry {
        url: format!("{}/call", pair.topology.entry_url()),
        headers: HeaderMap::new(),
    };
    roll_under_load(&mut pair, vec![entry]).await;
}

#[tokio::test]
async fn a_signed_in_browser_keeps_its_session_through_a_rollout_under_load() {
    let mut pair = TestPair::spawn_with(TopologyOptions {
        login: Login::Session,
        frontend_replicas: 2,
        backend_replicas: 2,
        ..TopologyOptions::default()
    })
    .await;
    let provider = pair.identity_provider();
    let entry_url = pair.topology.browser_url();
    let browser = Browser::start(&pair.topology.workdir.join("logs")).await;
    sign_in_as_its_user(&browser, &entry_url, provider).await;
    let cookie = browser
        .cookie("__Host-session")
        .await
        .expect("the session cookie");
    // The page's own requests: the session cookie, same-origin JSON.
    let mut headers = HeaderMap::new();
    headers.insert(
        "cookie",
        format!("__Host-session={cookie}").parse().unwrap(),
    );
    headers.insert("sec-fetch-site", "same-origin".parse().unwrap());
    let browser_tab = Entry {
        url: format!("{entry_url}page/call"),
        headers,
    };
    // API clients: a bearer token, through the front door to the frontends' sidecars.
    let token = provider.client_credentials_token().await.unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    let api_client = Entry {
        url: format!("{}call", pair.topology.login_url()),
        headers,
    };
    roll_under_load(&mut pair, vec![browser_tab, api_client]).await;
}

/// A new replica is given to callers only once it can serve them, as Kubernetes adds a pod to
/// its Service's endpoints only once it is ready. daprd registers itself in name resolution
/// early in its start, before its internal gRPC API listens and before its first app health
/// probe has passed: a call routed to it then is refused ("connection refused", or "app is
/// not in a healthy state"). So at the first moment its row is there for callers, its internal
/// API must take connections and its daprd must invoke its app.
#[tokio::test]
async fn a_new_replica_joins_name_resolution_only_once_it_can_serve() {
    let pair = TestPair::spawn().await;
    let backend = pair.topology.backends().next().expect("a backend");
    let mut successor = backend.successor("backend-2".to_owned());
    let names = NameResolution::of_run(&pair.topology.workdir);
    let address = successor.internal_address();
    let own_app = format!(
        "{}/v1.0/invoke/backend/method/healthz",
        successor.sidecar_url()
    );
    let mut invoke = pair.http.get(&own_app);
    if let Some(token) = &successor.dapr_api_token {
        invoke = invoke.header("dapr-api-token", token);
    }
    // What a caller would meet at the first moment the row is there; bounded (the start's
    // own waits give up well within it).
    let first_seen = async {
        for _ in 0..120_000 {
            if names.is_registered("backend", &address) {
                let connects = tokio::net::TcpStream::connect(&address).await.is_ok();
                let status = invoke.send().await.map(|r| r.status().as_u16());
                return Some((connects, status.ok()));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        None
    };
    let (started, first_seen) = tokio::join!(successor.start(), first_seen);
    started.unwrap_or_else(|error| panic!("{error:#}"));
    successor.stop().await;
    assert_eq!(
        first_seen,
        Some((true, Some(200))),
        "(internal API takes connections, own app's /healthz through daprd) when callers could \
         first pick the new replica"
    );
}

/// 16 clients, shared out over `entries`, for the whole rollout of every replica; then the
/// counts, and every acknowledged save read back (through the entry that saved it).
async fn roll_under_load(pair: &mut TestPair, entries: Vec<Entry>) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = JoinSet::new();
    for id in 0..CLIENTS {
        let entry = entries[id % entries.len()].clone();
        let (http, stop) = (pair.http.clone(), stop.clone());
        clients.spawn(async move { (entry.clone(), client(id, http, entry, stop).await) });
    }
    // Traffic first, so the first replica is replaced under load.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut steps = Vec::new();
    let rolled = pair
        .topology
        .rollout(&RolloutOptions::default(), |line| {
            eprintln!("rollout: {line}");
            steps.push(line);
        })
        .await;
    // And after the last step, while the old replicas' last requests are gone.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    while let Some(log) = clients.join_next().await {
        logs.push(log.unwrap());
    }
    rolled.unwrap_or_else(|error| panic!("{error:#}"));

    let requests: usize = logs.iter().map(|(_, log)| log.requests).sum();
    let failures: Vec<&String> = logs.iter().flat_map(|(_, log)| &log.failures).collect();
    eprintln!(
        "{requests} requests during the rollout, {} failed",
        failures.len()
    );
    if !failures.is_empty() {
        eprintln!("{}", warnings_in_logs(&pair.topology.workdir.join("logs")));
    }
    assert!(
        failures.is_empty(),
        "{} of {requests} requests failed during the rollout; the first:\n{}",
        failures.len(),
        failures
            .iter()
            .take(10)
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    // No refused connect was hidden by nginx retrying the other replica (`a, b` in upstream=).
    let proxy = pair.topology.proxy.as_ref().expect("nginx in front");
    let access_log = std::fs::read_to_string(&proxy.access_log).unwrap();
    let retried: Vec<&str> = access_log
        .lines()
        .filter(|line| line.contains("upstream=") && line.contains(", "))
        .collect();
    assert!(
        retried.is_empty(),
        "nginx retried {} requests on another replica: {:?}",
        retried.len(),
        &retried[..retried.len().min(5)]
    );
    // Each replica was replaced while clients were sending: something to prove.
    assert!(requests > 1_000, "only {requests} requests");
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("rollout done: 2 backend and 2 frontend"))
    );

    // Every acknowledged save, read through the new replicas: each client's, by a task.
    let acknowledged: usize = logs.iter().map(|(_, log)| log.acknowledged.len()).sum();
    let mut readers = JoinSet::new();
    for (entry, log) in logs {
        let http = pair.http.clone();
        readers.spawn(async move {
            let mut lost = Vec::new();
            for (key, value) in log.acknowledged {
                let read = json!({"appId": "backend", "method": format!("state/{key}"), "httpMethod": "GET"});
                match call(&http, &entry, read).await {
                    Ok((200, text)) if serde_json::from_str::<Value>(&text).ok() == Some(value.clone()) => {}
                    other => lost.push(format!("{key}: {other:?}")),
                }
            }
            lost
        });
    }
    let mut lost = Vec::new();
    while let Some(found) = readers.join_next().await {
        lost.extend(found.unwrap());
    }
    assert!(
        lost.is_empty(),
        "{} of {acknowledged} acknowledged saves did not read back: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
}

/// Every warning and error line of the run's logs, the replaced replicas' included: what
/// daprd and the apps said about a failed request.
fn warnings_in_logs(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text.lines().filter(|line| {
            ["level=warning", "level=error", "\"WARN\"", "\"ERROR\""]
                .iter()
                .any(|mark| line.contains(mark))
        }) {
            out.push_str(&format!(
                "{}: {line}\n",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    out
}
