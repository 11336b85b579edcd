//! The local peers that are npm packages (`oidc/`, `cosmos/` beside this crate): installed
//! from their lock files with `npm ci` the first time a run needs them, and again when a lock
//! file changes.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use anyhow::{Context, bail};

/// Installs the package in `dir` unless its `node_modules` is newer than its lock file. One
/// install at a time: parallel tests that start the same peer wait for the first.
pub fn ensure_installed(dir: &Path) -> anyhow::Result<()> {
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let modified = |file: &str| {
        std::fs::metadata(dir.join(file))
            .and_then(|m| m.modified())
            .ok()
    };
    let installed = modified("node_modules/.package-lock.json");
    if installed.is_some() && installed >= modified("package-lock.json") {
        return Ok(());
    }
    eprintln!(
        "launcher: npm ci --prefix {} (first time only)",
        dir.display()
    );
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir)
        // npm's own progress would interleave with test output; errors still reach stderr.
        .stdout(std::process::Stdio::null())
        .status()
        .context("running npm (install Node.js 20.19 or newer with npm)")?;
    if !status.success() {
        bail!("npm ci --prefix {} failed ({status})", dir.display());
    }
    Ok(())
}
