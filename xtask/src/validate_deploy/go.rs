//! Go modules: kustomize and actionlint, built once into the cache, and Dapr's CRDs from the
//! module cache. The checksum database is not reachable from every machine, so it is skipped
//! for the one module (GONOSUMDB) and its hash is checked against the pin instead (its
//! dependencies are checked against its own go.sum as usual).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use super::command::{describe, is_executable, run, to_stderr};

/// A pinned Go tool: its module, the module's hash, and the package of the command.
pub struct GoTool {
    pub name: &'static str,
    pub module: &'static str,
    pub version: &'static str,
    pub sum: &'static str,
    pub package: &'static str,
}

/// The tool's binary, `CACHE/NAME-VERSION/NAME`, built first if it is not there.
pub fn installed(tool: &GoTool, cache: &Path, repo: &Path) -> anyhow::Result<PathBuf> {
    let dir = cache.join(format!("{}-{}", tool.name, tool.version));
    let bin = dir.join(tool.name);
    if is_executable(&bin) {
        return Ok(bin);
    }
    eprintln!(
        "validate-deploy: building {} {} (first time only)",
        tool.name, tool.version
    );
    let got = module_sum(tool.module, tool.version, repo)?;
    if got != tool.sum {
        bail!(
            "{}@{} has hash '{got}', expected '{}'",
            tool.module,
            tool.version,
            tool.sum
        );
    }
    run(to_stderr(
        Command::new("go")
            .arg("install")
            .arg(format!("{}@{}", tool.package, tool.version))
            .env("GONOSUMDB", tool.module)
            .env("GOBIN", &dir)
            .current_dir(repo),
    ))?;
    Ok(bin)
}

/// Dapr's CRDs (the schemas Kubernetes checks Dapr resources against), in its module of the
/// version dapr.version pins: already in the module cache if install-dapr.sh built daprd,
/// else downloaded and its hash checked like install-dapr.sh does.
pub fn dapr_crds(repo: &Path) -> anyhow::Result<PathBuf> {
    let pin = DaprPin::read(&repo.join("dapr.version"))?;
    let crds = module_cache()?
        .join(format!("github.com/dapr/dapr@v{}", pin.version))
        .join("charts/dapr/crds");
    if !crds.is_dir() {
        let sum = module_sum("github.com/dapr/dapr", &format!("v{}", pin.version), repo)?;
        if sum != pin.module_sum {
            bail!(
                "github.com/dapr/dapr hash '{sum}' is not '{}'",
                pin.module_sum
            );
        }
    }
    Ok(crds)
}

/// `go mod download -json MODULE@VERSION`, the checksum database skipped for that module: the
/// module's hash (`Sum`) as downloaded.
fn module_sum(module: &str, version: &str, repo: &Path) -> anyhow::Result<String> {
    let mut command = Command::new("go");
    command
        .args(["mod", "download", "-json"])
        .arg(format!("{module}@{version}"))
        .env("GONOSUMDB", module)
        .env("GOFLAGS", "-mod=mod")
        .current_dir(repo)
        .stderr(Stdio::inherit());
    let output = command
        .output()
        .with_context(|| format!("running {}", describe(&command)))?;
    let download: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    if !output.status.success() {
        bail!(
            "{} failed ({}): {}",
            describe(&command),
            output.status,
            download["Error"].as_str().unwrap_or("no error given")
        );
    }
    Ok(download["Sum"].as_str().unwrap_or_default().to_owned())
}

/// `go env GOMODCACHE`.
fn module_cache() -> anyhow::Result<PathBuf> {
    let output = Command::new("go")
        .args(["env", "GOMODCACHE"])
        .stderr(Stdio::inherit())
        .output()
        .context("running go env GOMODCACHE")?;
    if !output.status.success() {
        bail!("go env GOMODCACHE failed ({})", output.status);
    }
    Ok(PathBuf::from(
        String::from_utf8(output.stdout)
            .context("GOMODCACHE is not UTF-8")?
            .trim(),
    ))
}

/// The Dapr version and module hash of dapr.version (shell assignments, comments between).
struct DaprPin {
    version: String,
    module_sum: String,
}

impl DaprPin {
    fn read(path: &Path) -> anyhow::Result<Self> {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let value = |name: &str| {
            text.lines()
                .filter_map(|line| line.trim().strip_prefix(name)?.strip_prefix('='))
                .next_back()
                .map(|value| value.trim().trim_matches('"').to_owned())
                .with_context(|| format!("{} sets no {name}", path.display()))
        };
        Ok(Self {
            version: value("DAPR_VERSION")?,
            module_sum: value("DAPR_MODULE_SUM")?,
        })
    }
}
