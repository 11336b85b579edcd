//! The session sign-in bound to the browser that started it (issue 21): a callback URL opened
//! in another browser signs nobody in (login CSRF, RFC 6749 §10.12, RFC 9700 §4.7.1), two tabs
//! of one browser each finish their own sign-in, and a visitor who only starts sign-ins costs
//! the session store nothing. On the real provider, daprd and Chromium.

use crate::login::sign_in_as_its_user;
use crate::support::TestPair;
use crate::support::browser::Browser;
use crate::support::provider_login::ScriptedClient;
use launcher::{Login, TopologyOptions};

async fn spawn_session_pair() -> TestPair {
    TestPair::spawn_with(TopologyOptions {
        login: Login::Session,
        extra_users: vec![("mallory".to_owned(), "Mallory".to_owned())],
        ..TopologyOptions::default()
    })
    .await
}

/// Everything in the session store's SQLite file and its WAL, as text.
fn stored(pair: &TestPair) -> String {
    let mut bytes = Vec::new();
    for file in ["sessions.db", "sessions.db-wal"] {
        bytes.extend(std::fs::read(pair.topology.workdir.join(file)).unwrap_or_default());
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test]
async fn a_callback_opened_in_another_browser_signs_nobody_in_and_its_own_browser_still_can() {
    let pair = spawn_session_pair().await;
    let provider = pair.identity_provider();
    let base = pair.topology.frontend_url();
    let entry = pair.topology.browser_url();

    // Mallory scripts a sign-in as herself and stops before being sent back: the callback URL
    // with its unused code.
    let mut mallory = ScriptedClient::new();
    let callback = mallory
        .sign_in_up_to_the_callback(
            &format!("{base}/auth/login"),
            &provider.issuer,
            &format!("{base}/auth/callback"),
            "mallory",
            &provider.password,
        )
        .await;

    // The victim's browser is made to open it: no session, a page that says why.
    let victim = Browser::start(&pair.topology.workdir.join("logs")).await;
    victim.go_to(&callback).await;
    assert_eq!(
        victim.cookie("__Host-session").await,
        None,
        "the victim's browser got a session from Mallory's callback; it shows:\n{}",
        victim.page_source().await
    );
    let problem = victim.text("#problem").await;
    assert!(problem.contains("not started in this browser"), "{problem}");
    // Still signed out: the page sends the victim to sign in, as themselves.
    sign_in_as_its_user(&victim, &entry, provider).await;
    victim.close().await;

    // The same callback in the client that started it (its attempt cookie) signs Mallory in:
    // the refusal above was about the browser, and it did not use up her code.
    let back = mallory.get(&callback).await;
    assert_eq!(back.status, 302, "{}", back.text);
    assert_eq!(back.location.as_deref(), Some("/"));
    let session = back
        .set_cookies
        .iter()
        .find(|set| set.starts_with("__Host-session=") && !set.contains("Max-Age=0"));
    assert!(session.is_some(), "{:?}", back.set_cookies);
    let page = mallory.get(&entry).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("Mallory"), "{}", page.text);
    // Its attempt cookie was cleared by the callback: a replay here is refused too.
    assert!(
        !mallory
            .cookies
            .keys()
            .any(|name| name.starts_with("__Host-signin-")),
        "{:?}",
        mallory.cookies.keys()
    );
    let again = mallory.get(&callback).await;
    assert_eq!(again.status, 400, "{}", again.text);
}

#[tokio::test]
async fn two_tabs_of_one_browser_each_finish_their_own_sign_in() {
    let pair = spawn_session_pair().await;
    let provider = pair.identity_provider();
    let base = pair.topology.frontend_url();
    let browser = Browser::start(&pair.topology.workdir.join("logs")).await;

    // Tab one starts a sign-in and leaves it at the provider's login page; tab two starts
    // another. Then tab one, the older, finishes first.
    browser
        .go_to(&format!("{base}/auth/login?return=%2F%3Ftab%3D1"))
        .await;
    browser.find("input[name=login]").await;
    let first = browser.current_url().await;
    browser
        .go_to(&format!("{base}/auth/login?return=%2F%3Ftab%3D2"))
        .await;
    browser.find("input[name=login]").await;
    let second = browser.current_url().await;
    assert_ne!(first, second);

    for (tab, at_provider) in [("tab=1", &first), ("tab=2", &second)] {
        browser.go_to(at_provider).await;
        browser.type_into("input[name=login]", &provider.user).await;
        browser
            .type_into("input[name=password]", &provider.password)
            .await;
        browser.click("button[type=submit]").await;
        // The first sign-in asks for consent; the second may not (the grant is there).
        back_at_the_app_or_consent(&browser, &base).await;
        let caller = browser.wait_for_text("#caller", &provider.user_name).await;
        assert_eq!(caller, format!("Signed in as {}", provider.user_name));
        let url = browser.current_url().await;
        assert!(url.starts_with(&base) && url.ends_with(tab), "{tab}: {url}");
    }
    browser.close().await;
}

/// After the password: clicks the provider's consent button if it asks, until the browser is
/// back at the app (`base`).
async fn back_at_the_app_or_consent(browser: &Browser, base: &str) {
    for _ in 0..100 {
        if browser.current_url().await.starts_with(base) {
            return;
        }
        if browser.page_source().await.contains(r#"value="consent""#) {
            browser.click("button[type=submit]").await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!(
        "not back at the app: {}\n{}",
        browser.current_url().await,
        browser.page_source().await
    );
}

#[tokio::test]
async fn starting_sign_ins_writes_nothing_to_the_session_store() {
    let pair = spawn_session_pair().await;
    let base = pair.topology.frontend_url();
    let mut visitor = ScriptedClient::new();
    let mut answers = Vec::new();
    for n in 0..20 {
        let started = visitor
            .get(&format!("{base}/auth/login?return=%2Fpage%2F{n}"))
            .await;
        assert_eq!(started.status, 302, "{}", started.text);
        answers.push(started);
    }
    // Records are keyed `frontend||<key>` in the store's table: there are none.
    let stored = stored(&pair);
    assert!(
        !stored.contains("frontend||"),
        "sign-ins that never came back wrote to the session store"
    );
    // Each attempt went to the browser instead.
    for started in &answers {
        assert!(
            started
                .set_cookies
                .iter()
                .any(|set| set.starts_with("__Host-signin-")),
            "{:?}",
            started.set_cookies
        );
    }
    // And the browser keeps a bounded set of attempts (the oldest were cleared as it went).
    let attempts = visitor
        .cookies
        .keys()
        .filter(|name| name.starts_with("__Host-signin-"))
        .count();
    assert!(attempts <= 3, "{attempts} attempt cookies");
}
