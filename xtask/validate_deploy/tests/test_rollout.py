"""The shutdown budget and the rollout settings as the aks, bicep and journey checks judge them
(rollout.py): each rule on its own, on a replica that passes and one changed in one place."""

from __future__ import annotations

import dataclasses
import os

for _name in ("AZ", "KUSTOMIZE", "KUBERNETES_VALIDATE", "DAPRD", "DAPR_CRDS"):
    os.environ.setdefault(_name, "unused-here")  # tools.py reads them at import

import pytest  # noqa: E402

from validate_deploy import description, rollout  # noqa: E402
from validate_deploy.rollout import Shutdown, shutdown_problems  # noqa: E402

# The AKS base's values: 5 s delay, 10 s drain, daprd blocks 20 s (health check /healthz every
# 1 s, 3 failures), then 10 s graceful, grace 40 s.
GOOD = Shutdown(delay=5, drain=10, grace=40, liveness="/healthz", readiness="/readyz", block=20,
                health_check=True, health_path="/healthz", probe_interval=1, threshold=3, graceful=10)


def changed(**fields) -> list[str]:
    return shutdown_problems(dataclasses.replace(GOOD, **fields))


def test_the_base_budget_passes():
    assert shutdown_problems(GOOD) == []


def test_the_app_paths_come_from_the_apps_description():
    assert description.probes() == ("/healthz", "/readyz")


@pytest.mark.parametrize("delay", [None, 0])
def test_no_shutdown_delay_refuses_the_requests_still_routed(delay):
    assert any("SHUTDOWN_DELAY is" in p for p in changed(delay=delay))


def test_a_sidecar_that_does_not_block_its_shutdown():
    assert any("no --dapr-block-shutdown-duration" in p for p in changed(block=None))


def test_a_block_shorter_than_the_app_delay_drain_and_detection():
    # 5 + 10 + 1 x 3 = 18 s.
    assert changed(block=18) == []
    assert any("daprd shuts down while its app still works" in p for p in changed(block=17))
    # A preStop on the app shifts its SIGTERM: the block must cover it too.
    assert any("still works" in p for p in changed(app_prestop=5, grace=60))


def test_the_health_check_on_the_readiness_path_refuses_the_draining_app():
    problems = changed(health_path="/readyz")
    assert any("readiness path" in p and "ErrAppUnhealthy" in p for p in problems)


def test_the_health_check_off_or_elsewhere():
    assert any("health check is off" in p for p in changed(health_check=False))
    assert any("not the app's liveness path" in p for p in changed(health_path="/other"))


def test_a_grace_period_that_kills_daprd_or_the_app():
    # daprd: 20 + 10 + 5 = 35 s.
    assert changed(grace=35) == []
    assert any("daprd is killed" in p for p in changed(grace=34))
    # Without a sidecar to judge (Container Apps): the app's 5 + 10 + 5 = 20 s.
    aca = dataclasses.replace(GOOD, block=None, health_check=False, sidecar_settable=False)
    assert shutdown_problems(dataclasses.replace(aca, grace=20)) == []
    assert any("app is killed" in p for p in shutdown_problems(dataclasses.replace(aca, grace=19)))


def test_a_prestop_as_long_as_the_grace_period():
    assert any("before it even gets SIGTERM" in p for p in changed(app_prestop=40))


def test_probes_on_the_wrong_paths():
    assert any("readiness probe asks /healthz" in p for p in changed(readiness="/healthz"))
    assert any("liveness probe asks nothing" in p for p in changed(liveness=None))


def test_durations():
    assert rollout.go_seconds("20s") == 20
    assert rollout.go_seconds("1m30s") == 90
    assert rollout.go_seconds("1500ms") == 1.5
    with pytest.raises(ValueError):
        rollout.go_seconds("20")
    assert rollout.app_seconds("5s") == 5 and rollout.app_seconds("500ms") == 0.5 and rollout.app_seconds("7") == 7


def deployment(replicas=2, strategy=None, spread=True):
    labels = {"app": "backend"}
    spec = {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                           "whenUnsatisfiable": "ScheduleAnyway",
                                           "labelSelector": {"matchLabels": labels}}]} if spread else {}
    return {"metadata": {"name": "backend"},
            "spec": {"replicas": replicas, **({"strategy": strategy} if strategy is not None else {}),
                     "template": {"metadata": {"labels": labels}, "spec": spec}}}


ROLLING = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}


def test_the_rolling_update():
    assert rollout.rolling_problems(deployment(strategy=ROLLING)) == []
    # Kubernetes' default (25%/25%) happens to keep 2 replicas, not 4: asked for explicitly.
    assert any("Kubernetes' default" in p for p in rollout.rolling_problems(deployment()))
    assert any("Recreate" in p for p in rollout.rolling_problems(deployment(strategy={"type": "Recreate"})))
    no_surge = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}
    assert any("no successor" in p for p in rollout.rolling_problems(deployment(strategy=no_surge)))


def budget(**spec):
    return {"metadata": {"name": "pdb"}, "spec": {"selector": {"matchLabels": {"app": "backend"}}, **spec}}


def test_disruption_budgets():
    assert rollout.disruption_problems(deployment(), [budget(maxUnavailable=1)]) == []
    assert rollout.disruption_problems(deployment(), [budget(minAvailable=1)]) == []
    assert any("no PodDisruptionBudget" in p for p in rollout.disruption_problems(deployment(), []))
    assert any("allows no eviction" in p for p in rollout.disruption_problems(deployment(), [budget(minAvailable=2)]))
    assert any("all 2 replicas" in p for p in rollout.disruption_problems(deployment(), [budget(maxUnavailable="100%")]))
    # One replica: maxUnavailable 1 lets a drain through; minAvailable 1 would hang it.
    assert rollout.disruption_problems(deployment(replicas=1), [budget(maxUnavailable=1)]) == []
    assert rollout.disruption_problems(deployment(replicas=1), [budget(minAvailable=1)]) != []


def test_spread_and_replicas():
    assert rollout.spread_problems(deployment()) == []
    assert rollout.spread_problems(deployment(spread=False)) != []
    assert rollout.replica_problems("base", "backend", 2) == ([], None)
    assert rollout.replica_problems("base", "frontend", 1)[0] != []
    problems, exception = rollout.replica_problems("overlays/oauth2-middleware", "frontend", 1)
    assert problems == [] and "one daprd's memory" in exception
    assert rollout.replica_problems("overlays/oauth2-middleware", "backend", 1)[0] != []
