//! The session login across replicas: two frontends, each with its own daprd, sharing the
//! `sessionstore` behind nginx (round robin) on loopback, the real provider with short-lived
//! access tokens (so sessions refresh during the test) and headless Chromium; and what a
//! browser gets when its cookie, its return address or its callback is wrong.

use std::time::{Duration, Instant};

use crate::login::{sign_in, sign_in_as_its_user};
use crate::support::browser::Browser;
use crate::support::{Answer, TestPair};
use launcher::{Login, TopologyOptions};
use serde_json::{Value, json};

/// Access tokens live 65 s: with the refresh a minute before expiry, a request 5 s after
/// sign-in refreshes.
const SHORT_TOKEN_SECS: u64 = 65;

async fn spawn_replicas(extra_users: usize) -> TestPair {
    TestPair::spawn_with(TopologyOptions {
        login: Login::Session,
        frontend_replicas: 2,
        access_token_ttl_secs: Some(SHORT_TOKEN_SECS),
        extra_users: (1..=extra_users)
            .map(|n| (format!("user{n:02}"), format!("User Number {n}")))
            .collect(),
        ..TopologyOptions::default()
    })
    .await
}

/// Request log lines of one replica (`frontend`, `frontend-2`) for `path` by `caller`.
async fn requests_of(pair: &TestPair, replica: &str, path: &str, caller: &str) -> usize {
    pair.log_lines(replica, |_| true)
        .await
        .iter()
        .filter(|line| {
            line["message"] == "request" && line["path"] == path && line["caller"] == caller
        })
        .count()
}

/// `GET /` at one replica's own port with this session cookie, as a browser would send it
/// (no redirect followed, so a sign-in redirect shows as the 302 it is).
fn page_request(base: &str, cookie: &str) -> reqwest::RequestBuilder {
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    client
        .get(format!("{base}/"))
        .header("cookie", format!("__Host-session={cookie}"))
}

async fn page_with_cookie(pair: &TestPair, base: &str, cookie: &str) -> Answer {
    pair.send(page_request(base, cookie)).await
}

/// The status and text of that `GET /` (for spawned tasks, which have no `TestPair`).
async fn page_status(base: &str, cookie: &str) -> (u16, String) {
    let answer = page_request(base, cookie).send().await.expect("an answer");
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap_or_default())
}

async fn save_through_the_page(browser: &Browser, key: &str, value: &str) {
    browser.type_into("#key", key).await;
    browser.type_into("#value", value).await;
    browser.click("#submit").await;
    let result = browser
        .wait_for_text("#result", &format!("Saved {key}"))
        .await;
    assert!(result.contains(&format!("\"{value}\"")), "{result}");
}

#[tokio::test]
async fn two_replicas_behind_nginx_share_sessions_through_restarts_refreshes_and_sign_out() {
    let mut pair = spawn_replicas(0).await;
    let provider = pair.identity_provider();
    let (issuer, user, password, name) = (
        provider.issuer.clone(),
        provider.user.clone(),
        provider.password.clone(),
        provider.user_name.clone(),
    );
    let entry = pair.topology.browser_url();
    let browser = Browser::start(&pair.topology.workdir.join("logs")).await;
    sign_in(&browser, &entry, &issuer, &user, &password, &name).await;
    let cookie = browser
        .cookie("__Host-session")
        .await
        .expect("the session cookie");
    // The session is in the shared SQLite file, encrypted: none of its JSON shows there.
    let mut stored = Vec::new();
    for file in ["sessions.db", "sessions.db-wal"] {
        stored.extend(std::fs::read(pair.topology.workdir.join(file)).unwrap_or_default());
    }
    let stored = String::from_utf8_lossy(&stored);
    assert!(
        stored.contains("session-"),
        "no session record in sessions.db"
    );
    // Stored under a keyed hash of the id: whoever reads the store holds no live cookie.
    assert!(
        !stored.contains(&cookie),
        "the session id is in sessions.db (as its key)"
    );
    for plain in [name.as_str(), "access_token", "refresh_token", "id_token"] {
        assert!(
            !stored.contains(plain),
            "{plain:?} in sessions.db unencrypted"
        );
    }

    // Page loads and saves, round robin over both replicas; after 5 s the access token is
    // within a minute of its expiry, so the requests from then on refresh it.
    let started = Instant::now();
    for round in 0..6 {
        browser.go_to(&entry).await;
        browser.wait_for_text("#caller", &name).await;
        save_through_the_page(&browser, &format!("replicas-{round}"), &format!("v{round}")).await;
        if round == 2 {
            let wait = Duration::from_secs(6).saturating_sub(started.elapsed());
            tokio::time::sleep(wait).await;
        }
    }
    for round in 0..6 {
        assert_eq!(
            pair.dapr_state(&format!("replicas-{round}")).await,
            Some(json!(format!("v{round}")))
        );
    }
    let mut page_loads = 0;
    for replica in ["frontend", "frontend-2"] {
        let saves = requests_of(&pair, replica, "/page/call", &user).await;
        let pages = requests_of(&pair, replica, "/", &user).await;
        // Each round is four requests (the page, its script, two saves), so with strict
        // round robin one replica may get every page load: both must have had saves.
        assert!(
            saves > 0,
            "{replica} answered {pages} page loads and {saves} saves of {user}: nginx did not share them out"
        );
        page_loads += pages;
    }
    assert!(page_loads >= 6, "{page_loads} page loads");
    let refreshed = |line: &Value| line["message"] == "refreshed the session's access token";
    let mut refreshes = pair.log_lines("frontend", refreshed).await;
    refreshes.extend(pair.log_lines("frontend-2", refreshed).await);
    assert!(
        refreshes.iter().any(refreshed),
        "no replica refreshed the access token"
    );

    // Each replica alone knows the session (one record in the shared store).
    let replicas: Vec<String> = pair.topology.frontends().map(|f| f.app_url()).collect();
    for base in &replicas {
        let page = page_with_cookie(&pair, base, &cookie).await;
        assert_eq!(page.status, 200, "{base}: {}", page.text);
        assert!(page.text.contains(&name), "{base}: {}", page.text);
    }

    // Cross-site writes with the session cookie are refused: a form's content type, and a
    // request the browser marks as cross-site.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let save =
        json!({"appId": "backend", "method": "savestate", "payload": {"key": "csrf", "data": "x"}});
    let form = pair
        .send(
            http.post(format!("{}/page/call", replicas[0]))
                .header("cookie", format!("__Host-session={cookie}"))
                .header("content-type", "text/plain")
                .body(save.to_string()),
        )
        .await;
    form.assert_problem(415, "application/json");
    let cross_site = pair
        .send(
            http.post(format!("{}/page/call", replicas[0]))
                .header("cookie", format!("__Host-session={cookie}"))
                .header("sec-fetch-site", "cross-site")
                .json(&save),
        )
        .await;
    cross_site.assert_problem(403, "cross-site");
    assert_eq!(pair.dapr_state("csrf").await, None);

    // Both replicas (app and daprd) restarted: still signed in.
    for frontend in pair.topology.frontends_mut() {
        frontend.stop().await;
        frontend.start_app().await.unwrap();
        frontend.start_sidecar().await.unwrap();
        frontend.wait_ready().await.unwrap();
    }
    browser.go_to(&entry).await;
    browser.wait_for_text("#caller", &name).await;
    save_through_the_page(&browser, "after-restart", "still here").await;

    // Signing out ends the session everywhere, and at the provider too.
    browser.click("#logout").await;
    browser.click("button[value=yes]").await;
    browser.find("input[name=login]").await;
    assert!(
        browser.current_url().await.starts_with(&issuer),
        "signed out, the page sends the browser to sign in: {}",
        browser.current_url().await
    );
    for base in &replicas {
        let page = page_with_cookie(&pair, base, &cookie).await;
        assert_eq!(page.status, 302, "{base}: {}", page.text);
        assert_eq!(
            page.headers.get("location").unwrap(),
            "/auth/login?return=%2F"
        );
    }
    browser.close().await;
}

/// Both replicas find the same session's access token about to expire at the same moment.
/// The provider rotates refresh tokens and revokes the grant when a rotated one is used
/// again, so two refreshes of one session must never both reach it.
#[tokio::test]
async fn replicas_refreshing_one_session_at_once_keep_it() {
    let pair = TestPair::spawn_with(TopologyOptions {
        login: Login::Session,
        frontend_replicas: 2,
        // Always within a minute of expiry: every request refreshes unless one just did.
        access_token_ttl_secs: Some(61),
        ..TopologyOptions::default()
    })
    .await;
    let provider = pair.identity_provider();
    let entry = pair.topology.browser_url();
    let browser = Browser::start(&pair.topology.workdir.join("logs")).await;
    sign_in_as_its_user(&browser, &entry, provider).await;
    let cookie = browser.cookie("__Host-session").await.unwrap();
    let replicas: Vec<String> = pair.topology.frontends().map(|f| f.app_url()).collect();
    for round in 0..4 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut requests = tokio::task::JoinSet::new();
        for n in 0..6 {
            let (base, cookie) = (replicas[n % 2].clone(), cookie.clone());
            requests.spawn(async move { (n, page_status(&base, &cookie).await) });
        }
        while let Some(answer) = requests.join_next().await {
            let (n, (status, text)) = answer.unwrap();
            assert_eq!(
                status,
                200,
                "round {round}, request {n} at {}: {text}\n{}",
                replicas[n % 2],
                pair.topology.log_tails(15)
            );
            assert!(text.contains(&provider.user_name), "{text}");
        }
    }
    browser.close().await;
}

#[tokio::test]
async fn two_browsers_sign_in_at_the_same_moment_and_ten_people_one_after_another_and_five_at_once()
{
    let pair = spawn_replicas(15).await;
    let provider = pair.identity_provider();
    let entry = pair.topology.browser_url();
    let logs = pair.topology.workdir.join("logs");
    let person = |n: usize| (format!("user{n:02}"), format!("User Number {n}"));
    let sign_in_as = |n: usize| {
        let (entry, logs, issuer, password) = (
            entry.clone(),
            logs.clone(),
            provider.issuer.clone(),
            provider.password.clone(),
        );
        async move {
            let (user, name) = person(n);
            let browser = Browser::start(&logs).await;
            sign_in(&browser, &entry, &issuer, &user, &password, &name).await;
            // Landed as themselves, and stay so on the next page (another replica).
            browser.go_to(&entry).await;
            let caller = browser.wait_for_text("#caller", &name).await;
            assert_eq!(caller, format!("Signed in as {name}"));
            browser.close().await;
        }
    };
    let started = Instant::now();
    // Two browser contexts at the same moment (each its own attempt, state and cookie).
    tokio::join!(sign_in_as(1), sign_in_as(2));
    // Ten one after another.
    for n in 3..=12 {
        sign_in_as(n).await;
    }
    // Five at once.
    tokio::join!(
        sign_in_as(13),
        sign_in_as(14),
        sign_in_as(15),
        sign_in_as(1),
        sign_in_as(2)
    );
    assert!(
        started.elapsed() < Duration::from_secs(240),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_wrong_cookie_gets_the_login_and_a_foreign_return_or_a_bad_callback_a_clear_page() {
    let pair = TestPair::spawn_with(TopologyOptions {
        login: Login::Session,
        ..TopologyOptions::default()
    })
    .await;
    let base = pair.topology.frontend_url();
    // Unknown (well-formed), tampered (not an id of ours) or empty: the login, and the cookie
    // cleared; never an error.
    for cookie in [
        "A".repeat(43),
        "tampered.value".to_owned(),
        String::new(),
        "%00%ff".to_owned(),
    ] {
        let page = page_with_cookie(&pair, &base, &cookie).await;
        assert_eq!(page.status, 302, "{cookie:?}: {}", page.text);
        assert_eq!(
            page.headers.get("location").unwrap(),
            "/auth/login?return=%2F"
        );
        let cleared = page.headers.get("set-cookie").unwrap().to_str().unwrap();
        assert!(cleared.contains("Max-Age=0"), "{cleared}");
    }
    let no_redirects = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // A script's request without a session: a 401 problem, not a login page.
    let save = pair
        .send(
            no_redirects
                .post(format!("{base}/page/call"))
                .json(&json!({"appId": "backend", "method": "savestate"})),
        )
        .await;
    save.assert_problem(401, "not signed in");
    // The login goes to the provider, for a local return path only.
    let login = pair
        .send(no_redirects.get(format!("{base}/auth/login?return=%2Fpage%2Fx")))
        .await;
    assert_eq!(login.status, 302, "{}", login.text);
    let to = login.headers.get("location").unwrap().to_str().unwrap();
    assert!(to.starts_with(&pair.identity_provider().issuer), "{to}");
    for needle in ["code_challenge_method=S256", "nonce=", "state="] {
        assert!(to.contains(needle), "{needle} in {to}");
    }
    for foreign in [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "evil",
    ] {
        let refused = pair
            .send(no_redirects.get(format!(
                "{base}/auth/login?return={}",
                percent_encoding::utf8_percent_encode(foreign, percent_encoding::NON_ALPHANUMERIC)
            )))
            .await;
        assert_eq!(refused.status, 400, "{foreign}: {}", refused.text);
        assert!(refused.headers.get("location").is_none());
        assert!(
            refused.text.contains("not a page of this site"),
            "{}",
            refused.text
        );
    }
    // Callbacks that are not the end of a sign-in of ours: a clear page, no loop, no 500.
    for (query, status, says) in [
        ("", 400, "neither"),
        (
            "state=unknown&code=x",
            400,
            "expired or was completed already",
        ),
        (
            "state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&code=x",
            400,
            "expired or was completed already",
        ),
        ("error=access_denied&state=x", 401, "not completed"),
    ] {
        let page = pair
            .send(no_redirects.get(format!("{base}/auth/callback?{query}")))
            .await;
        assert_eq!(page.status, status, "{query}: {}", page.text);
        assert!(page.text.contains(says), "{query}: {}", page.text);
        assert!(page.headers.get("location").is_none(), "{query}");
    }
    // The session store is not reachable through the sidecar's HTTP port: without the app's
    // token daprd refuses every route (401); the allow list has no HTTP state API besides
    // (tests/sidecar_exposure.rs tries every API on both ports).
    let sidecar = pair.topology.frontend.sidecar_url();
    let state = pair
        .send(no_redirects.get(format!("{sidecar}/v1.0/state/sessionstore/anything")))
        .await;
    assert!(
        matches!(state.status, 401 | 403 | 404),
        "the state API on the ingress-facing port: {} {}",
        state.status,
        state.text
    );
}
