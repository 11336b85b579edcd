"""The Azure sign-in of the Dapr components for Azure (deploy/aca, deploy/aks, components/azure): Dapr 1.16
puts a SPIFFE assertion first in its default credential chain, and on Container Apps that
step can hang until the component's init timeout (microsoft/azure-container-apps #1676). A
component that signs in with Entra ID (no key) must therefore name its auth methods
(`azureAuthMethods` or one of its aliases), each one Dapr knows, and keep a generous
`initTimeout` (at least 30 s). The alias names and the known methods are read from the
components-contrib source of the pinned Dapr (common/authentication/azure), not listed here."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from .report import fail
from .tools import DAPR_CRDS, REPO

KEYS = ("masterKey", "accountKey", "azureClientSecret", "azureCertificate", "azureCertificateFile")


def components_contrib() -> Path | None:
    """components-contrib's module folder, at the version the pinned Dapr's go.mod requires."""
    dapr = DAPR_CRDS.parents[2]  # .../github.com/dapr/dapr@vX/charts/dapr/crds
    version = re.search(r"github\.com/dapr/components-contrib (v\S+)", (dapr / "go.mod").read_text())
    if not version:
        fail(f"{dapr}/go.mod names no components-contrib")
        return None
    folder = dapr.parent / f"components-contrib@{version.group(1)}"
    if not folder.is_dir():
        run = subprocess.run(["go", "mod", "download", "-json", f"github.com/dapr/components-contrib@{version.group(1)}"],
                             capture_output=True, text=True)
        if run.returncode != 0:
            fail(f"cannot fetch components-contrib {version.group(1)}: {run.stderr.strip()[-300:]}")
            return None
        folder = Path(json.loads(run.stdout)["Dir"])
    return folder


def dapr_auth_methods(folder: Path) -> tuple[list[str], list[str]]:
    """(metadata names of the auth-methods setting, the methods Dapr accepts)."""
    source = folder / "common/authentication/azure"
    keys = re.search(r'"AzureAuthMethods":\s*\{([^}]*)\}', (source / "metadata-properties.go").read_text())
    methods = re.search(r"func getAzureAuthMethods\(\) \[\]string \{\s*return \[\]string\{([^}]*)\}",
                        (source / "auth.go").read_text())
    return (re.findall(r'"([^"]+)"', keys.group(1)) if keys else [],
            re.findall(r'"([^"]+)"', methods.group(1)) if methods else [])


def seconds(duration: str) -> float:
    total = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(duration)):
        total += float(amount) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def azure_components() -> list[tuple[Path, str, str | None, dict[str, str]]]:
    """(file, type, initTimeout, metadata) of the Azure components in deploy/aca, deploy/aks
    and components/azure, in either schema (Dapr's, Container Apps')."""
    found = []
    folders = [*(REPO / "deploy/aca").glob("*.y*ml"), *(REPO / "deploy/aks").rglob("*.y*ml"),
               *(REPO / "components/azure").rglob("*.y*ml")]
    for path in sorted(folders):
        for document in yaml.safe_load_all(path.read_text()):
            if not isinstance(document, dict):
                continue
            spec = document.get("spec", document)
            kind = spec.get("type") or spec.get("componentType")
            if not str(kind).split(".")[1:2] == ["azure"]:
                continue
            metadata = {str(item.get("name")): str(item.get("value", item.get("secretRef", item.get("secretKeyRef", ""))))
                        for item in spec.get("metadata") or []}
            found.append((path, kind, spec.get("initTimeout"), metadata))
    return found


def check_azure_auth() -> None:
    folder = components_contrib()
    if folder is None:
        return
    names, methods = dapr_auth_methods(folder)
    if not names or not methods:
        fail(f"{folder.name}: no AzureAuthMethods setting found in common/authentication/azure")
        return
    print(f"azure auth: Entra ID components name their auth methods ({names[0]}: {', '.join(methods)} in "
          f"{folder.name}) and wait at least 30 s")
    for path, kind, init_timeout, metadata in azure_components():
        where = f"{path.relative_to(REPO)} ({kind})"
        if any(key in metadata for key in KEYS):
            print(f"  ok   {where}: signs in with a key")
            continue
        chosen = next((metadata[name] for name in names if name in metadata), None)
        if chosen is None:
            fail(f"{where}: signs in with Entra ID but names no {names[0]}: Dapr 1.16 tries SPIFFE first and "
                 "can hang there on Container Apps (microsoft/azure-container-apps #1676)")
        else:
            unknown = [m for m in chosen.lower().replace(" ", "").split(",") if m not in methods or m == "none"]
            if unknown:
                fail(f"{where}: {names[0]} {chosen!r}: Dapr knows no {', '.join(unknown)}")
        if seconds(init_timeout or "5s") < 30:
            fail(f"{where}: initTimeout {init_timeout or '5s (the default)'} is short for an Entra sign-in "
                 "and the container read at start; use 30s or more")
        elif chosen:
            print(f"  ok   {where}: {names[0]} {chosen}, initTimeout {init_timeout}")
