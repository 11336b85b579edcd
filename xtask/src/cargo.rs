//! Building the project's binaries from a task, with the cargo that runs this xtask.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

/// The build profiles a task may ask for.
#[derive(Clone, Copy)]
pub enum Profile {
    Dev,
    Release,
}

/// `cargo build --locked --bins` of these packages; the folder their binaries land in.
pub fn build_bins(profile: Profile, packages: &[&str]) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["build", "--locked", "--quiet", "--bins"]);
    if let Profile::Release = profile {
        command.arg("--release");
    }
    for package in packages {
        command.args(["--package", package]);
    }
    let status = command.status().context("running cargo build")?;
    if !status.success() {
        bail!("cargo build of {} failed ({status})", packages.join(", "));
    }
    Ok(target_dir()?.join(match profile {
        Profile::Dev => "debug",
        Profile::Release => "release",
    }))
}

/// The target folder: this program runs from `TARGET/debug/xtask`.
pub fn target_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("the path of this program")?;
    exe.ancestors()
        .nth(2)
        .map(PathBuf::from)
        .context("xtask does not run from a cargo target folder")
}
