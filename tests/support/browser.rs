//! A headless Chromium driven over WebDriver (Debian `chromium` and `chromium-driver`): just
//! the few commands the login test needs, as plain JSON over HTTP.

use std::time::{Duration, Instant};

use launcher::ManagedProcess;
use launcher::free_port;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(20);
/// The key WebDriver names an element by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: ManagedProcess,
    http: reqwest::Client,
    session: String,
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium with a fresh profile.
    pub async fn start(log_dir: &std::path::Path) -> Self {
        let port = free_port();
        let mut command = Command::new("chromedriver");
        command.arg(format!("--port={port}"));
        let mut driver = ManagedProcess::spawn("chromedriver", command, log_dir)
            .expect("chromedriver (Debian package chromium-driver; scripts/test.sh installs it)");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(
                driver.is_running(),
                "chromedriver exited: {}",
                driver.log_tail(20)
            );
            assert!(started.elapsed() < WAIT, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--no-proxy-server",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("a new browser session")
            .json()
            .await
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {answer}"));
        Self {
            session: format!("{base}/session/{session}"),
            driver,
            http,
            _profile: profile,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        answer["value"].clone()
    }

    pub async fn go_to(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn current_url(&self) -> String {
        let url = self.command(reqwest::Method::GET, "/url", None).await;
        url.as_str().unwrap_or_default().to_owned()
    }

    pub async fn page_source(&self) -> String {
        let source = self.command(reqwest::Method::GET, "/source", None).await;
        source.as_str().unwrap_or_default().to_owned()
    }

    /// The element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let found = self
                .command(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            if let Some(id) = found[ELEMENT].as_str() {
                return id.to_owned();
            }
            assert!(
                started.elapsed() < WAIT,
                "no {css:?} on {} after {WAIT:?}; the page:\n{}",
                self.current_url().await,
                self.page_source().await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        let path = format!("/element/{element}");
        self.command(
            reqwest::Method::POST,
            &format!("{path}/clear"),
            Some(json!({})),
        )
        .await;
        self.command(
            reqwest::Method::POST,
            &format!("{path}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        let text = self
            .command(
                reqwest::Method::GET,
                &format!("/element/{element}/text"),
                None,
            )
            .await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the text of `css` contains `wanted`, and returns it.
    pub async fn wait_for_text(&self, css: &str, wanted: &str) -> String {
        let started = Instant::now();
        loop {
            let text = self.text(css).await;
            if text.contains(wanted) {
                return text;
            }
            assert!(
                started.elapsed() < WAIT,
                "{css:?} says {text:?}, not {wanted:?}, after {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The value of the cookie `name` of the current page's site (HttpOnly ones too).
    pub async fn cookie(&self, name: &str) -> Option<String> {
        let cookie = self
            .command(reqwest::Method::GET, &format!("/cookie/{name}"), None)
            .await;
        cookie["value"].as_str().map(str::to_owned)
    }

    pub async fn close(mut self) {
        self.command(reqwest::Method::DELETE, "", None).await;
        self.driver.stop(Duration::from_secs(5)).await;
    }
}
