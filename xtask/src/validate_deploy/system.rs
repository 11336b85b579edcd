//! What comes from the system: Python with venv (the tools are installed into virtual
//! environments), openssl (signs the test tokens), git (lists the scripts). Debian packages
//! them apart; the missing ones are installed with apt-get.

use std::process::{Command, Stdio};

use anyhow::Context;

use super::command::{is_executable, run, to_stderr};

/// apt-get installs of what is missing, and nothing when all is there.
pub fn install_missing() -> anyhow::Result<()> {
    let missing = missing_packages();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "validate-deploy: installing {} with apt-get",
        missing.join(" ")
    );
    run(apt_get().args(["update", "-qq"]))?;
    run(to_stderr(
        apt_get().args(["install", "-y", "-qq"]).args(&missing),
    ))
    .context("installing with apt-get")
}

/// `apt-get`, through sudo unless this runs as root.
fn apt_get() -> Command {
    if nix::unistd::geteuid().is_root() {
        Command::new("apt-get")
    } else {
        let mut command = Command::new("sudo");
        command.arg("apt-get");
        command
    }
}

fn missing_packages() -> Vec<&'static str> {
    let mut missing = Vec::new();
    if !python_has_venv() {
        missing.push("python3-venv");
    }
    if !on_path("openssl") {
        missing.push("openssl");
    }
    if !on_path("git") {
        missing.push("git");
    }
    missing
}

/// `python3 -c 'import ensurepip, venv'` works (no python3 at all counts as no).
fn python_has_venv() -> bool {
    Command::new("python3")
        .args(["-c", "import ensurepip, venv"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// `command -v NAME`: an executable file of that name in a PATH folder.
fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| is_executable(&dir.join(name))))
}
