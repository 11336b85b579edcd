"""`python -m validate_deploy [az|aks|crds|daprd|bicep ...]` (default: all), from xtask/ with
the tools' paths in the environment: what `cargo xtask validate-deploy` runs after the lints."""

from __future__ import annotations

import sys

from .aks import check_aks, render_aks
from .aks_nginx import check_front_door_nginx
from .az import check_az
from .bicep import check_bicep
from .crds import check_crds
from .daprd import check_daprd
from .loopback import LoopbackServer
from .report import failures
from .shipped import shipped_dapr_resources

CHECKS = ("az", "aks", "crds", "daprd", "bicep")


def main(argv: list[str]) -> int:
    checks = argv or list(CHECKS)
    unknown = [check for check in checks if check not in CHECKS]
    if unknown:
        print(f"validate-deploy: no check {', '.join(unknown)} (the checks: {', '.join(CHECKS)})",
              file=sys.stderr)
        return 2
    # The shipped Dapr resources (crds, daprd) have placeholders pointing at the loopback
    # OpenID provider, so it runs while they are read and checked.
    loopback = LoopbackServer() if "crds" in checks or "daprd" in checks else None
    try:
        shipped = shipped_dapr_resources(loopback.base + "/stand-in-issuer") if loopback else []
        if "aks" in checks:
            check_aks(render_aks())
        if "crds" in checks:
            check_crds(shipped)
        if "daprd" in checks:
            check_daprd(shipped, loopback)
            check_front_door_nginx(loopback)
    finally:
        if loopback:
            loopback.stop()
    if "bicep" in checks:
        check_bicep()
    if "az" in checks:
        check_az()
    if failures:
        print(f"validate-deploy: {len(failures)} failure(s)")
        return 1
    print("validate-deploy: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
