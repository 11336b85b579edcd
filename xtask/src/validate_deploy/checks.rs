//! The Python package xtask/validate_deploy/: its tests, then its checks, with the venv's
//! Python from xtask/ (so `-m validate_deploy` imports the package there) and no bytecode
//! written into the tree; both given what the apps say of themselves (`dapr-pair describe`),
//! which the checks read instead of the Rust source.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use super::command::{describe, run};

/// The checks `python -m validate_deploy` knows; none named is all of them.
pub const NAMES: [&str; 5] = ["az", "aks", "crds", "daprd", "bicep"];

/// The tools the checks run, passed in their environment.
pub struct Tools {
    pub az: PathBuf,
    pub kustomize: PathBuf,
    pub kubernetes_validate: PathBuf,
    pub daprd: PathBuf,
    pub dapr_crds: PathBuf,
}

/// The JSON `dapr-pair describe` prints: the image's binary built (a debug build, as the tests
/// use) and run once.
pub fn description(repo: &Path) -> anyhow::Result<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(repo).args([
        "run",
        "--quiet",
        "--package",
        "dapr-pair-image",
        "--",
        "describe",
    ]);
    let output = command
        .output()
        .with_context(|| format!("running {}", describe(&command)))?;
    if !output.status.success() {
        bail!(
            "{} failed ({}): {}",
            describe(&command),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8(output.stdout).context("`dapr-pair describe` printed something not UTF-8")
}

/// pytest over the package's tests (the scanner the az check finds commands with).
pub fn test_package(repo: &Path, python: &Path, description: &str) -> anyhow::Result<()> {
    println!("pytest: xtask/validate_deploy/tests");
    run(python_in_xtask(repo, python, description)?.args([
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "validate_deploy/tests",
    ]))
}

/// `python -m validate_deploy CHECK...`.
pub fn run_checks(
    repo: &Path,
    python: &Path,
    tools: &Tools,
    description: &str,
    checks: &[String],
) -> anyhow::Result<()> {
    run(python_in_xtask(repo, python, description)?
        .args(["-m", "validate_deploy"])
        .args(checks)
        .env("AZ", &tools.az)
        .env("KUSTOMIZE", &tools.kustomize)
        .env("KUBERNETES_VALIDATE", &tools.kubernetes_validate)
        .env("DAPRD", &tools.daprd)
        .env("DAPR_CRDS", &tools.dapr_crds))
}

/// `python` run from xtask/, with xtask/ first on its import path and the apps' description in
/// DAPR_PAIR_DESCRIPTION (description.py).
fn python_in_xtask(repo: &Path, python: &Path, description: &str) -> anyhow::Result<Command> {
    let xtask = repo.join("xtask");
    let mut command = Command::new(python);
    command
        .current_dir(&xtask)
        .env("PYTHONPATH", import_path(&xtask)?)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("DAPR_PAIR_DESCRIPTION", description);
    Ok(command)
}

fn import_path(first: &Path) -> anyhow::Result<OsString> {
    let rest = std::env::var_os("PYTHONPATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(first.to_path_buf()).chain(std::env::split_paths(&rest)))
        .context("an xtask folder that cannot be on PYTHONPATH")
}
