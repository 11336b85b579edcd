//! The load generator: `oha`, pinned, built once into a cache folder with cargo (with its
//! default features: oha 1.16 does not build without TLS, though the pair is plain HTTP on
//! loopback).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

const OHA_VERSION: &str = "1.16.0";

/// The pinned oha, installed first if it is not there yet.
pub fn installed() -> anyhow::Result<PathBuf> {
    let cache = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".cache"),
    };
    let root = cache.join(format!("dapr-pair/oha-{OHA_VERSION}"));
    let oha = root.join("bin/oha");
    if oha.is_file() {
        return Ok(oha);
    }
    eprintln!(
        "bench: building oha {OHA_VERSION} into {} (once) ...",
        root.display()
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "install",
            "--locked",
            "--quiet",
            "oha",
            "--version",
            OHA_VERSION,
            "--root",
        ])
        .arg(&root)
        .status()
        .context("running cargo install oha")?;
    if !status.success() {
        bail!("cargo install oha {OHA_VERSION} failed ({status})");
    }
    Ok(oha)
}
