//! CPU profiles of the backend's daprd under the bench's load (`--profile-daprd`): Go's pprof,
//! fetched while a round runs, one file per topology, level and round under `OUT/pprof/`.
//! `go tool pprof -top FILES…` reads them (several files of one topology and level merge).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;

/// Starts recording `length` (whole seconds, at least one) of the CPU profile of the daprd
/// whose pprof listens on `port`; the task writes it to `file`.
pub fn record(port: u16, length: Duration, file: PathBuf) -> JoinHandle<anyhow::Result<()>> {
    let seconds = length.as_secs().max(1);
    tokio::spawn(async move {
        let url = format!("http://127.0.0.1:{port}/debug/pprof/profile?seconds={seconds}");
        let profile = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(seconds + 30))
            .build()?
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("GET {url}"))?
            .bytes()
            .await?;
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&file, profile).with_context(|| format!("writing {}", file.display()))
    })
}
