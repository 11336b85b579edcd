//! Sentry, Dapr's certificate authority: it gives each daprd its mTLS identity (SPIFFE id with
//! the app id), which is what the backend's access control checks.

use std::path::Path;

use anyhow::Context;
use tokio::process::Command;

use crate::paths::{bin_dir, repo_root};
use crate::ports::free_port;
use crate::process::ManagedProcess;
use crate::wait::{get_status, wait_until};

/// A running Sentry: its process, the address sidecars ask for certificates, and the trust
/// anchors (its CA certificate) every daprd is given.
pub(crate) struct Sentry {
    pub process: ManagedProcess,
    pub address: String,
    pub trust_anchors: String,
}

/// Starts Sentry with `dapr-config/daprsystem.yaml`, its credentials in `workdir/sentry`, and
/// waits until it has written its CA and answers its health check.
pub(crate) async fn start_sentry(workdir: &Path, log_dir: &Path) -> anyhow::Result<Sentry> {
    let credentials = workdir.join("sentry");
    std::fs::create_dir_all(&credentials)
        .with_context(|| format!("creating {}", credentials.display()))?;
    let port = free_port();
    let healthz_port = free_port();
    let mut command = Command::new(bin_dir().join("sentry"));
    command
        .args(["--issuer-credentials", &credentials.to_string_lossy()])
        .args([
            "--config",
            &repo_root()
                .join("dapr-config/daprsystem.yaml")
                .to_string_lossy(),
        ])
        .args([
            "--trust-domain",
            "localhost",
            "--listen-address",
            "127.0.0.1",
            "--healthz-listen-address",
            "127.0.0.1",
        ])
        .args([
            "--port",
            &port.to_string(),
            "--healthz-port",
            &healthz_port.to_string(),
        ])
        // Every port of a local run is on loopback, but Sentry 1.16 binds its metrics and
        // healthz servers to every address, whatever `--metrics-listen-address` and
        // `--healthz-listen-address` say (both are parsed and never used; the healthz one is
        // dapr/dapr#10394). A local run reads no Sentry metrics: they are off. Its healthz,
        // which the wait below needs, says only whether Sentry is up.
        .args(["--enable-metrics=false"])
        .current_dir(workdir);
    let mut process =
        ManagedProcess::spawn("sentry", command, log_dir).context("starting sentry")?;
    let ca = credentials.join("ca.crt");
    let url = format!("http://127.0.0.1:{healthz_port}/healthz");
    wait_until(
        "sentry",
        || async { ca.is_file() && get_status(&url).await == Some(200) },
        &mut process,
    )
    .await?;
    let trust_anchors =
        std::fs::read_to_string(&ca).with_context(|| format!("reading {}", ca.display()))?;
    Ok(Sentry {
        process,
        address: format!("127.0.0.1:{port}"),
        trust_anchors,
    })
}
