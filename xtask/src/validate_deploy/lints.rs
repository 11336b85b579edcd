//! The lints of a full run: every shell script (shellcheck), the Dockerfile (hadolint) and the
//! GitHub workflows (actionlint).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use super::command::run;

/// shellcheck, hadolint and actionlint, from the repository's root; `tools` is the folder with
/// shellcheck and hadolint.
pub fn lint_all(repo: &Path, tools: &Path, actionlint: &Path) -> anyhow::Result<()> {
    shellcheck(repo, tools)?;
    println!("hadolint: Dockerfile");
    run(Command::new(tools.join("hadolint"))
        .arg("Dockerfile")
        .current_dir(repo))?;
    // The workflows' syntax, expressions and action inputs; their `run:` scripts are checked
    // with the shellcheck it finds on PATH.
    println!("actionlint: .github/workflows");
    run(Command::new(actionlint)
        .arg("-no-color")
        .env("PATH", path_with(tools)?)
        .current_dir(repo))
}

fn shellcheck(repo: &Path, tools: &Path) -> anyhow::Result<()> {
    let scripts = shell_scripts(repo)?;
    let names: Vec<_> = scripts.iter().map(|s| s.to_string_lossy()).collect();
    println!("shellcheck: {}", names.join(" "));
    run(Command::new(tools.join("shellcheck"))
        .args(["--external-sources", "--source-path=SCRIPTDIR"])
        .args(&scripts)
        .current_dir(repo))
}

/// Every shell script git knows (tracked, or untracked and not ignored), relative to the
/// root: by its `.sh` name or its sh/bash shebang.
fn shell_scripts(repo: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let output = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(repo)
        .output()
        .context("running git ls-files")?;
    if !output.status.success() {
        bail!(
            "git ls-files failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output
        .stdout
        .split(|&byte| byte == 0)
        .filter(|name| !name.is_empty())
        .map(|name| PathBuf::from(OsStr::from_bytes(name)))
        .filter(|name| {
            let path = repo.join(name);
            path.is_file()
                && (name.as_os_str().as_bytes().ends_with(b".sh") || has_shell_shebang(&path))
        })
        .collect())
}

/// The file's first line is a shell's shebang.
fn has_shell_shebang(path: &Path) -> bool {
    first_line(path).is_some_and(|line| is_shell_shebang(&line))
}

/// The first line, line end included; a file without line ends is not read to its end (a
/// shebang is short).
fn first_line(path: &Path) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    BufReader::new(File::open(path).ok()?.take(64 * 1024))
        .read_until(b'\n', &mut line)
        .ok()?;
    Some(line)
}

/// `#!...` naming `sh` or `bash` as a word, as `grep -E '^#!.*\b(ba)?sh\b'` finds it.
fn is_shell_shebang(line: &[u8]) -> bool {
    String::from_utf8_lossy(line)
        .strip_prefix("#!")
        .is_some_and(|rest| {
            rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|word| word == "sh" || word == "bash")
        })
}

/// PATH with `dir` first.
fn path_with(dir: &Path) -> anyhow::Result<std::ffi::OsString> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&path)))
        .context("a tools folder that cannot be on PATH")
}

#[cfg(test)]
mod tests {
    use super::is_shell_shebang;

    #[test]
    fn sh_and_bash_shebangs_are_shell_scripts() {
        assert!(is_shell_shebang(b"#!/usr/bin/env bash\n"));
        assert!(is_shell_shebang(b"#!/bin/sh -eu\n"));
        assert!(is_shell_shebang(b"#!/bin/bash"));
    }

    #[test]
    fn other_interpreters_and_lines_are_not() {
        assert!(!is_shell_shebang(b"#!/usr/bin/env zsh\n"));
        assert!(!is_shell_shebang(b"#!/usr/bin/env python3\n"));
        assert!(!is_shell_shebang(b"#!/usr/bin/env bashful\n"));
        assert!(!is_shell_shebang(b"# bash\n"));
        assert!(!is_shell_shebang(b""));
    }
}
