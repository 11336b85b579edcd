//! The pair under a hostile client, on real Sentry, daprd and apps: every bad input a 4xx
//! problem, every connection bounded, nothing silently changed.
//!
//! - `connections_are_bounded_and_the_apps_keep_serving`: raw sockets against both apps
//!   (slowloris, idle keep-alive, a body that trickles in, a declared body over the limit,
//!   more connections than the cap), with short limits;
//! - `corpus::{sqlite, cosmos}`: hostile requests through `/call` (and straight to the apps),
//!   each with its status and a problem body, both apps still serving after each; and data
//!   that reads back exactly as saved, or is refused with a 422 that says why;
//! - `the_backends_own_problems_pass_through_call_unchanged`: the backend's problem naming
//!   Dapr's error code, through both daprd, is the backend's answer, not Dapr's;
//! - `the_local_run_listens_on_loopback_and_keeps_its_folder_private`.
//!
//! Every connection has a timeout, every loop a bound.

use std::time::{Duration, Instant};

use launcher::{CosmosAuth, StateStore, TopologyOptions};
use serde_json::{Value, json};
use test_support::raw_http as raw;
use tokio::io::AsyncWriteExt;

use crate::support::{Answer, TestPair, for_each_state_store};

/// The limits the connection test gives both apps: short, so the test is quick.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(1);
const IDLE_TIMEOUT: Duration = Duration::from_secs(3);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_CONNECTIONS: usize = 12;

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

/// Both apps answer their liveness probe: neither is stuck, neither has died.
async fn assert_both_serving(pair: &TestPair) {
    for url in [
        pair.topology.frontend_url(),
        pair.topology.backend.app_url(),
    ] {
        let answer = pair
            .send(
                pair.http
                    .get(format!("{url}/healthz"))
                    .timeout(Duration::from_secs(5)),
            )
            .await;
        assert_eq!(answer.status, 200, "{url}: {}", answer.text);
    }
}

#[tokio::test]
async fn connections_are_bounded_and_the_apps_keep_serving() {
    let setting = |name: &str, value: String| (name.to_owned(), value);
    let pair = TestPair::spawn_with(TopologyOptions {
        app_env: vec![
            setting(
                "HEADER_READ_TIMEOUT",
                format!("{}ms", HEADER_READ_TIMEOUT.as_millis()),
            ),
            setting("IDLE_TIMEOUT", format!("{}ms", IDLE_TIMEOUT.as_millis())),
            setting(
                "REQUEST_TIMEOUT",
                format!("{}ms", REQUEST_TIMEOUT.as_millis()),
            ),
            setting("MAX_CONNECTIONS", MAX_CONNECTIONS.to_string()),
        ],
        ..TopologyOptions::default()
    })
    .await;
    let backend_token = pair.topology.backend.app_api_token.clone().unwrap();
    let apps = [
        (
            "frontend",
            port_of(&pair.topology.frontend_url()),
            "/call",
            String::new(),
        ),
        (
            "backend",
            port_of(&pair.topology.backend.app_url()),
            "/savestate",
            format!("dapr-api-token: {backend_token}\r\n"),
        ),
    ];
    // Bounds with room for a loaded machine, far below "never".
    let slack = Duration::from_secs(2);
    for (app, port, post_path, token) in &apps {
        // A connection that sends nothing, and a slowloris (a header byte every 200 ms).
        let mut silent = raw::connect(("127.0.0.1", *port)).await;
        let mut slow = raw::connect(("127.0.0.1", *port)).await;
        let started = Instant::now();
        let mut slow_closed = false;
        for byte in b"GET /healthz HTTP/1.1\r\nHost: app\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if slow.write_all(&[*byte]).await.is_err() || started.elapsed() > Duration::from_secs(10) {
                slow_closed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let slow_closed = slow_closed || raw::until_closed(&mut slow, slack).await.is_some();
        assert!(slow_closed, "{app}: a slowloris is closed");
        assert!(
            started.elapsed() < HEADER_READ_TIMEOUT + Duration::from_secs(5),
            "{app}: {:?}",
            started.elapsed()
        );
        let silent_after = raw::until_closed(&mut silent, slack).await;
        assert!(
            silent_after.is_some(),
            "{app}: a silent connection is closed"
        );

        // Kept alive after a request: open past the header timeout, closed after the idle one.
        let mut kept = raw::connect(("127.0.0.1", *port)).await;
        kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: app\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(
            raw::answer(&mut kept, Duration::from_secs(5)).await.status,
            200
        );
        tokio::time::sleep(HEADER_READ_TIMEOUT * 2).await;
        // The app's idle clock starts once it has answered, which is after this: measured from
        // the end of the answer instead, a busy machine made it 2.86 s against 2.9 s.
        let sent = Instant::now();
        kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: app\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(
            raw::answer(&mut kept, Duration::from_secs(5)).await.status,
            200,
            "{app}: still open"
        );
        let idle = raw::until_closed(&mut kept, IDLE_TIMEOUT + slack)
            .await
            .map(|_| sent.elapsed());
        assert!(
            idle.is_some_and(|after| after >= IDLE_TIMEOUT - Duration::from_millis(100)),
            "{app}: closed after IDLE_TIMEOUT: {idle:?}"
        );

        // A body that trickles in: 408 by the request deadline.
        let mut trickle = raw::connect(("127.0.0.1", *port)).await;
        let head = format!(
            "POST {post_path} HTTP/1.1\r\nHost: app\r\n{token}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
        );
        trickle.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        raw::answer(&mut trickle, REQUEST_TIMEOUT + slack)
            .await
            .assert_problem(408, "REQUEST_TIMEOUT");
        assert!(started.elapsed() >= REQUEST_TIMEOUT - Duration::from_millis(100));

        // Ten gigabytes declared, one byte sent: 413 at once, not after reading.
        let mut huge = raw::connect(("127.0.0.1", *port)).await;
        let head = format!(
            "POST {post_path} HTTP/1.1\r\nHost: app\r\n{token}Content-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n{{"
        );
        huge.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        raw::answer(&mut huge, Duration::from_secs(1))
            .await
            .assert_problem(413, "10000000000 bytes");
        assert!(started.elapsed() < Duration::from_secs(1));

        // Past the cap: a clear 503, and once the silent ones are closed, room again.
        let mut held = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            held.push(raw::connect(("127.0.0.1", *port)).await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let turned_away = raw::exchange(
            ("127.0.0.1", *port),
            b"GET /healthz HTTP/1.1\r\nHost: app\r\n\r\n",
        )
        .await;
        turned_away.assert_problem(503, "MAX_CONNECTIONS");
        assert_eq!(turned_away.header("retry-after").as_deref(), Some("1"));
        for tcp in &mut held {
            assert!(
                raw::until_closed(tcp, HEADER_READ_TIMEOUT + slack)
                    .await
                    .is_some(),
                "{app}"
            );
        }
        drop(held);
        assert_eq!(
            raw::exchange(
                ("127.0.0.1", *port),
                b"GET /healthz HTTP/1.1\r\nHost: app\r\n\r\n"
            )
            .await
            .status,
            200,
            "{app}"
        );
    }
    assert_both_serving(&pair).await;
    let saved = pair.save("after", json!("the pair still works")).await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    assert_eq!(
        pair.read("after").await.json(),
        json!("the pair still works")
    );
}

for_each_state_store!(corpus);

/// One hostile request and what it must get.
struct Case {
    name: &'static str,
    request: Request,
    status: u16,
    detail: &'static str,
}

enum Request {
    /// `POST /call` with this body as it is.
    Call(String),
    /// `POST /call` with these headers (name, raw bytes) and this JSON body.
    CallWith(Vec<(&'static str, Vec<u8>)>, Value),
    /// `POST /savestate` straight to the backend's port, with its app token.
    Backend(String),
    /// These bytes on a new connection to the frontend's port, then to the backend's.
    RawToBoth(String),
}

fn call(body: Value) -> Request {
    Request::Call(body.to_string())
}

/// Saving `data` through `/call`, the payload as JSON text (how the sample's users call).
fn save_text(key: &str, data: &str) -> Request {
    let payload = format!(r#"{{"key":{},"data":{data}}}"#, json!(key));
    call(json!({"appId": "backend", "method": "savestate", "payload": payload}))
}

fn deep(levels: usize) -> String {
    format!("{}{}", "[".repeat(levels), "]".repeat(levels))
}

fn cases() -> Vec<Case> {
    let case = |name, request, status, detail| Case {
        name,
        request,
        status,
        detail,
    };
    vec![
        // 2: depth and numbers the store cannot take are the client's error.
        case(
            "a payload nested 10,000 deep",
            Request::Call(format!(
                r#"{{"appId":"backend","method":"savestate","payload":{{"key":"k","data":{}}}}}"#,
                deep(10_000)
            )),
            422,
            "nested more than 128 levels",
        ),
        case(
            "a payload text nested 10,000 deep",
            save_text("k", &deep(10_000)),
            422,
            "payload is nested more than 128 levels",
        ),
        case(
            "data nested 100 deep, for the backend to refuse",
            save_text("k", &deep(100)),
            422,
            "more than 64 levels",
        ),
        case(
            "1e400 in a payload",
            Request::Call(
                r#"{"appId":"backend","method":"savestate","payload":{"key":"k","data":1e400}}"#
                    .into(),
            ),
            422,
            "1e400",
        ),
        case(
            "1e400 in a payload text",
            save_text("k", "1e400"),
            422,
            "1e400",
        ),
        case(
            "1e-400, which would read back as 0",
            save_text("k", "1e-400"),
            422,
            "read back as 0",
        ),
        case(
            "5e-324, a float below the normal range",
            save_text("k", "5e-324"),
            422,
            "read back as 0",
        ),
        case(
            "10,000 deep straight to the backend",
            Request::Backend(format!(r#"{{"key":"k","data":{}}}"#, deep(10_000))),
            422,
            "nested more than 128 levels",
        ),
        // 3: what daprd cannot carry is refused as 400, without the sidecar's address.
        case(
            "a method with %FF",
            call(json!({"appId": "backend", "method": "state/%FF", "httpMethod": "GET"})),
            400,
            "not a percent-escape of UTF-8",
        ),
        case(
            "a method of a million bytes",
            call(
                json!({"appId": "backend", "method": format!("state/{}", "m".repeat(1_000_000)), "httpMethod": "GET"}),
            ),
            400,
            "longer than 2048 bytes",
        ),
        case(
            "an If-Match that is not UTF-8",
            Request::CallWith(
                vec![("if-match", b"\"\xff\xfe\"".to_vec())],
                json!({"appId": "backend", "method": "state/k", "httpMethod": "DELETE"}),
            ),
            400,
            "not visible ASCII",
        ),
        // 4: %25 would be decoded twice.
        case(
            "%252F in a method",
            call(json!({"appId": "backend", "method": "state/a%252Fb", "httpMethod": "GET"})),
            400,
            "percent-encoded '%'",
        ),
        case(
            "%3F in a method",
            call(json!({"appId": "backend", "method": "state/a%3Fb", "httpMethod": "GET"})),
            400,
            "percent-encoded '%', '?' or '#'",
        ),
        // 5: keys no path can name.
        case("the key '.'", save_text(".", "1"), 400, "segment"),
        case("the key '..'", save_text("..", "1"), 400, "segment"),
        case(
            "the key '100%'",
            save_text("100%", "1"),
            400,
            "'%', '?', '#'",
        ),
        // 6: only an object is a request.
        case(
            "an array as /call's body",
            Request::Call(r#"["backend","savestate","POST",null]"#.into()),
            422,
            "an array, not an object",
        ),
        // 7: what Dapr's Go server would refuse in plain text is refused first.
        case(
            "%zz in a method",
            call(json!({"appId": "backend", "method": "state/%zz", "httpMethod": "GET"})),
            400,
            "not a percent-escape",
        ),
        // 8: echoes are capped (the detail's length is checked for every case).
        case(
            "a path of 60 KB",
            Request::RawToBoth(format!(
                "GET /{} HTTP/1.1\r\nHost: app\r\n\r\n",
                "p".repeat(60_000)
            )),
            404,
            "(60001 bytes)",
        ),
        case(
            "an appId of 60 KB",
            call(json!({"appId": "a".repeat(60_000), "method": "savestate"})),
            400,
            "(60000 bytes)",
        ),
        // 9: RFC 9112 §3.2.
        case(
            "HTTP/1.1 without Host",
            Request::RawToBoth("GET /healthz HTTP/1.1\r\n\r\n".into()),
            400,
            "must carry a Host header",
        ),
        case(
            "two Host headers",
            Request::RawToBoth("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n".into()),
            400,
            "more than one Host header",
        ),
        // 10: what the store would change is refused, and says why.
        case(
            "an integer of 30 digits",
            save_text("k", "123456789012345678901234567890"),
            422,
            "beyond ±(2^53 − 1)",
        ),
        case(
            "2^53 + 1",
            save_text("k", "9007199254740993"),
            422,
            "beyond ±(2^53 − 1)",
        ),
        case(
            "a number with more digits than a float",
            save_text("k", "0.30000000000000001"),
            422,
            "would read back as 0.3",
        ),
        case(
            "7 digits after the point (Cosmos DB's store writes 6)",
            save_text("k", "0.30000000000000004"),
            422,
            "would read back as 0.3",
        ),
        case(
            "1e-7 (Cosmos DB's store writes 0)",
            save_text("k", "1e-7"),
            422,
            "would read back as 0",
        ),
        case(
            "a lone surrogate",
            save_text("k", r#""\ud800""#),
            422,
            "unpaired UTF-16 surrogate",
        ),
        case(
            "a member twice",
            save_text("k", r#"{"a":1,"a":2}"#),
            422,
            "twice",
        ),
    ]
}

async fn send_case(pair: &TestPair, request: &Request) -> Vec<Answer> {
    let frontend = pair.topology.frontend_url();
    match request {
        Request::Call(body) => vec![
            pair.send(
                pair.http
                    .post(format!("{frontend}/call"))
                    .header("content-type", "application/json")
                    .body(body.clone()),
            )
            .await,
        ],
        Request::CallWith(headers, body) => {
            let mut request = pair.http.post(format!("{frontend}/call")).json(body);
            for (name, value) in headers {
                request = request.header(
                    *name,
                    reqwest::header::HeaderValue::from_bytes(value).unwrap(),
                );
            }
            vec![pair.send(request).await]
        }
        Request::Backend(body) => vec![
            pair.send(
                pair.http
                    .post(format!("{}/savestate", pair.topology.backend.app_url()))
                    .header(
                        "dapr-api-token",
                        pair.topology.backend.app_api_token.as_ref().unwrap(),
                    )
                    .header("content-type", "application/json")
                    .body(body.clone()),
            )
            .await,
        ],
        Request::RawToBoth(bytes) => {
            let mut answers = Vec::new();
            for url in [frontend, pair.topology.backend.app_url()] {
                answers.push(
                    raw::exchange(("127.0.0.1", port_of(&url)), bytes.as_bytes())
                        .await
                        .into_answer(),
                );
            }
            answers
        }
    }
}

async fn corpus(store: StateStore) {
    let pair = TestPair::spawn_on(store).await;
    let cases = cases();
    let started = Instant::now();
    for case in &cases {
        for answer in send_case(&pair, &case.request).await {
            let context = format!("{}: {} {}", case.name, answer.status, answer.text);
            assert_eq!(answer.status, case.status, "{context}");
            answer.assert_problem(case.status, case.detail);
            assert!(
                answer.text.len() < 1500,
                "{}: a {}-byte problem",
                case.name,
                answer.text.len()
            );
            for internal in ["127.0.0.1", "localhost"] {
                assert!(
                    !answer.text.contains(internal),
                    "{context}: names an internal address"
                );
            }
        }
        assert_both_serving(&pair).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
    // Nothing refused was saved.
    assert_eq!(pair.dapr_state("k").await, None);

    // The log line of the 60 KB path is not 60 KB.
    let of_the_long_path = |line: &Value| {
        line["path"]
            .as_str()
            .is_some_and(|path| path.starts_with("/pppp"))
    };
    let lines = pair.log_lines("frontend", of_the_long_path).await;
    let logged = lines
        .iter()
        .find(|line| of_the_long_path(line))
        .expect("the log line of the 60 KB path");
    assert!(
        logged.to_string().len() < 4096,
        "a {}-byte log line",
        logged.to_string().len()
    );

    values_read_back_as_saved(&pair).await;
    a_weak_if_match_never_matches(&pair).await;
}

/// 10: what is saved reads back as the same JSON value (key order aside).
async fn values_read_back_as_saved(pair: &TestPair) {
    for (key, data) in [
        ("safe-max", "9007199254740991"),
        ("safe-min", "-9007199254740991"),
        ("tenth", "0.1"),
        ("big", "1.5e300"),
        ("millionth", "0.000001"),
        ("six-places", "-83886079.123456"),
        ("huge", "-1.7976931348623157e308"),
        ("many-digits-above-83886079", "12345678901.0123"),
        ("emoji", r#""\ud83d\ude00 é""#),
        ("object", r#"{"b":1,"a":[true,null,"x",{"c":-2.5}]}"#),
        ("deep", &deep(64)),
    ] {
        let payload = format!(r#"{{"key":"{key}","data":{data}}}"#);
        let saved = pair
            .call(json!({"appId": "backend", "method": "savestate", "payload": payload}))
            .await;
        assert_eq!(saved.status, 200, "{key}: {}", saved.text);
        let read = pair.read(key).await;
        assert_eq!(read.status, 200, "{key}: {}", read.text);
        let expected: Value = serde_json::from_str(data).unwrap();
        assert_eq!(read.json(), expected, "{key}: read back {}", read.text);
        // Numbers as numbers: the same f64, not only an equal-looking text.
        if let (Some(read), Some(sent)) = (read.json().as_f64(), expected.as_f64()) {
            assert_eq!(read.to_bits(), sent.to_bits(), "{key}");
        }
    }
}

/// 14: If-Match compares strongly; a weak ETag never matches.
async fn a_weak_if_match_never_matches(pair: &TestPair) {
    assert_eq!(pair.save("guarded", json!(1)).await.status, 200);
    let etag = pair.read("guarded").await.etag();
    let delete = |if_match: String| {
        pair.http
            .post(format!("{}/call", pair.topology.frontend_url()))
            .header("If-Match", if_match)
            .json(&json!({"appId": "backend", "method": "state/guarded", "httpMethod": "DELETE"}))
    };
    pair.send(delete(format!("W/\"{etag}\"")))
        .await
        .assert_problem(412, "weak ETag");
    assert_eq!(pair.read("guarded").await.status, 200, "still there");
    assert_eq!(pair.send(delete(format!("\"{etag}\""))).await.status, 204);
}

/// 12: the backend's own problem (which names Dapr's error code) comes back through both
/// daprd and the frontend as the backend wrote it. Its store is made to fail by stopping the
/// Cosmos DB protocol server under it.
#[tokio::test]
async fn the_backends_own_problems_pass_through_call_unchanged() {
    let mut pair = TestPair::spawn_on(StateStore::Cosmos(CosmosAuth::ManagedIdentity)).await;
    assert_eq!(pair.save("k", json!(1)).await.status, 200);
    pair.topology.cosmos.as_mut().unwrap().stop().await;

    // The store's failure, as the backend tells it: a problem naming Dapr's error code. (A
    // store that has gone away may first be a timeout; a few tries, 250 ms apart, get the
    // failure.)
    let request = json!({"appId": "backend", "method": "state/k", "httpMethod": "GET"});
    let with_code = pair
        .eventually(20, request, |answer| {
            answer.status == 502 && answer.json().get("errorCode").is_some()
        })
        .await;
    assert_eq!(with_code.status, 502, "{}", with_code.text);
    let problem = with_code.json();
    let code = problem["errorCode"].as_str().unwrap();
    assert!(code.starts_with("ERR_STATE"), "{problem}");
    // The backend's words, and none of the frontend's (which name the target).
    assert_eq!(
        problem["detail"],
        format!("the state store failed ({code})"),
        "{problem}"
    );
    assert!(problem.get("target").is_none(), "{problem}");
    assert_eq!(
        with_code.headers["content-type"], "application/problem+json",
        "{problem}"
    );
    assert_both_serving(&pair).await;
}

/// 11: every listening socket of a run's processes is on loopback, but Sentry's healthz (it
/// ignores `--healthz-listen-address`, dapr/dapr#10394, and says only whether Sentry is up);
/// the run's folder is its owner's alone.
#[tokio::test]
async fn the_local_run_listens_on_loopback_and_keeps_its_folder_private() {
    use std::os::unix::fs::PermissionsExt as _;

    let pair = TestPair::spawn().await;
    let mode = std::fs::metadata(&pair.topology.workdir)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "{mode:o}");

    let processes = [
        pair.topology.frontend.app_process(),
        pair.topology.frontend.sidecar_process(),
        pair.topology.backend.app_process(),
        pair.topology.backend.sidecar_process(),
        Some(pair.topology.sentry_process()),
    ];
    let mut checked = 0;
    let mut open_to_all = Vec::new();
    for process in processes.into_iter().flatten() {
        let pid = process.pid().expect("a running process");
        for (address, port) in listening(pid) {
            checked += 1;
            if !address.is_loopback() {
                open_to_all.push(format!("{} {address}:{port}", process.name));
            }
        }
    }
    assert!(checked >= 10, "only {checked} listening sockets found");
    // Sentry's healthz port is the one it binds everywhere, whatever it is told.
    let sentry_healthz = open_to_all
        .iter()
        .filter(|socket| socket.starts_with("sentry "))
        .count();
    assert!(
        sentry_healthz <= 1,
        "Sentry: only its healthz port may listen on all addresses: {open_to_all:?}"
    );
    open_to_all.retain(|socket| !socket.starts_with("sentry "));
    assert!(
        open_to_all.is_empty(),
        "listening on all addresses: {open_to_all:?}"
    );
}

/// The TCP sockets process `pid` listens on, from /proc: its socket inodes, then their rows in
/// /proc/net/tcp and tcp6.
fn listening(pid: u32) -> Vec<(std::net::IpAddr, u16)> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| {
            entries
                .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
                .filter_map(|target| {
                    let target = target.to_string_lossy().into_owned();
                    Some(
                        target
                            .strip_prefix("socket:[")?
                            .strip_suffix(']')?
                            .to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut sockets = Vec::new();
    for (table, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for row in text.lines().skip(1) {
            let fields: Vec<&str> = row.split_whitespace().collect();
            // local address, state (0A: listening), inode
            let (Some(local), Some(&"0A"), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            if !inodes.iter().any(|own| own == inode) {
                continue;
            }
            let (hex_address, hex_port) = local.split_once(':').unwrap();
            let port = u16::from_str_radix(hex_port, 16).unwrap();
            let bytes: Vec<u8> = (0..hex_address.len())
                .step_by(2)
                .map(|at| u8::from_str_radix(&hex_address[at..at + 2], 16).unwrap())
                .collect();
            // /proc writes each 32-bit word of the address in host (little-endian) order.
            let words: Vec<u8> = bytes
                .chunks(4)
                .flat_map(|word| word.iter().rev().copied())
                .collect();
            let address = if v6 {
                let octets: [u8; 16] = words.try_into().unwrap();
                let v6 = std::net::Ipv6Addr::from(octets);
                v6.to_ipv4_mapped()
                    .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4)
            } else {
                let octets: [u8; 4] = words.try_into().unwrap();
                std::net::IpAddr::V4(octets.into())
            };
            sockets.push((address, port));
        }
    }
    sockets
}
