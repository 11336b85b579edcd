"""Rollouts that drop nothing (docs/rollouts.md): the judging shared by the aks check (on the pods
as Dapr's injector makes them, aks_network.py) and the Container Apps checks (bicep.py on the
templates, journey.py on what deploy.sh leaves in the stand-in's world).

On SIGTERM the app answers its readiness path with 503 at once but keeps serving for
SHUTDOWN_DELAY (while the platform stops sending it traffic), then stops accepting and drains
within SHUTDOWN_TIMEOUT. Its daprd must outlive it: `--dapr-block-shutdown-duration` keeps all
of daprd's servers up until that time has passed or Dapr's app health check finds the app
unhealthy (dapr 1.16.5 pkg/runtime/runtime.go, Run), and only then does daprd's graceful
shutdown (`--dapr-graceful-shutdown-seconds`) start. The health check must ask the app's
liveness path, which it keeps answering while it drains: daprd refuses every call to an app it
thinks unhealthy (pkg/channel/http/http_channel.go, InvokeMethod: ErrAppUnhealthy). All of it
inside the pod's terminationGracePeriodSeconds, which counts from the start of any preStop."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .description import probes, setting_default

# daprd's own --dapr-graceful-shutdown-seconds when none is given (pkg/runtime/config.go).
DAPRD_DEFAULT_GRACEFUL = 5
# What daprd needs after its graceful shutdown to close its components and flush telemetry,
# and what the app needs after its drain to exit.
MARGIN = 5
# Kubernetes' terminationGracePeriodSeconds when a pod sets none; Container Apps' the same
# (Microsoft.App Template.terminationGracePeriodSeconds: "Defaults to 30 seconds").
DEFAULT_GRACE = 30
# The one rendering that ships one replica of an app on purpose: the OAuth2 middleware keeps
# its sessions in one daprd's memory (docs/aks.md, "Rollouts": a rollout there signs people
# out and may drop requests).
ONE_REPLICA_EXCEPTIONS = {("overlays/oauth2-middleware", "frontend"):
                          "sessions in one daprd's memory (docs/aks.md, Rollouts)"}


def app_seconds(text: str) -> float:
    """A duration as service-kit's parse_duration reads it (humantime, or bare seconds); the
    units the deploy files use: ms, s (or none), m, h."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)?", text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration service-kit reads (10s, 500ms)")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value / 1000 if unit == "ms" else value * {"s": 1, "m": 60, "h": 3600}[unit]


def go_seconds(text: str) -> float:
    """A duration as Go's time.ParseDuration reads it (daprd's --dapr-block-shutdown-duration)."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", text)
    if text in ("0",):
        return 0.0
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a Go duration")
    return sum(float(n) * units[u] for n, u in parts)


@dataclass
class Shutdown:
    """What decides one replica's stop: the app's settings, its daprd's flags, the pod's."""
    delay: float | None            # SHUTDOWN_DELAY (None: neither set nor a setting of the app)
    drain: float                   # SHUTDOWN_TIMEOUT
    grace: float                   # terminationGracePeriodSeconds
    liveness: str | None           # the app container's liveness probe path
    readiness: str | None          # the app container's readiness probe path
    block: float | None = None     # --dapr-block-shutdown-duration (None: not given)
    health_check: bool = False     # --enable-app-health-check
    health_path: str | None = None
    probe_interval: float = 5      # --app-health-probe-interval, seconds
    threshold: int = 3             # --app-health-threshold
    graceful: float = DAPRD_DEFAULT_GRACEFUL
    app_prestop: float = 0         # preStop sleep of the app container
    daprd_prestop: float = 0
    sidecar_settable: bool = True  # False on Container Apps: its daprd's flags are not ours


def shutdown_problems(s: Shutdown) -> list[str]:
    """Why a replica stopped this way drops requests (empty: it does not)."""
    problems = []
    live_path, ready_path = probes()
    if s.delay is None or s.delay <= 0:
        problems.append(f"SHUTDOWN_DELAY is {'not set' if s.delay is None else f'{s.delay:g} s'}: the app stops "
                        "accepting at SIGTERM, while the endpoint, the front door and the callers' sidecars still "
                        "send to it for a moment: those requests are refused")
    delay = s.delay or 0
    app_done = s.app_prestop + delay + s.drain
    if s.readiness != ready_path:
        problems.append(f"the readiness probe asks {s.readiness or 'nothing'}, not the app's readiness path {ready_path} "
                        "(503 from SIGTERM on)")
    if s.liveness != live_path:
        problems.append(f"the liveness probe asks {s.liveness or 'nothing'}, not the app's liveness path {live_path}")
    for who, prestop in (("the app's", s.app_prestop), ("daprd's", s.daprd_prestop)):
        if prestop and prestop >= s.grace:
            problems.append(f"{who} preStop takes {prestop:g} s, not less than terminationGracePeriodSeconds "
                            f"{s.grace:g}: the container is killed before it even gets SIGTERM")
    if s.grace < app_done + MARGIN:
        problems.append(f"terminationGracePeriodSeconds {s.grace:g} < the app's preStop {s.app_prestop:g} s + "
                        f"SHUTDOWN_DELAY {delay:g} s + SHUTDOWN_TIMEOUT {s.drain:g} s + {MARGIN} s: the app is "
                        "killed while it drains")
    if not s.sidecar_settable:
        if s.health_check and s.health_path == ready_path:
            problems.append(f"Dapr's app health check asks the readiness path {s.health_path}, 503 from SIGTERM on: "
                            "the sidecar refuses every call to the draining app at once (ErrAppUnhealthy)")
        return problems
    if s.block is None:
        problems.append(f"daprd gets no --dapr-block-shutdown-duration (dapr.io/block-shutdown-duration): it shuts "
                        f"down at SIGTERM while its app still serves (SHUTDOWN_DELAY) and drains: "
                        "the app's calls through it and the calls other sidecars route to it are refused")
    if not s.health_check:
        problems.append("daprd's app health check is off (dapr.io/enable-app-health-check): daprd cannot tell when "
                        "its app is done, so a block-shutdown always lasts its whole duration, even after the app "
                        "exited")
    elif s.health_path == ready_path:
        problems.append(f"daprd's app health check asks {s.health_path}, the app's readiness path, 503 from SIGTERM "
                        "on: daprd refuses every call to the draining app at once (ErrAppUnhealthy, "
                        "pkg/channel/http/http_channel.go) and stops blocking its shutdown after "
                        f"{s.probe_interval * s.threshold:g} s")
    elif s.health_path != live_path:
        problems.append(f"daprd's app health check asks {s.health_path}, not the app's liveness path {live_path}")
    detect = s.probe_interval * s.threshold if s.health_check else 0
    if s.block is not None and s.daprd_prestop + s.block < app_done + detect:
        problems.append(f"daprd blocks its shutdown {s.block:g} s (after a preStop of {s.daprd_prestop:g} s), less "
                        f"than the app's preStop {s.app_prestop:g} s + SHUTDOWN_DELAY {delay:g} s + SHUTDOWN_TIMEOUT "
                        f"{s.drain:g} s + the health check's {s.probe_interval:g} s x {s.threshold}: daprd shuts down "
                        "while its app still works")
    daprd_done = s.daprd_prestop + (s.block or 0) + s.graceful
    if s.grace < daprd_done + MARGIN:
        problems.append(f"terminationGracePeriodSeconds {s.grace:g} < daprd's preStop {s.daprd_prestop:g} s + block "
                        f"{s.block or 0:g} s + graceful shutdown {s.graceful:g} s + {MARGIN} s: daprd is killed "
                        "in the middle of its shutdown")
    return problems


def budget_summary(s: Shutdown) -> str:
    delay = s.delay or 0
    text = (f"SHUTDOWN_DELAY {delay:g} s + SHUTDOWN_TIMEOUT {s.drain:g} s"
            + (f" after a preStop of {s.app_prestop:g} s" if s.app_prestop else ""))
    if s.sidecar_settable:
        text += (f"; daprd blocks {s.block:g} s (health check {s.health_path} every {s.probe_interval:g} s x "
                 f"{s.threshold}) then {s.graceful:g} s graceful")
    elif s.health_check:
        text += f"; Dapr's app health check on {s.health_path} (the sidecar's shutdown is the platform's)"
    return text + f"; grace {s.grace:g} s"


# --- replicas and the rolling update -----------------------------------------------------------

def scaled(value, replicas: int, round_up: bool) -> int:
    """An IntOrString of a rolling update or a PodDisruptionBudget, for that many replicas (the
    Deployment controller rounds maxSurge up and maxUnavailable down)."""
    if isinstance(value, str) and value.endswith("%"):
        exact = replicas * int(value[:-1]) / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def rolling_problems(deployment: dict) -> list[str]:
    """A rollout starts a successor before it stops a pod, whatever the replica count."""
    strategy = deployment["spec"].get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return [f"strategy {strategy['type']}: every pod is stopped before the new ones start"]
    rolling = strategy.get("rollingUpdate") or {}
    unavailable, surge = rolling.get("maxUnavailable", "25%"), rolling.get("maxSurge", "25%")
    problems = []
    if unavailable not in (0, "0%"):
        problems.append(f"rolling update maxUnavailable {unavailable}"
                        + (" (Kubernetes' default)" if "maxUnavailable" not in rolling else "")
                        + ": a rollout may stop an old pod before its successor is ready"
                        + (f" (from {math.ceil(100 / int(unavailable[:-1]))} replicas on)"
                           if isinstance(unavailable, str) and unavailable.endswith("%") and unavailable != "0%" else "")
                        + ", and one replica fewer serves meanwhile")
    if scaled(surge, max(deployment["spec"].get("replicas", 1), 1), True) < 1:
        problems.append(f"rolling update maxSurge {surge}: with maxUnavailable 0 no successor can start")
    return problems


def disruption_problems(deployment: dict, budgets: list[dict]) -> list[str]:
    """A PodDisruptionBudget that selects the pods lets a drain evict one at a time, never all."""
    labels = deployment["spec"]["template"]["metadata"].get("labels", {})
    replicas = deployment["spec"].get("replicas", 1)
    mine = [b for b in budgets if selects(b["spec"].get("selector") or {}, labels)]
    if not mine:
        return ["no PodDisruptionBudget selects its pods: a node drain or cluster upgrade may evict every "
                "replica at once"]
    problems = []
    for budget in mine:
        spec, name = budget["spec"], budget["metadata"]["name"]
        if "minAvailable" in spec:
            keep = scaled(spec["minAvailable"], replicas, True)
        else:
            keep = replicas - scaled(spec.get("maxUnavailable", 1), replicas, True)
        if replicas > 1 and keep < 1:
            problems.append(f"PodDisruptionBudget {name} lets a drain evict all {replicas} replicas at once")
        if keep >= replicas:
            problems.append(f"PodDisruptionBudget {name} allows no eviction with {replicas} replica(s): node drains "
                            "and cluster upgrades hang on it")
    return problems


def selects(selector: dict, labels: dict) -> bool:
    if selector.get("matchExpressions"):
        return False  # none shipped; not evaluated here
    wanted = selector.get("matchLabels") or {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def spread_problems(deployment: dict) -> list[str]:
    spec = deployment["spec"]["template"]["spec"]
    labels = deployment["spec"]["template"]["metadata"].get("labels", {})
    if any(c.get("topologyKey") == "kubernetes.io/hostname" and selects(c.get("labelSelector") or {}, labels)
           for c in spec.get("topologySpreadConstraints") or []):
        return []
    return ["no topologySpreadConstraints over kubernetes.io/hostname that selects its pods: the scheduler may put "
            "both replicas on one node, and that node's drain or loss takes them together"]


def replica_problems(label: str, name: str, replicas: int) -> tuple[list[str], str | None]:
    """(problems, the exception that allows one replica)."""
    if replicas >= 2:
        return [], None
    exception = ONE_REPLICA_EXCEPTIONS.get((label, name))
    if exception and replicas == 1:
        return [], exception
    return [f"{replicas} replica(s): a rollout or a node drain stops the only one, and its requests fail"], None


# --- Container Apps ------------------------------------------------------------------------------

def aca_problems(min_replicas, probes: list[dict], env: dict[str, str | None], grace, dapr: dict | None) -> \
        tuple[list[str], Shutdown]:
    """A container app as the platform would run it (its template's scale, probes, grace period
    and the app's env; the Dapr block's appHealth). Its sidecar is Container Apps': no
    block-shutdown or graceful-shutdown setting exists for it, so only the app's side is judged."""
    problems = []
    if not isinstance(min_replicas, int) or min_replicas < 2:
        problems.append(f"minReplicas {min_replicas}: a new revision or the platform's maintenance (which does not "
                        "roll, microsoft/azure-container-apps #1436) stops the only replica, and its requests fail")
    path = lambda kind: next((((p.get("httpGet") or {}).get("path")) for p in probes  # noqa: E731
                             if str(p.get("type", "")).lower() == kind), None)
    delay, drain = env.get("SHUTDOWN_DELAY") or setting_default("SHUTDOWN_DELAY"), \
        env.get("SHUTDOWN_TIMEOUT") or setting_default("SHUTDOWN_TIMEOUT") or "10s"
    health = (dapr or {}).get("appHealth") or {}
    shutdown = Shutdown(delay=app_seconds(delay) if delay else None, drain=app_seconds(drain),
                        grace=DEFAULT_GRACE if grace is None else int(grace),
                        liveness=path("liveness"), readiness=path("readiness"),
                        health_check=health.get("enabled") is True, health_path=health.get("path"),
                        sidecar_settable=False)
    return problems + shutdown_problems(shutdown), shutdown
