//! A Python virtual environment per pinned set, reused while the pins do not change: its
//! `.installed` file holds the pin list it was made with.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::Context;

use super::command::{run, to_stderr};

/// The venv at `dir` with exactly these pins, made again (from nothing) if it was made with
/// others or not finished.
pub fn ensure(dir: &Path, pins: &[&str]) -> anyhow::Result<()> {
    let wanted = pins.join(" ");
    let marker = dir.join(".installed");
    if installed_pins(&marker).as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    eprintln!(
        "validate-deploy: installing {wanted} into {} (first time only)",
        dir.display()
    );
    remove(dir)?;
    run(Command::new("python3").arg("-m").arg("venv").arg(dir))?;
    run(to_stderr(
        Command::new(dir.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(pins),
    ))?;
    fs::write(&marker, format!("{wanted}\n"))
        .with_context(|| format!("writing {}", marker.display()))
}

/// The pin list of the marker file, without its line end (as `$(cat FILE)` read it).
fn installed_pins(marker: &Path) -> Option<String> {
    let text = fs::read_to_string(marker).ok()?;
    Some(text.trim_end_matches('\n').to_owned())
}

/// `rm -rf PATH`.
fn remove(path: &Path) -> anyhow::Result<()> {
    let removed = match path.symlink_metadata() {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Ok(metadata) if metadata.is_dir() => fs::remove_dir_all(path),
        _ => fs::remove_file(path),
    };
    removed.with_context(|| format!("removing {}", path.display()))
}
