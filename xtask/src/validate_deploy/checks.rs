//! The Python package xtask/validate_deploy/: its tests, then its checks, with the venv's
//! Python from xtask/ (so `-m validate_deploy` imports the package there) and no bytecode
//! written into the tree.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use super::command::run;

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

/// pytest over the package's tests (the scanner the az check finds commands with).
pub fn test_package(repo: &Path, python: &Path) -> anyhow::Result<()> {
    println!("pytest: xtask/validate_deploy/tests");
    run(python_in_xtask(repo, python)?.args([
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
    checks: &[String],
) -> anyhow::Result<()> {
    run(python_in_xtask(repo, python)?
        .args(["-m", "validate_deploy"])
        .args(checks)
        .env("AZ", &tools.az)
        .env("KUSTOMIZE", &tools.kustomize)
        .env("KUBERNETES_VALIDATE", &tools.kubernetes_validate)
        .env("DAPRD", &tools.daprd)
        .env("DAPR_CRDS", &tools.dapr_crds))
}

/// `python` run from xtask/, with xtask/ first on its import path.
fn python_in_xtask(repo: &Path, python: &Path) -> anyhow::Result<Command> {
    let xtask = repo.join("xtask");
    let mut command = Command::new(python);
    command
        .current_dir(&xtask)
        .env("PYTHONPATH", import_path(&xtask)?)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    Ok(command)
}

fn import_path(first: &Path) -> anyhow::Result<OsString> {
    let rest = std::env::var_os("PYTHONPATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(first.to_path_buf()).chain(std::env::split_paths(&rest)))
        .context("an xtask folder that cannot be on PYTHONPATH")
}
