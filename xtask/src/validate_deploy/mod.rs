//! `cargo xtask validate-deploy [CHECK...]`: the deploy files validated offline with real tools
//! (Azure and Kubernetes are not needed). A full run lints every script (shellcheck), the
//! Dockerfile (hadolint) and the GitHub workflows (actionlint), runs `dapr-pair describe` (what
//! the apps say of themselves, which the checks read), the tests of the Python
//! package xtask/validate_deploy/, then its checks: az command lines through azure-cli's
//! parser, the upload and the deploy journey, kustomize + kubernetes-validate, the injected
//! pods and their network paths, Dapr CRD schemas, every Dapr file loaded by the real daprd,
//! the Bicep templates. Naming checks runs only those (and the package's tests), no lints.
//!
//! Tools are pinned (pins.rs) and cached under ~/.cache/dapr-pair: the first run installs
//! azure-cli (~730 MB, a few minutes) and builds kustomize and actionlint; later runs reuse
//! them.

mod checks;
mod command;
mod go;
mod lints;
mod pins;
mod system;
mod venv;

use std::path::PathBuf;

use anyhow::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Only these checks (default: all, and the lints first).
    #[arg(value_parser = checks::NAMES)]
    checks: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let repo = launcher::paths::repo_root();
    let cache = cache_dir()?;
    system::install_missing()?;

    let validate_tools = cache.join("validate-tools");
    venv::ensure(&validate_tools, pins::VALIDATE_TOOLS)?;
    let azure_cli = cache.join(format!("azure-cli-{}", pins::AZURE_CLI_VERSION));
    venv::ensure(
        &azure_cli,
        &[&format!("azure-cli=={}", pins::AZURE_CLI_VERSION)],
    )?;
    let tools = validate_tools.join("bin");
    let kustomize = go::installed(&pins::KUSTOMIZE, &cache, repo)?;
    let actionlint = go::installed(&pins::ACTIONLINT, &cache, repo)?;

    if args.checks.is_empty() {
        lints::lint_all(repo, &tools, &actionlint)?;
    }

    let dapr_bin_dir = launcher::paths::bin_dir();
    let dapr_crds = go::dapr_crds(repo)?;
    let python = tools.join("python");
    let description = checks::description(repo)?;
    checks::test_package(repo, &python, &description)?;
    checks::run_checks(
        repo,
        &python,
        &checks::Tools {
            az: azure_cli.join("bin/az"),
            kustomize,
            kubernetes_validate: tools.join("kubernetes-validate"),
            daprd: dapr_bin_dir.join("daprd"),
            dapr_crds,
        },
        &description,
        &args.checks,
    )
}

/// `${XDG_CACHE_HOME:-$HOME/.cache}/dapr-pair`.
fn cache_dir() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".cache"),
    };
    Ok(base.join("dapr-pair"))
}
