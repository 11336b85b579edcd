//! The pair on real Dapr: frontend `/call` → frontend's daprd → (mTLS) → backend's daprd →
//! backend → state store, with the project's own component and configuration files.
//!
//! Every test runs once per state store, as `NAME::sqlite` (the local store) and `NAME::cosmos`
//! (the shipped Cosmos DB component, signed in with a managed identity, against a Cosmos DB
//! protocol server): the same checks hold for both. Cosmos DB specifics are in `cosmos.rs`.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{TestPair, for_each_state_store};
use launcher::StateStore;
use serde_json::json;

for_each_state_store!(
    saves_through_call_and_reads_back_each_value_as_itself,
    a_stale_etag_gives_412_and_leaves_the_value_alone,
    every_class_of_bad_input_gets_its_status_and_a_problem_body,
    only_the_frontend_may_call_the_backend_and_only_through_its_sidecar,
    with_the_backend_stopped_call_answers_a_problem_promptly_and_recovers,
    without_its_sidecar_the_frontend_is_alive_but_not_ready,
    data_survives_a_restart_of_the_backend_and_its_sidecar,
);

async fn saves_through_call_and_reads_back_each_value_as_itself(store: StateStore) {
    let pair = TestPair::spawn_on(store).await;
    // The original sample's two payloads: a string and a JSON object.
    for (key, data) in [
        ("mykey", json!("123")),
        ("person", json!({"name": "geert"})),
    ] {
        // A plain save is one state operation: it claims no ETag.
        let plain = pair.save(key, data.clone()).await;
        assert_eq!(plain.status, 200, "{}", plain.text);
        assert_eq!(plain.json(), json!({"key": key}));
        assert!(!plain.headers.contains_key("etag"));
        // Asked for it, a save answers the ETag of the version it wrote.
        let saved = pair.save_returning_etag(key, data.clone()).await;
        assert_eq!(saved.status, 200, "{}", saved.text);
        assert_eq!(saved.json()["key"], key);
        assert_eq!(saved.json()["etag"], saved.etag());
        assert!(!saved.etag().is_empty());

        let read = pair.read(key).await;
        assert_eq!(read.status, 200, "{}", read.text);
        assert_eq!(read.json(), data, "read back through /call");
        assert_eq!(read.etag(), saved.etag());
        // Stored as the JSON value itself: not double-encoded, not base64.
        assert_eq!(
            pair.dapr_state(key).await,
            Some(data),
            "read straight from the Dapr state API"
        );
    }

    // A payload given as a JSON value rather than as text is stored the same way.
    let answer = pair.call(json!({"appId": "backend", "method": "savestate", "payload": {"key": "list", "data": [1, 2, 3]}})).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(pair.dapr_state("list").await, Some(json!([1, 2, 3])));

    // Delete, then the key is gone.
    let deleted = pair
        .call(json!({"appId": "backend", "method": "state/mykey", "httpMethod": "DELETE"}))
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    pair.read("mykey")
        .await
        .assert_problem(404, "no value for key 'mykey'");
    assert_eq!(pair.dapr_state("mykey").await, None);
}

async fn a_stale_etag_gives_412_and_leaves_the_value_alone(store: StateStore) {
    let pair = TestPair::spawn_on(store).await;
    let first = pair.save_returning_etag("counter", json!(1)).await;
    let second = pair.save_returning_etag("counter", json!(2)).await;
    assert_ne!(first.etag(), second.etag());

    let stale = json!({"key": "counter", "data": 3, "etag": first.etag()}).to_string();
    let answer = pair
        .call(json!({"appId": "backend", "method": "savestate", "payload": stale}))
        .await;
    answer.assert_problem(412, "ETag does not match");
    assert_eq!(pair.dapr_state("counter").await, Some(json!(2)));

    let delete_stale = pair
        .http
        .post(format!("{}/call", pair.topology.frontend_url()))
        .header("If-Match", format!("\"{}\"", first.etag()));
    let answer = pair
        .send(
            delete_stale.json(
                &json!({"appId": "backend", "method": "state/counter", "httpMethod": "DELETE"}),
            ),
        )
        .await;
    answer.assert_problem(412, "ETag does not match");

    let current = json!({"key": "counter", "data": 3, "etag": second.etag()}).to_string();
    let answer = pair
        .call(json!({"appId": "backend", "method": "savestate", "payload": current}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(pair.dapr_state("counter").await, Some(json!(3)));
    // A conditional save answers its new version's ETag, which the next one can use.
    let third = answer.etag();
    assert_eq!(pair.read("counter").await.etag(), third);
    let next = json!({"key": "counter", "data": 4, "etag": third}).to_string();
    let answer = pair
        .call(json!({"appId": "backend", "method": "savestate", "payload": next}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);

    // A key that is gone has no version an ETag could match.
    let deleted = pair
        .call(json!({"appId": "backend", "method": "state/counter", "httpMethod": "DELETE"}))
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let recreate = json!({"key": "counter", "data": 5, "etag": answer.etag()}).to_string();
    pair.call(json!({"appId": "backend", "method": "savestate", "payload": recreate}))
        .await
        .assert_problem(412, "ETag does not match");
    assert_eq!(pair.dapr_state("counter").await, None);
}

async fn every_class_of_bad_input_gets_its_status_and_a_problem_body(store: StateStore) {
    let pair = TestPair::spawn_on(store).await;
    let call_url = format!("{}/call", pair.topology.frontend_url());
    let raw = |content_type: &str, body: String| {
        pair.http
            .post(&call_url)
            .header("content-type", content_type)
            .body(body)
    };

    pair.send(raw("application/json", "{\"appId\":".into()))
        .await
        .assert_problem(400, "not valid JSON");
    pair.send(raw("text/plain", "{}".into()))
        .await
        .assert_problem(415, "text/plain");
    let huge =
        json!({"appId": "backend", "method": "savestate", "payload": "x".repeat(1024 * 1024)})
            .to_string();
    pair.send(raw("application/json", huge))
        .await
        .assert_problem(413, "larger than");
    pair.call(json!({"appId": "backend"}))
        .await
        .assert_problem(422, "missing field `method`");
    pair.call(json!({"appId": "backend", "method": 5}))
        .await
        .assert_problem(422, "invalid type");
    pair.call(json!({"appId": "backend", "method": "savestate", "httpMethod": "OPTIONS"}))
        .await
        .assert_problem(422, "httpMethod");
    pair.call(json!({"appId": "backend", "method": "../v1.0/state/statestore"}))
        .await
        .assert_problem(400, "segments");
    pair.call(json!({"appId": "backend", "method": "state%2F..%2Fsecrets"}))
        .await
        .assert_problem(400, "percent-encoded");
    pair.call(json!({"appId": "backend", "method": "admin"}))
        .await
        .assert_problem(403, "allowlist");
    pair.call(json!({"appId": "payments", "method": "savestate"}))
        .await
        .assert_problem(403, "allowlist");

    // The backend's own answers to bad input come back through /call unchanged.
    pair.save("a||b", json!(1))
        .await
        .assert_problem(400, "'||'");
    pair.save(&"k".repeat(513), json!(1))
        .await
        .assert_problem(400, "513 characters");
    let no_data = json!({"key": "k"}).to_string();
    pair.call(json!({"appId": "backend", "method": "savestate", "payload": no_data}))
        .await
        .assert_problem(422, "missing field `data`");
    pair.read("never-saved")
        .await
        .assert_problem(404, "never-saved");
}

async fn only_the_frontend_may_call_the_backend_and_only_through_its_sidecar(store: StateStore) {
    let pair = TestPair::spawn_on(store).await;
    // Another app id, with a valid mTLS identity from the same Sentry, is denied by the
    // backend's sidecar (access control in dapr-config/backend.yaml).
    let mut intruder = pair
        .topology
        .start_extra_sidecar("intruder")
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let url = format!(
        "{}/v1.0/invoke/backend/method/savestate",
        intruder.sidecar_url()
    );
    let answer = pair
        .send(
            pair.http
                .post(url)
                .header(
                    "dapr-api-token",
                    intruder.dapr_api_token.as_deref().unwrap(),
                )
                .json(&json!({"key": "k", "data": 1})),
        )
        .await;
    assert_eq!(answer.status, 403, "{}", answer.text);
    assert_eq!(pair.dapr_state("k").await, None);
    intruder.stop().await;

    // Straight to the backend's port without the app token: 401.
    let backend_url = format!("{}/savestate", pair.topology.backend.app_url());
    let answer = pair
        .send(
            pair.http
                .post(&backend_url)
                .json(&json!({"key": "k", "data": 1})),
        )
        .await;
    answer.assert_problem(401, "dapr-api-token");
    let answer = pair
        .send(
            pair.http
                .post(&backend_url)
                .header("dapr-api-token", "guess")
                .json(&json!({"key": "k", "data": 1})),
        )
        .await;
    answer.assert_problem(401, "does not match");
    assert_eq!(pair.dapr_state("k").await, None);
}

async fn with_the_backend_stopped_call_answers_a_problem_promptly_and_recovers(store: StateStore) {
    let mut pair = TestPair::spawn_on(store).await;
    assert_eq!(pair.save("before", json!("x")).await.status, 200);

    let stopped = pair.topology.backend.stop_app().await;
    assert!(
        stopped.is_some_and(|status| status.success()),
        "SIGTERM drains and exits 0: {stopped:?}"
    );

    // Bounded so that a hang fails the test; not a speed target.
    let started = Instant::now();
    let answer = pair.save("during", json!("y")).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(answer.status, 502 | 503),
        "{} {}",
        answer.status,
        answer.text
    );
    answer.assert_problem(answer.status, "backend/savestate");

    pair.topology.backend.start_app().await.unwrap();
    pair.topology.backend.wait_ready().await.unwrap();
    let request = json!({"appId": "backend", "method": "savestate", "payload": {"key": "after", "data": "z"}});
    let answer = pair.eventually(40, request, |a| a.status == 200).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(pair.dapr_state("after").await, Some(json!("z")));
}

async fn without_its_sidecar_the_frontend_is_alive_but_not_ready(store: StateStore) {
    let mut pair = TestPair::spawn_on(store).await;
    let url = pair.topology.frontend_url();
    assert_eq!(
        pair.send(pair.http.get(format!("{url}/readyz")))
            .await
            .status,
        200
    );

    pair.topology.frontend.stop_sidecar().await;
    pair.send(pair.http.get(format!("{url}/readyz")))
        .await
        .assert_problem(503, "sidecar");
    assert_eq!(
        pair.send(pair.http.get(format!("{url}/healthz")))
            .await
            .status,
        200
    );
    pair.call(json!({"appId": "backend", "method": "state/k", "httpMethod": "GET"}))
        .await
        .assert_problem(502, "backend/state/k");

    pair.topology.frontend.start_sidecar().await.unwrap();
    pair.topology.frontend.wait_ready().await.unwrap();
    assert_eq!(
        pair.send(pair.http.get(format!("{url}/readyz")))
            .await
            .status,
        200
    );
}

async fn data_survives_a_restart_of_the_backend_and_its_sidecar(store: StateStore) {
    let mut pair = TestPair::spawn_on(store).await;
    let saved = pair
        .save_returning_etag("durable", json!({"name": "geert"}))
        .await;
    assert_eq!(saved.status, 200, "{}", saved.text);

    pair.topology.backend.stop().await;
    pair.topology.backend.start_app().await.unwrap();
    pair.topology.backend.start_sidecar().await.unwrap();
    pair.topology.backend.wait_ready().await.unwrap();

    let request = json!({"appId": "backend", "method": "state/durable", "httpMethod": "GET"});
    let read = pair.eventually(40, request, |a| a.status == 200).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.json(), json!({"name": "geert"}));
    assert_eq!(read.etag(), saved.etag());
}

/// Every sidecar of a local run registers its address in one SQLite file, and each one starting
/// migrates it under an exclusive lock. On a busy machine a sidecar found the file locked by
/// another for longer than Dapr's default wait (800 ms): its name resolution failed to start,
/// daprd ran on regardless, and every call to its app was "no host found" (CI saw it, twice).
/// Here a lock held for 2 s stands in for the other sidecar.
#[tokio::test]
async fn a_sidecar_starting_while_another_holds_the_name_file_still_registers() {
    let mut pair = TestPair::spawn().await;
    pair.topology.backend.stop_sidecar().await;
    let names = pair.topology.workdir.join("nameresolution.db");
    let held = hold_exclusive_sqlite_lock(&names, Duration::from_secs(2)).await;
    pair.topology.backend.start_sidecar().await.unwrap();
    pair.topology.backend.wait_ready().await.unwrap();
    held.wait_with_output().await.unwrap();

    let request = json!({"appId": "backend", "method": "state/none", "httpMethod": "GET"});
    let read = pair.eventually(40, request, |a| a.status == 404).await;
    assert_eq!(read.status, 404, "{}", read.text);
}

/// A process that holds SQLite's exclusive lock on `file` for `hold`, started once it has it.
async fn hold_exclusive_sqlite_lock(file: &Path, hold: Duration) -> tokio::process::Child {
    let script = format!(
        "import sqlite3, sys, time\n\
         db = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
         db.execute('BEGIN EXCLUSIVE')\n\
         print('locked', flush=True)\n\
         time.sleep({})\n",
        hold.as_secs_f64()
    );
    let mut child = tokio::process::Command::new("python3")
        .args(["-c", &script])
        .arg(file)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut stdout, &mut line)
        .await
        .unwrap();
    assert_eq!(line.trim(), "locked");
    child
}

#[tokio::test]
async fn each_request_is_one_json_log_line_and_no_token_is_logged() {
    // Logging is the apps' own: the state store makes no difference here.
    let pair = TestPair::spawn().await;
    assert_eq!(
        pair.save("logged", json!({"secret": "not in logs"}))
            .await
            .status,
        200
    );

    for (app, path) in [("frontend", "/call"), ("backend", "/savestate")] {
        let lines = pair.log_lines(app, |line| line["path"] == path).await;
        let request: Vec<_> = lines.iter().filter(|line| line["path"] == path).collect();
        assert_eq!(request.len(), 1, "{app}: {lines:?}");
        assert_eq!(request[0]["method"], "POST");
        assert_eq!(request[0]["status"], 200);
        assert!(
            request[0]["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0),
            "{:?}",
            request[0]
        );

        let text = std::fs::read_to_string(
            pair.topology
                .workdir
                .join("logs")
                .join(format!("{app}.log")),
        )
        .unwrap();
        let topology = &pair.topology;
        let tokens = [
            topology.frontend.dapr_api_token.as_ref().unwrap(),
            topology.backend.dapr_api_token.as_ref().unwrap(),
            topology.backend.app_api_token.as_ref().unwrap(),
        ];
        for token in tokens {
            assert!(!text.contains(token.as_str()), "{app} logged a token");
        }
        assert!(!text.contains("not in logs"), "{app} logged a request body");
    }
}
