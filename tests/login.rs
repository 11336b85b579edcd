//! The login topology on real processes: npm `oidc-provider` as the identity provider, the
//! frontend's daprd with the OAuth2 and bearer middleware (dapr-config/frontend-login.yaml),
//! the frontend with `AUTH_MODE=jwt`, and a headless Chromium for the browser login.

use crate::support::browser::Browser;
use crate::support::{Answer, TestPair};
use launcher::identity_provider::{AUDIENCE, IdentityProvider};
use launcher::{Login, TopologyOptions};
use serde_json::{Value, json};
use test_support::tokens::{self, SigningKey};

/// The browser login every deployment of this project uses by default.
const DEFAULT_LOGIN: Login = Login::Session;

async fn spawn_login_pair() -> TestPair {
    spawn_login_pair_with(DEFAULT_LOGIN).await
}

async fn spawn_login_pair_with(login: Login) -> TestPair {
    TestPair::spawn_with(TopologyOptions {
        login,
        ..TopologyOptions::default()
    })
    .await
}

/// `POST /call` at `base` (`…/` of the app, or the page through the sidecar) with this token.
async fn call_with(pair: &TestPair, base: &str, token: Option<&str>, body: Value) -> Answer {
    let mut request = pair.http.post(format!("{base}call")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    pair.send(request).await
}

fn save(key: &str, data: &str) -> Value {
    json!({"appId": "backend", "method": "savestate", "payload": {"key": key, "data": data}})
}

#[tokio::test]
async fn api_clients_need_a_valid_token_at_the_sidecar_and_at_the_app() {
    let pair = spawn_login_pair().await;
    let provider = pair.identity_provider();
    let through_sidecar = pair.topology.login_url();
    let app_directly = format!("{}/", pair.topology.frontend_url());

    // A client-credentials token from the provider: the call goes through the sidecar's
    // middleware, the app's own check, and on to the backend through Dapr.
    let token = provider.client_credentials_token().await.unwrap();
    let saved = call_with(&pair, &through_sidecar, Some(&token), save("api-key", "v1")).await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    assert_eq!(pair.dapr_state("api-key").await, Some(json!("v1")));
    let saved = call_with(&pair, &app_directly, Some(&token), save("api-key", "v2")).await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    assert_eq!(pair.dapr_state("api-key").await, Some(json!("v2")));

    // Tokens signed with the provider's own key but with the wrong claims, and tokens the
    // provider never signed. Dapr's bearer middleware allows 5 minutes of clock skew, so
    // "expired" is 15 minutes ago.
    let key = &provider.signing_key;
    let issuer = provider.issuer.as_str();
    let stranger = SigningKey::generate("not-the-providers");
    let valid = key.sign(&tokens::claims(issuer, AUDIENCE, "ada", 300));
    let mut issued_later = tokens::claims(issuer, AUDIENCE, "ada", 3600);
    issued_later["iat"] = json!(tokens::now() + 900);
    let bad_tokens: [(&str, Option<String>, &str); 8] = [
        ("no token", None, "missing bearer token"),
        (
            "expired",
            Some(key.sign(&tokens::claims(issuer, AUDIENCE, "ada", -900))),
            "expired",
        ),
        (
            "wrong audience",
            Some(key.sign(&tokens::claims(issuer, "api://another", "ada", 300))),
            "another audience",
        ),
        (
            "wrong issuer",
            Some(key.sign(&tokens::claims("http://127.0.0.1:1", AUDIENCE, "ada", 300))),
            "another issuer",
        ),
        (
            "issued 15 minutes from now",
            Some(key.sign(&issued_later)),
            "issued in the future",
        ),
        (
            "unknown kid",
            Some(stranger.sign(&tokens::claims(issuer, AUDIENCE, "ada", 300))),
            "not one of the issuer's keys",
        ),
        (
            "tampered signature",
            Some(tokens::tampered(&valid)),
            "signature is not valid",
        ),
        (
            "alg none",
            Some(tokens::unsigned(
                &tokens::claims(issuer, AUDIENCE, "ada", 300),
                &key.kid,
            )),
            "not a well-formed JWT",
        ),
    ];
    for (what, token, detail) in &bad_tokens {
        let at_sidecar =
            call_with(&pair, &through_sidecar, token.as_deref(), save("bad", what)).await;
        assert_eq!(
            at_sidecar.status, 401,
            "{what} at the sidecar: {}",
            at_sidecar.text
        );
        // daprd's own 401 (plain text), not the app's problem body: the sidecar refused it.
        assert_ne!(
            at_sidecar.headers.get("content-type").unwrap(),
            "application/problem+json",
            "{what}: the sidecar let it through to the app"
        );
        let at_app = call_with(&pair, &app_directly, token.as_deref(), save("bad", what)).await;
        at_app.assert_problem(401, detail);
        if let Some(token) = token {
            assert!(
                !at_app.text.contains(token.as_str()),
                "{what}: the token was echoed"
            );
        }
    }
    assert_eq!(
        pair.dapr_state("bad").await,
        None,
        "no bad token saved anything"
    );

    // The token the provider signed is fine at both, so the refusals above are about the claims.
    let saved = call_with(&pair, &through_sidecar, Some(&valid), save("api-key", "v3")).await;
    assert_eq!(saved.status, 200, "{}", saved.text);

    // The app logs who called, and never the token.
    let lines = pair
        .log_lines("frontend", |line| line["caller"] == "ada")
        .await;
    assert!(
        lines
            .iter()
            .any(|line| line["caller"] == "ada" && line["caller_name"] == "Test ada"),
        "{lines:?}"
    );
    let log = std::fs::read_to_string(pair.topology.workdir.join("logs/frontend.log")).unwrap();
    assert!(
        !log.contains(&token) && !log.contains(&valid),
        "a token was logged"
    );
}

#[tokio::test]
async fn a_person_logs_in_with_a_browser_and_saves_a_key_through_the_page() {
    a_person_logs_in_and_saves_a_key(DEFAULT_LOGIN).await;
}

/// Dapr's OAuth2 middleware still signs one person in (one-user demos).
#[tokio::test]
async fn the_oauth2_middleware_still_signs_one_person_in() {
    a_person_logs_in_and_saves_a_key(Login::Middleware).await;
}

async fn a_person_logs_in_and_saves_a_key(login: Login) {
    let pair = spawn_login_pair_with(login).await;
    let provider = pair.identity_provider();
    let browser = Browser::start(&pair.topology.workdir.join("logs")).await;

    // The gated page sends the browser to the provider's login page.
    browser.go_to(&pair.topology.browser_url()).await;
    assert!(
        browser.current_url().await.starts_with(&provider.issuer),
        "not sent to the provider: {}",
        browser.current_url().await
    );
    // A wrong password is turned away ...
    browser.type_into("input[name=login]", &provider.user).await;
    browser
        .type_into("input[name=password]", "not-the-password")
        .await;
    browser.click("button[type=submit]").await;
    browser
        .wait_for_text("#error", "Wrong user or password")
        .await;
    // ... the right one gets to the consent page, and from there back to the page.
    browser.click("a").await;
    browser.type_into("input[name=login]", &provider.user).await;
    browser
        .type_into("input[name=password]", &provider.password)
        .await;
    browser.click("button[type=submit]").await;
    browser
        .wait_for_text("button[type=submit]", "Continue")
        .await;
    browser.click("button[type=submit]").await;

    let caller = browser.wait_for_text("#caller", &provider.user_name).await;
    assert_eq!(caller, format!("Signed in as {}", provider.user_name));
    assert!(
        browser
            .current_url()
            .await
            .starts_with(&pair.topology.browser_url())
    );

    browser.type_into("#key", "from-the-browser").await;
    browser.type_into("#value", "hello from chromium").await;
    browser.click("#submit").await;
    let result = browser.wait_for_text("#result", "read back").await;
    assert!(result.contains("\"hello from chromium\""), "{result}");
    assert_eq!(
        pair.dapr_state("from-the-browser").await,
        Some(json!("hello from chromium"))
    );
    browser.close().await;
}

/// Signs `user` in from the page at `entry` in this browser: to the provider's login page, the
/// password, the consent, and back to the page, which must greet `name`.
pub(crate) async fn sign_in(
    browser: &Browser,
    entry: &str,
    issuer: &str,
    user: &str,
    password: &str,
    name: &str,
) {
    browser.go_to(entry).await;
    assert!(
        browser.current_url().await.starts_with(issuer),
        "not sent to the provider: {}\n{}",
        browser.current_url().await,
        browser.page_source().await
    );
    browser.type_into("input[name=login]", user).await;
    browser.type_into("input[name=password]", password).await;
    browser.click("button[type=submit]").await;
    browser
        .wait_for_text("button[type=submit]", "Continue")
        .await;
    browser.click("button[type=submit]").await;
    let caller = browser.wait_for_text("#caller", name).await;
    assert_eq!(caller, format!("Signed in as {name}"));
}

/// [`sign_in`] as the provider's own user (`ada`).
pub(crate) async fn sign_in_as_its_user(
    browser: &Browser,
    entry: &str,
    provider: &IdentityProvider,
) {
    sign_in(
        browser,
        entry,
        &provider.issuer,
        &provider.user,
        &provider.password,
        &provider.user_name,
    )
    .await;
}

/// The second person to sign in, right after the first, each in a browser of their own (a
/// fresh profile): Dapr's OAuth2 middleware answered the second one's callback with a 500 or
/// a `Max-Age=0` session cookie (issue 15). Whatever the default browser login is, it holds.
#[tokio::test]
async fn two_people_sign_in_one_after_another_with_the_default_login() {
    let pair = spawn_login_pair().await;
    let provider = pair.identity_provider();
    let logs = pair.topology.workdir.join("logs");
    let entry = pair.topology.browser_url();
    for person in ["first", "second", "third"] {
        eprintln!("the {person} person signs in");
        let browser = Browser::start(&logs).await;
        sign_in_as_its_user(&browser, &entry, provider).await;
        // Still signed in on the next page load: the session cookie was kept.
        browser.go_to(&entry).await;
        let caller = browser.wait_for_text("#caller", &provider.user_name).await;
        assert_eq!(
            caller,
            format!("Signed in as {}", provider.user_name),
            "{person}"
        );
        browser.close().await;
    }
}

#[tokio::test]
async fn without_the_login_the_frontend_says_at_start_that_nobody_is_checked() {
    // The plain topology sets AUTH_MODE=off explicitly (the default is jwt).
    let pair = TestPair::spawn().await;
    let is_warning = |line: &Value| {
        line["level"] == "WARN"
            && line["message"]
                .as_str()
                .is_some_and(|m| m.contains("AUTH_MODE=off"))
    };
    let lines = pair.log_lines("frontend", is_warning).await;
    assert!(lines.iter().any(is_warning), "{lines:?}");
    // And anyone gets the page.
    let page = pair
        .send(pair.http.get(format!("{}/", pair.topology.frontend_url())))
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("nobody (AUTH_MODE=off)"),
        "{}",
        page.text
    );
}
