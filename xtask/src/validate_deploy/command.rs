//! Running the tools: a failing one stops the validation, as `set -e` did in the shell.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// Runs the command to its end; an error names it if it cannot start or fails.
pub fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {}", describe(command)))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(command));
    }
    Ok(())
}

/// The command with its standard output sent to ours for errors: installers' chatter stays
/// off the report, which is standard output.
pub fn to_stderr(command: &mut Command) -> &mut Command {
    command.stdout(Stdio::from(std::io::stderr()))
}

/// What the command is, for messages: its program and arguments.
pub fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `[ -x PATH ]` for a file: it exists and someone may execute it.
pub fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}
