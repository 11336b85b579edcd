"""The Go side of the aks check: xtask/aks-check (Dapr's own sidecar injector, cyclonus's
NetworkPolicy matcher, the Gateway API CRDs' schemas and CEL rules), built once per version of
its source into the cache, and the pinned Gateway API release's CRDs from the Go module proxy."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

from .tools import REPO

SOURCE = REPO / "xtask/aks-check"
# The Gateway API release whose CRDs the front door is checked against (its module carries
# them under config/crd). The checksum database is not reachable from every machine: like
# Dapr's module (dapr.version), its hash is pinned here and checked instead.
GATEWAY_API_MODULE = "sigs.k8s.io/gateway-api"
GATEWAY_API_VERSION = "v1.6.3"
GATEWAY_API_SUM = "h1:lKpJa5bGlraC/QeACvCpsHLdmO6y0iKfzVl6gzaFEYc="


class GoError(Exception):
    pass


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dapr-pair"


def dapr_pin() -> tuple[str, str]:
    text = (REPO / "dapr.version").read_text()
    value = lambda name: re.findall(rf"^{name}=\"?([^\"\n]+)\"?$", text, re.M)[-1]
    return value("DAPR_VERSION"), value("DAPR_MODULE_SUM")


def source_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in SOURCE.iterdir() if p.suffix == ".go" or p.name in ("go.mod", "go.sum")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def go_environment(nosumdb: str) -> dict[str, str]:
    """As scripts/install-dapr.sh builds Dapr: the Go release Dapr's go.mod names (the checker's
    go.mod names the same, checked below), modules resolved from go.mod/go.sum."""
    release = re.search(r"^go (\S+)$", (SOURCE / "go.mod").read_text(), re.M).group(1)
    return {**os.environ, "GOTOOLCHAIN": f"go{release}", "GONOSUMDB": nosumdb, "GOFLAGS": "-mod=mod",
            "CGO_ENABLED": "0"}


def check_pins() -> None:
    """The checker is built against the Dapr that dapr.version pins: its go.mod requires that
    version and its go.sum holds the pinned module hash."""
    version, module_sum = dapr_pin()
    go_mod = (SOURCE / "go.mod").read_text()
    if not re.search(rf"^\s*github\.com/dapr/dapr v{re.escape(version)}$", go_mod, re.M):
        raise GoError(f"xtask/aks-check/go.mod does not require github.com/dapr/dapr v{version} (dapr.version)")
    if f"github.com/dapr/dapr v{version} {module_sum}" not in (SOURCE / "go.sum").read_text():
        raise GoError(f"xtask/aks-check/go.sum does not hold github.com/dapr/dapr v{version} {module_sum}")


def aks_check() -> Path:
    """The checker's binary, `CACHE/aks-check-HASH/aks-check`, built first if it is not there
    (the first build compiles Dapr's injector and Kubernetes' API types: a few minutes on two
    cores; later runs reuse it until xtask/aks-check changes)."""
    check_pins()
    folder = cache_dir() / f"aks-check-{source_hash()}"
    binary = folder / "aks-check"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    print(f"  (building xtask/aks-check into {folder}, first time only)", flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    env = go_environment("github.com/dapr/dapr")
    run = subprocess.run(["go", "build", "-trimpath", "-o", str(binary.with_suffix(".tmp")), "."],
                         cwd=SOURCE, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise GoError(f"go build in xtask/aks-check failed:\n{run.stderr.strip()}")
    check_same_versions_as_dapr(env)
    binary.with_suffix(".tmp").rename(binary)
    return binary


def check_same_versions_as_dapr(env: dict[str, str]) -> None:
    """Every module the checker is built from that Dapr's go.mod names is at Dapr's version, and
    the checker's Go release is Dapr's: the injector runs as Dapr built it."""
    modules = subprocess.run(["go", "list", "-deps", "-f", "{{with .Module}}{{.Path}} {{.Version}}{{end}}", "."],
                             cwd=SOURCE, env=env, capture_output=True, text=True, check=True).stdout.split("\n")
    download = json.loads(subprocess.run(["go", "mod", "download", "-json", "github.com/dapr/dapr"],
                                         cwd=SOURCE, env=env, capture_output=True, text=True, check=True).stdout)
    dapr_mod = Path(download["GoMod"]).read_text()
    pinned = dict(re.findall(r"^\s+(\S+) (v\S+)(?: // indirect)?$", dapr_mod, re.M))
    differ = [f"{path} {version} (Dapr: {pinned[path]})" for path, version in
              (line.split() for line in modules if len(line.split()) == 2) if path in pinned and pinned[path] != version]
    if differ:
        raise GoError("xtask/aks-check builds with other versions than Dapr's go.mod: " + ", ".join(sorted(set(differ))))
    dapr_go = re.search(r"^go (\S+)$", dapr_mod, re.M).group(1)
    if env["GOTOOLCHAIN"] != f"go{dapr_go}":
        raise GoError(f"xtask/aks-check/go.mod names {env['GOTOOLCHAIN']}, Dapr's go.mod go{dapr_go}")


def dapr_module() -> Path:
    """The pinned Dapr module's source: in the module cache (the checker's build fetched it),
    else downloaded, its hash checked against dapr.version."""
    version, module_sum = dapr_pin()
    return download("github.com/dapr/dapr", f"v{version}", module_sum)


def download(module: str, version: str, module_sum: str) -> Path:
    """`go mod download -json MODULE@VERSION` outside any module, the checksum database skipped
    for it and its hash compared with the pin instead: the module's folder."""
    with tempfile.TemporaryDirectory() as outside_any_module:
        run = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"],
                             cwd=outside_any_module, capture_output=True, text=True,
                             env={**os.environ, "GONOSUMDB": module, "GOFLAGS": "-mod=mod"})
    result = json.loads(run.stdout or "{}")
    if run.returncode != 0:
        raise GoError(f"go mod download {module}@{version}: {result.get('Error', run.stderr)}")
    if result.get("Sum") != module_sum:
        raise GoError(f"{module}@{version} has hash {result.get('Sum')!r}, expected {module_sum!r}")
    return Path(result["Dir"])


def gateway_api_crds() -> Path:
    """The standard channel's CRDs of the pinned Gateway API release."""
    return download(GATEWAY_API_MODULE, GATEWAY_API_VERSION, GATEWAY_API_SUM) / "config/crd/standard"


def run_json(binary: Path, *args: str):
    run = subprocess.run([str(binary), *args], capture_output=True, text=True)
    if run.returncode != 0:
        raise GoError(f"aks-check {' '.join(args)}: {run.stderr.strip()}")
    return json.loads(run.stdout)
