"""aks: the kustomization renders (deploy/aks/render.sh) and passes `kubernetes-validate
--strict`; Dapr's own kinds are unknown to it and are checked by crds instead."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile

import yaml

from .placeholders import PLACEHOLDERS
from .report import fail
from .shipped import DAPR_KINDS
from .tools import KUBERNETES_VALIDATE, KUSTOMIZE, REPO


def render_aks() -> list[dict]:
    run = subprocess.run(["bash", str(REPO / "deploy/aks/render.sh")], capture_output=True,
                         text=True, env={**os.environ, **PLACEHOLDERS,
                                         "KUSTOMIZE": f"{KUSTOMIZE} build"})
    if run.returncode != 0:
        fail(f"deploy/aks/render.sh failed: {run.stderr.strip()}")
        return []
    return [doc for doc in yaml.safe_load_all(run.stdout) if doc]


def check_aks(documents: list[dict]) -> None:
    print("aks: kustomize build + kubernetes-validate --strict")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as rendered:
        yaml.safe_dump_all(documents, rendered)
    run = subprocess.run([KUBERNETES_VALIDATE, "--strict", rendered.name],
                         capture_output=True, text=True)
    os.unlink(rendered.name)
    passed = 0
    for line in (run.stdout + run.stderr).splitlines():
        if line.startswith("INFO") and " passed " in line:
            passed += 1
        elif re.match(r"WARN .*Couldn't find schema for kind (\w+) with api version dapr\.io/v1alpha1", line):
            continue
        elif line.strip():
            fail(f"kubernetes-validate: {line}")
    kubernetes_kinds = [d for d in documents if d["kind"] not in DAPR_KINDS]
    if passed != len(kubernetes_kinds):
        fail(f"kubernetes-validate passed {passed} of {len(kubernetes_kinds)} Kubernetes resources")
    else:
        print(f"  ok   {passed} Kubernetes resources ({', '.join(sorted({d['kind'] for d in kubernetes_kinds}))})")
