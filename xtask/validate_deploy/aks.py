"""aks: the kustomization renders (deploy/aks/render.sh), the base and each overlay under
deploy/aks/overlays, and passes `kubernetes-validate --strict`; Dapr's own kinds are unknown to
it and are checked by crds instead, Gateway API's against its CRDs here. Then, on each
rendering, what the cluster would do with it (aks_network.py): the pods as Dapr's injector
makes them, who reaches whom through the NetworkPolicies, the front door's routes, the
sidecars' API allowlists, the resiliency budget, and the real daprd taking a large header."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile

import yaml

from . import aks_go
from .aks_network import check_aks_network
from .placeholders import PLACEHOLDERS
from .report import fail
from .shipped import DAPR_KINDS
from .tools import KUBERNETES_VALIDATE, KUSTOMIZE, REPO

OVERLAYS = REPO / "deploy/aks/overlays"
# Kinds kubernetes-validate has no schema for, checked elsewhere: Dapr's (crds) and Gateway
# API's (aks_network, against the pinned release's CRDs).
FOREIGN_GROUPS = r"dapr\.io/v1alpha1|gateway\.networking\.k8s\.io/v1(?:beta1)?"


def render_aks(overlay: str | None = None) -> list[dict]:
    run = subprocess.run(["bash", str(REPO / "deploy/aks/render.sh"), *([overlay] if overlay else [])],
                         capture_output=True, text=True, env={**os.environ, **PLACEHOLDERS,
                                                              "KUSTOMIZE": f"{KUSTOMIZE} build"})
    if run.returncode != 0:
        fail(f"deploy/aks/render.sh {overlay or ''} failed: {run.stderr.strip()}")
        return []
    return [doc for doc in yaml.safe_load_all(run.stdout) if doc]


def renderings(base: list[dict] | None = None) -> list[tuple[str, list[dict]]]:
    """The base's rendering (given, or rendered now) and each overlay's, with their labels."""
    found = [("base", render_aks() if base is None else base)]
    for overlay in sorted(OVERLAYS.glob("*/kustomization.yaml")):
        found.append((f"overlays/{overlay.parent.name}", render_aks(str(overlay.parent))))
    return found


def validate_kubernetes(label: str, documents: list[dict]) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as rendered:
        yaml.safe_dump_all(documents, rendered)
    run = subprocess.run([KUBERNETES_VALIDATE, "--strict", rendered.name],
                         capture_output=True, text=True)
    os.unlink(rendered.name)
    passed = 0
    for line in (run.stdout + run.stderr).splitlines():
        if line.startswith("INFO") and " passed " in line:
            passed += 1
        elif re.match(rf"WARN .*Couldn't find schema for kind (\w+) with api version (?:{FOREIGN_GROUPS})", line):
            continue
        elif line.strip():
            fail(f"kubernetes-validate ({label}): {line}")
    kubernetes_kinds = [d for d in documents if d["kind"] not in DAPR_KINDS
                        and not d["apiVersion"].startswith("gateway.networking.k8s.io/")]
    if passed != len(kubernetes_kinds):
        fail(f"kubernetes-validate ({label}) passed {passed} of {len(kubernetes_kinds)} Kubernetes resources")
    else:
        print(f"  ok   {label}: {passed} Kubernetes resources "
              f"({', '.join(sorted({d['kind'] for d in kubernetes_kinds}))})")


def check_aks(documents: list[dict]) -> None:
    print("aks: kustomize build + kubernetes-validate --strict, then Dapr's injector, NetworkPolicies "
          "(cyclonus), the front door and the sidecars' settings on each rendering")
    rendered_all = renderings(documents)
    try:
        binary = aks_go.aks_check()
        gateway_crds = aks_go.gateway_api_crds()
    except (aks_go.GoError, subprocess.CalledProcessError) as error:
        fail(f"aks: {error}")
        binary = None
    for label, rendered in rendered_all:
        if not rendered:
            continue
        validate_kubernetes(label, rendered)
        if binary is not None:
            try:
                check_aks_network(label, rendered, binary, gateway_crds)
            except aks_go.GoError as error:
                fail(f"aks {label}: {error}")
