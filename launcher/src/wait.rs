//! Waiting for a process to be ready: polled, bounded in time, and cut short if it exits.

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::process::ManagedProcess;

const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Polls `ready` until it says yes, failing early if `process` exits and late after
/// [`READY_TIMEOUT`].
pub(crate) async fn wait_until<F, Fut>(
    what: &str,
    ready: F,
    process: &mut ManagedProcess,
) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < READY_TIMEOUT {
        if ready().await {
            return Ok(());
        }
        if !process.is_running() {
            bail!(
                "{what} exited while starting; its log ends:\n{}",
                process.log_tail(40)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(anyhow::anyhow!(
        "{what} was not ready after {READY_TIMEOUT:?}; its log ends:\n{}",
        process.log_tail(40)
    ))
}

pub(crate) async fn get_status(url: &str) -> Option<u16> {
    get_status_with(url, None).await
}

/// [`get_status`] with daprd's `dapr-api-token`, where its API asks for one.
pub(crate) async fn get_status_with(url: &str, dapr_api_token: Option<&str>) -> Option<u16> {
    let mut request = client()?.get(url);
    if let Some(token) = dapr_api_token {
        request = request.header("dapr-api-token", token);
    }
    let response = request.send().await.ok()?;
    Some(response.status().as_u16())
}

/// The body of a `GET`, if it answered 200.
pub(crate) async fn get_text(url: &str) -> Option<String> {
    let response = client()?.get(url).send().await.ok()?;
    if response.status() != reqwest::StatusCode::OK {
        return None;
    }
    response.text().await.ok()
}

/// A client for one probe: no proxy, each probe bounded.
fn client() -> Option<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()
}
