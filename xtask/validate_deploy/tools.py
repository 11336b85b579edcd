"""The repository and the pinned tools, whose paths `cargo xtask validate-deploy` passes in the
environment."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
AZ = os.environ["AZ"]
KUSTOMIZE = os.environ["KUSTOMIZE"]
KUBERNETES_VALIDATE = os.environ["KUBERNETES_VALIDATE"]
DAPRD = os.environ["DAPRD"]
DAPR_CRDS = Path(os.environ["DAPR_CRDS"])
