"""aks, on each rendering (the base and each overlay): the pods as Dapr's own injector makes them
(xtask/aks-check inject: Dapr 1.16.5's pkg/injector/patcher), their ports, tokens, read buffer
and shutdown; who reaches whom on which port, the rendered NetworkPolicies evaluated on those
pods by cyclonus's matcher (xtask/aks-check reach); the front door (Gateway API resources
defaulted and validated like the API server does against the pinned release's CRDs, schema and
CEL rules: xtask/aks-check crds) routing exactly the frontend's own paths to its sidecar's HTTP
port, or with AUTH_MODE=session the browsers' paths to the app's port; the sidecars' API allowlists; the resiliency policy's budget; and the real daprd, started
with the flags the injector gives the frontend's sidecar, taking a 16 KiB Authorization header
and answering a call in flight when it is told to stop."""

from __future__ import annotations

import http.client
import http.server
import json
import re
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import yaml

from . import aks_go
from .aks_frontdoor import (API_CLIENT_HEADERS, API_PATH, API_ROUTE, APP, BASIC_TO_BACKEND, REFUSED, SIDECAR,
                            expected_routes, front_door, front_door_configuration, nginx_passes, refused_routes)
from .description import DescriptionError, dapr_apis, setting_default
from .loopback import free_port, stop_process
from .placeholders import PLACEHOLDERS
from .report import fail
from .session_login import required_settings
from .rollout import (Shutdown, app_seconds, budget_summary, disruption_problems, go_seconds,
                      replica_problems, rolling_problems, shutdown_problems, spread_problems)
from .tools import DAPRD, REPO

# The front door's pods, per rendering: a Gateway's proxies carry the label Gateway API
# implementations put on what they deploy for it (in the Gateway's namespace); ingress-nginx's
# controller pods are the Helm chart's (overlays/ingress-nginx/controller-values.yaml).
NGINX_CONTROLLER = {"namespace": "ingress-nginx",
                    "podLabels": {"app.kubernetes.io/name": "ingress-nginx",
                                  "app.kubernetes.io/component": "controller"}}
# Azure Monitor's managed Prometheus agent, which scrapes the metrics: its ReplicaSet's pods
# and its DaemonSet's.
SCRAPERS = {"scraper (ama-metrics)": {"namespace": "kube-system", "podLabels": {"rsName": "ama-metrics"}},
            "scraper (ama-metrics-node)": {"namespace": "kube-system", "podLabels": {"dsName": "ama-metrics-node"}}}
# The app's own drain on SIGTERM: service-kit's SHUTDOWN_TIMEOUT, 10 s by default (as the apps
# describe it; assumed where that has no default).
ASSUMED_DRAIN_SECONDS = 10
# Kubernetes' terminationGracePeriodSeconds when a pod sets none.
DEFAULT_GRACE = 30
LARGE_HEADER = 16 * 1024


def check_aks_network(label: str, documents: list[dict], binary: Path, gateway_crds: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="validate-aks-") as work:
        rendered = Path(work) / "rendered.yaml"
        rendered.write_text(yaml.safe_dump_all(documents))
        injected = aks_go.run_json(binary, "inject", str(rendered))
        pods = {item["deployment"]: item["pod"] for item in injected}
        if set(pods) != {"frontend", "backend"}:
            fail(f"aks {label}: the injector made pods for {sorted(pods)}, expected frontend and backend")
            return
        check_pods(label, documents, pods)
        check_rollout(label, documents)
        check_reachability(label, documents, pods, binary, Path(work))
        check_front_door(label, documents, pods, binary, gateway_crds, rendered)
        check_api_allowlists(label, documents)
        check_session_store(label, documents, pods)
        check_resiliency(label, documents, pods)
        if label == "base":
            check_real_daprd(pods["frontend"])
            check_real_daprd_stop(pods["backend"])


# --- the injected pods ---------------------------------------------------------------------

def containers(pod: dict) -> tuple[dict, dict]:
    """The pod's app container (named as its Deployment) and daprd."""
    daprd = next(c for c in pod["spec"]["containers"] if c["name"] == "daprd")
    name = pod["metadata"]["name"].rsplit("-", 1)[0]
    app = next(c for c in pod["spec"]["containers"] if c["name"] == name)
    return app, daprd


def front_door_container(pod: dict) -> dict | None:
    """The frontend pod's own front door (nginx in front of its sidecar), if it has one."""
    return next((c for c in pod["spec"]["containers"] if port(c, SIDECAR) is not None), None)


def flag(container: dict, name: str) -> str | None:
    args = container.get("args", [])
    return args[args.index(name) + 1] if name in args else None


def port(container: dict, name: str) -> int | None:
    return next((p["containerPort"] for p in container.get("ports", []) if p.get("name") == name), None)


def env_secret(container: dict, name: str) -> tuple[str, str] | None:
    for item in container.get("env", []):
        if item["name"] == name:
            ref = (item.get("valueFrom") or {}).get("secretKeyRef")
            return (ref["name"], ref["key"]) if ref else ("(a literal value)", "")
    return None


def env_value(container: dict, name: str) -> str | None:
    return next((e.get("value") for e in container.get("env", []) if e["name"] == name), None)


def sidecar_timeout_seconds(app: dict) -> float:
    """The app's SIDECAR_TIMEOUT (a duration), or its old name SIDECAR_TIMEOUT_MS (milliseconds),
    else its default as the apps describe it."""
    old = env_value(app, "SIDECAR_TIMEOUT_MS")
    if old:
        return int(old) / 1000
    return seconds(env_value(app, "SIDECAR_TIMEOUT") or setting_default("SIDECAR_TIMEOUT") or "10s")


def auth_mode(app: dict) -> str:
    """The frontend's AUTH_MODE: its env, else its default as the frontend describes it."""
    return (env_value(app, "AUTH_MODE") or setting_default("AUTH_MODE") or "jwt").lower()


def seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", text.strip())
    if not match:
        raise ValueError(text)
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value


def quantity(text: str) -> int:
    units = {"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "k": 1000, "M": 1000 ** 2}
    match = re.fullmatch(r"(\d+)(Ki|Mi|k|M)?", text)
    return int(match.group(1)) * units[match.group(2) or ""]


def check_pods(label: str, documents: list[dict], pods: dict[str, dict]) -> None:
    problems = []
    for name, pod in pods.items():
        app, daprd = containers(pod)
        annotations = pod["metadata"].get("annotations", {})
        for wanted in ("dapr-http", "dapr-grpc", "dapr-internal", "dapr-metrics"):
            if port(daprd, wanted) is None:
                problems.append(f"{name}: the injected daprd has no port {wanted}")
        if flag(daprd, "--app-port") != str(port(app, "http")):
            problems.append(f"{name}: daprd calls the app on {flag(daprd, '--app-port')}, the app listens on {port(app, 'http')}")
        # Tokens: what daprd is given and what the app is given come from the same secret.
        for annotation, variable, who in (("dapr.io/app-token-secret", "APP_API_TOKEN", "daprd sends the app"),
                                          ("dapr.io/api-token-secret", "DAPR_API_TOKEN", "the app sends daprd")):
            secret = annotations.get(annotation)
            on_daprd, on_app = env_secret(daprd, variable), env_secret(app, variable)
            if secret is None:
                if annotation == "dapr.io/app-token-secret":
                    problems.append(f"{name}: no {annotation}: anything that reaches the app's port is believed")
                else:
                    problems.append(f"{name}: no {annotation}: its sidecar's APIs ask no token (gRPC: none at all)")
                continue
            if on_daprd != (secret, "token") or on_app != (secret, "token"):
                problems.append(f"{name}: the token {who} ({variable}) is {on_daprd} on daprd and {on_app} on "
                                f"the app, expected secret {secret} key token on both")
            door = front_door_container(pod)
            if variable == "DAPR_API_TOKEN" and door is not None and env_secret(door, variable) != (secret, "token"):
                problems.append(f"{name}: its front door sends daprd {env_secret(door, variable)} as {variable}, "
                                f"expected secret {secret} key token")
        # The app token is what keeps a request that did not come through the sidecar out: of
        # every route, or with AUTH_MODE=session of /call (the front door reaches the frontend
        # app's port for the browsers, whom the session guards); never switched off here.
        if (env_value(app, "REQUIRE_APP_API_TOKEN") or "true").lower() == "false":
            problems.append(f"{name}: REQUIRE_APP_API_TOKEN=false: a request to the app's port that did not come "
                            "through the sidecar is believed (its bearer check skipped)")
        listen = flag(daprd, "--dapr-listen-addresses")
        if listen not in ("[::1],127.0.0.1", "127.0.0.1"):
            problems.append(f"{name}: its sidecar's APIs listen on {listen}, expected loopback only")
        # Shutdown: daprd keeps serving in-flight requests at least as long as the app drains
        # and as long as the app waits for one call; the pod's grace period covers both.
        graceful = int(flag(daprd, "--dapr-graceful-shutdown-seconds") or -1)
        graceful_s = graceful if graceful > 0 else 5  # daprd's own default (pkg/runtime/config.go)
        drain_default = setting_default("SHUTDOWN_TIMEOUT")
        drain = env_value(app, "SHUTDOWN_TIMEOUT") or drain_default
        drain_s = seconds(drain) if drain else ASSUMED_DRAIN_SECONDS
        call_s = sidecar_timeout_seconds(app)
        grace = pod["spec"].get("terminationGracePeriodSeconds", DEFAULT_GRACE)
        if graceful_s < max(drain_s, call_s):
            problems.append(f"{name}: daprd's graceful shutdown is {graceful_s:g} s (--dapr-graceful-shutdown-seconds "
                            f"{graceful}), shorter than the app's drain ({drain_s:g} s) or its sidecar timeout "
                            f"({call_s:g} s): the app's last calls meet a closed sidecar")
        # The stop as a whole, on the injected daprd's own flags (rollout.py).
        shutdown = injected_shutdown(pod, app, daprd, drain_s, graceful_s)
        stop_problems = shutdown_problems(shutdown) + prestop_problems(app)
        problems += [f"{name}: {problem}" for problem in stop_problems]
        if not stop_problems:
            print(f"  ok   aks {label}: injected {name}: stop without a dropped request: {budget_summary(shutdown)}")
        if not problems:
            ports = ", ".join(f"{p['name']} {p['containerPort']}" for p in daprd["ports"])
            tokens = "/".join(k for k in ("app", "api") if f"dapr.io/{k}-token-secret" in annotations)
            if name == "frontend" and auth_mode(app) == "session":
                tokens += " (AUTH_MODE=session: the app wants it on /call, the browsers' paths need a session)"
            print(f"  ok   aks {label}: injected {name}: daprd ports {ports}; tokens {tokens} wired from "
                  f"the same secrets on both containers; listen {listen}; read buffer "
                  f"{flag(daprd, '--read-buffer-size') or '4Ki (default)'}; graceful shutdown {graceful_s:g} s >= "
                  f"drain {drain_s:g} s{'' if drain else ' (assumed)'} and call timeout {call_s:g} s; grace {grace} s")
    frontend_daprd = containers(pods["frontend"])[1]
    buffer = flag(frontend_daprd, "--read-buffer-size")
    if buffer is None or quantity(buffer) < LARGE_HEADER:
        problems.append(f"frontend: daprd reads {buffer or '4Ki (the default)'} of request headers: a "
                        f"{LARGE_HEADER // 1024} KiB Authorization header (Entra ID token with groups) is refused")
    for problem in problems:
        fail(f"aks {label}: {problem}")


def probe_path(container: dict, probe: str) -> str | None:
    return ((container.get(probe) or {}).get("httpGet") or {}).get("path")


def prestop_seconds(container: dict) -> float:
    """A preStop's length: `sleep` (no binary needed); an `exec` or `httpGet` one counts 0 here
    (prestop_problems judges it)."""
    return float((((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds", 0))


def prestop_problems(app: dict) -> list[str]:
    """An exec preStop needs its command in the image; the image's last stage is FROM scratch."""
    exec_ = (((app.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}).get("command")
    stages = re.findall(r"^FROM\s+(\S+)", (REPO / "Dockerfile").read_text(), re.M | re.I)
    if exec_ and stages and stages[-1] == "scratch":
        return [f"the app's preStop runs {exec_[0]!r}, but the image is FROM scratch (Dockerfile): the hook fails "
                "and kubelet goes on to SIGTERM at once (lifecycle.preStop.sleep needs no binary)"]
    return []


def injected_shutdown(pod: dict, app: dict, daprd: dict, drain_s: float, graceful_s: float) -> Shutdown:
    """The replica's stop as the pod really runs it: the app's SHUTDOWN_DELAY (env, else
    service-kit's default), the injected daprd's block-shutdown and app health check flags."""
    delay = env_value(app, "SHUTDOWN_DELAY") or setting_default("SHUTDOWN_DELAY")
    block = flag(daprd, "--dapr-block-shutdown-duration")
    return Shutdown(
        delay=app_seconds(delay) if delay else None, drain=drain_s,
        grace=pod["spec"].get("terminationGracePeriodSeconds", DEFAULT_GRACE),
        liveness=probe_path(app, "livenessProbe"), readiness=probe_path(app, "readinessProbe"),
        block=go_seconds(block) if block else None,
        health_check="--enable-app-health-check" in daprd.get("args", []),
        health_path=flag(daprd, "--app-health-check-path"),
        probe_interval=float(flag(daprd, "--app-health-probe-interval") or 5),
        threshold=int(flag(daprd, "--app-health-threshold") or 3),
        graceful=graceful_s, app_prestop=prestop_seconds(app), daprd_prestop=prestop_seconds(daprd))


def check_rollout(label: str, documents: list[dict]) -> None:
    """Each Deployment rolls one successor in before it stops a pod, keeps two replicas (but the
    one documented exception), has a PodDisruptionBudget and spreads over nodes."""
    budgets = [d for d in documents if d.get("kind") == "PodDisruptionBudget"]
    for deployment in (d for d in documents if d.get("kind") == "Deployment"):
        name = deployment["metadata"]["name"]
        replicas = deployment["spec"].get("replicas", 1)
        few, exception = replica_problems(label, name, replicas)
        problems = few + rolling_problems(deployment) + disruption_problems(deployment, budgets) + \
            spread_problems(deployment)
        for problem in problems:
            fail(f"aks {label}: Deployment {name}: {problem}")
        if not problems:
            rolling = deployment["spec"]["strategy"]["rollingUpdate"]
            print(f"  ok   aks {label}: Deployment {name}: {replicas} replica(s)"
                  + (f" (the documented exception: {exception})" if exception else "")
                  + f", rolling maxUnavailable {rolling['maxUnavailable']} maxSurge {rolling['maxSurge']}, "
                  "a PodDisruptionBudget, spread over kubernetes.io/hostname")


# --- who reaches whom ----------------------------------------------------------------------

def front_door_pods(documents: list[dict]) -> tuple[list[dict], list[dict]]:
    """The front door's pods, and pods that look like one but are not (another Gateway's
    proxies, the other front door's controller)."""
    gateways = [d for d in documents if d.get("kind") == "Gateway"]
    if gateways:
        doors = [{"namespace": g["metadata"]["namespace"],
                  "podLabels": {"gateway.networking.k8s.io/gateway-name": g["metadata"]["name"]}} for g in gateways]
        return doors, [NGINX_CONTROLLER, {"namespace": gateways[0]["metadata"]["namespace"],
                                          "podLabels": {"gateway.networking.k8s.io/gateway-name": "another"}}]
    if any(d.get("kind") == "Ingress" for d in documents):
        return [NGINX_CONTROLLER], [{"namespace": "ingress-nginx", "podLabels": {"app": "default-backend"}}]
    return [], []


def check_reachability(label: str, documents: list[dict], pods: dict[str, dict], binary: Path, work: Path) -> None:
    namespace = pods["frontend"]["metadata"]["namespace"]
    doors, lookalikes = front_door_pods(documents)
    if not doors:
        fail(f"aks {label}: no front door (Gateway or Ingress) rendered")
    as_peer = lambda pod: {"namespace": pod["metadata"]["namespace"], "podLabels": pod["metadata"]["labels"]}
    sources = {f"front door {i}" if len(doors) > 1 else "front door": d for i, d in enumerate(doors)}
    sources |= {"frontend pod": as_peer(pods["frontend"]), "backend pod": as_peer(pods["backend"]),
                **SCRAPERS,
                "other pod, kube-system": {"namespace": "kube-system", "podLabels": {"k8s-app": "kube-dns"}},
                f"other pod, {namespace}": {"namespace": namespace, "podLabels": {"app": "debug"}},
                "pod of another namespace": {"namespace": "default", "podLabels": {"app": "frontend"}},
                "outside the cluster": {"ip": "203.0.113.10"}}
    sources |= {f"look-alike {i}": peer for i, peer in enumerate(lookalikes)}
    # Every port of each pod: the containers' declared ones, and daprd's health port.
    targets = []
    for name, pod in pods.items():
        daprd = containers(pod)[1]
        for container in pod["spec"]["containers"]:
            for p in container.get("ports", []):
                targets.append((name, container["name"], p["containerPort"], p.get("name", "")))
        targets.append((name, "daprd", int(flag(daprd, "--dapr-public-port") or 3501), ""))
    allowed = set()
    fe_app = containers(pods["frontend"])[0]
    be_daprd = containers(pods["backend"])[1]
    # Browsers reach the frontend app's own port only where the app signs them in itself
    # (AUTH_MODE=session); otherwise every way in is the pod's front door to its sidecar.
    fe_door = front_door_container(pods["frontend"]) or {}
    front_door_ports = [port(fe_door, SIDECAR)] + ([port(fe_app, APP)] if auth_mode(fe_app) == "session" else [])
    for door in sources:
        if door.startswith("front door"):
            allowed |= {(door, "frontend", number) for number in front_door_ports}
    allowed.add(("frontend pod", "backend", port(be_daprd, "dapr-internal")))
    for name, pod in pods.items():
        app, daprd = containers(pod)
        for scraper in SCRAPERS:
            allowed |= {(scraper, name, port(app, "metrics")), (scraper, name, port(daprd, "dapr-metrics"))}
    connections = []
    for source, peer in sources.items():
        for pod_name, container, number, port_name in targets:
            dest = {"namespace": pods[pod_name]["metadata"]["namespace"], "podLabels": pods[pod_name]["metadata"]["labels"]}
            connections.append({"name": f"{source} -> {pod_name} {container}:{number}", "source": peer,
                                "destination": dest, "port": number, "portName": port_name})
    policies = [d for d in documents if d.get("kind") == "NetworkPolicy"]
    (work / "traffic.json").write_text(json.dumps({"policies": policies, "connections": connections}))
    verdicts = {v["name"]: v for v in aks_go.run_json(binary, "reach", str(work / "traffic.json"))}
    columns = [(p, c, n) for p, c, n, _ in targets]
    width = max(map(len, sources))
    print(f"  aks {label}: who reaches whom (cyclonus on the rendered NetworkPolicies; Y allowed, - denied, "
          "! not as expected)")
    print(" " * (width + 4) + " ".join(f"{p[:2]}:{n}".rjust(8) for p, _, n in columns))
    wrong = []
    for source in sources:
        cells = []
        for pod_name, container, number in columns:
            verdict = verdicts[f"{source} -> {pod_name} {container}:{number}"]
            expected = (source, pod_name, number) in allowed
            cells.append(("Y" if verdict["allowed"] else "-") + ("" if verdict["allowed"] == expected else "!"))
            if verdict["allowed"] != expected:
                wrong.append(f"{source} -> {pod_name} {container}:{number} is "
                             f"{'allowed' if verdict['allowed'] else 'denied'}, expected "
                             f"{'allowed' if expected else 'denied'} (admitted by {verdict['allowedBy'] or 'nothing'})")
        print(f"    {source.ljust(width)} " + " ".join(c.rjust(8) for c in cells))
    for problem in wrong:
        fail(f"aks {label}: {problem}")
    if not wrong:
        print(f"  ok   aks {label}: only the front door reaches the frontend (ports "
              f"{', '.join(map(str, front_door_ports))}: the pod's nginx to its sidecar"
              f"{', the app' if len(front_door_ports) > 1 else ''}), only the frontend its backend's internal gRPC "
              "port, only the scraper the metrics")


# --- the front door ------------------------------------------------------------------------

def check_front_door(label: str, documents: list[dict], pods: dict[str, dict], binary: Path,
                     gateway_crds: Path, rendered: Path) -> None:
    problems = []
    gateway_kinds = [d for d in documents if d.get("apiVersion", "").startswith("gateway.networking.k8s.io/")]
    if label == "base" and not any(d["kind"] == "HTTPRoute" for d in gateway_kinds):
        problems.append("no Gateway API HTTPRoute: the front door is not Gateway API (ingress-nginx is retired)")
    if gateway_kinds:
        checked = aks_go.run_json(binary, "crds", str(gateway_crds), str(rendered))
        unchecked = {(d["kind"], d["metadata"]["name"]) for d in gateway_kinds} - {(c["kind"], c["name"]) for c in checked}
        problems += [f"{kind} {name}: no CRD for it in Gateway API {aks_go.GATEWAY_API_VERSION}" for kind, name in unchecked]
        for item in checked:
            problems += [f"{item['kind']} {item['name']} ({item['crd']}): {error}" for error in item["errors"]]
        if not any(item["errors"] for item in checked):
            names = ", ".join(f"{c['kind']} {c['name']}" for c in checked)
            print(f"  ok   aks {label}: {names} valid against "
                  f"Gateway API {aks_go.GATEWAY_API_VERSION}'s CRDs ({sum(c['rules'] for c in checked)} CEL rules held)")
    kind, route = front_door(documents)
    if route is not None:
        host = PLACEHOLDERS["HOST"]
        services = {d["metadata"]["name"]: d for d in documents if d.get("kind") == "Service"}
        app = containers(pods["frontend"])[0]
        mode = auth_mode(app)
        expected, refused = expected_routes(mode), refused_routes(mode)
        door = front_door_container(pods["frontend"]) or {}
        ports = {name: port(app if name == APP else door, name) for name in {p for *_, p in expected if p}}
        locations = front_door_configuration(documents)
        for method, path, wanted, port_name in expected:
            got = route(host, method, path, API_CLIENT_HEADERS if (method, path) == API_ROUTE else None)
            if wanted.startswith("redirect:"):
                if got.redirect != wanted.removeprefix("redirect:"):
                    problems.append(f"{kind}: {method} {path} -> {got.describe()}, expected a redirect to "
                                    f"{wanted.removeprefix('redirect:')}")
                continue
            what = "the frontend app" if port_name == APP else "the frontend's sidecar"
            if got.path != wanted or got.backend is None:
                problems.append(f"{kind}: {method} {path} -> {got.describe()}, expected {what} to see {wanted}")
                continue
            service = services.get(got.backend[0])
            target = resolve_target(service, got.backend[1], pods["frontend"]) if service else None
            if service is None:
                problems.append(f"{kind}: {method} {path} goes to {got.backend[0]}:{got.backend[1]}, a Service "
                                "the rendering does not hold (so its ports cannot be checked)")
            elif target != ports[port_name]:
                problems.append(f"{kind}: {method} {path} goes to {got.backend[0]}:{got.backend[1]}, which reaches "
                                f"the frontend pod's port {target}, not {what}'s ({port_name} {ports[port_name]}) "
                                f"as AUTH_MODE={mode} needs")
            elif port_name == SIDECAR and nginx_passes(locations, method, wanted, API_CLIENT_HEADERS
                                                       if (method, path) == API_ROUTE else None) != wanted:
                problems.append(f"{kind}: {method} {path} reaches the pod's front door as {wanted}, which its "
                                "nginx configuration (ConfigMap front-door) does not pass to the sidecar as it is")
            else:
                problems += slow_body_problems(kind, method, path, got, port_name, app)
                if port_name == SIDECAR:
                    problems += front_door_body_problems(f"{kind}: {method} {path}", documents, app)
        for method, path in refused:
            got = route(host, method, path)
            if got.backend is not None:
                problems.append(f"{kind}: {method} {path} reaches {got.describe()}: not one of the frontend's own paths")
        # daprd takes an invocation's target from `dapr-app-id`, then from Basic authentication
        # as `dapr-app-id:<target>`, before the path (pkg/api/http/directmessaging.go): the
        # Gateway sends the API path to the sidecar only with a bearer token and without that
        # header (docs/security.md, "The frontend's sidecar"). ingress-nginx cannot do either
        # without configuration snippets: its overlay is not held to it.
        guarded = ""
        if kind == "HTTPRoute":
            for what, headers in (("no Authorization header", {}), ("Basic authentication", BASIC_TO_BACKEND)):
                got = route(host, *API_ROUTE, headers)
                if got.backend is not None:
                    problems.append(f"{kind}: {' '.join(API_ROUTE)} with {what} reaches {got.describe()}: "
                                    "only a bearer token's request should (daprd reads a Basic one's target)")
            got = route(host, *API_ROUTE, API_CLIENT_HEADERS)
            if "dapr-app-id" not in got.removed:
                problems.append(f"{kind}: {' '.join(API_ROUTE)} keeps a client's dapr-app-id header: daprd would "
                                "invoke the app it names")
            guarded = "; /call only with a bearer token, dapr-app-id removed"
        # The pod's front door again, on its own: whatever reaches its port, only the frontend's
        # own invocation passes, with a bearer token, by POST (the real nginx: aks_nginx.py).
        for what, method, path, headers in [
                ("no Authorization header", "POST", API_PATH, {}),
                ("Basic authentication", "POST", API_PATH, BASIC_TO_BACKEND),
                ("a bearer token", "GET", API_PATH, API_CLIENT_HEADERS),
                *(("a bearer token", m, p, API_CLIENT_HEADERS) for m, p in REFUSED if p != API_PATH)]:
            passed = nginx_passes(locations, method, path, headers)
            if passed is not None:
                problems.append(f"the pod's front door passes {method} {path} with {what} to the sidecar as {passed}")
        if not problems:
            sent = "; ".join(f"{m} {p} -> " + (f"redirect {w.removeprefix('redirect:')}" if n is None
                                                else f"{'app' if n == APP else 'front door'} {ports[n]} {w}")
                             for m, p, w, n in expected)
            print(f"  ok   aks {label}: AUTH_MODE={mode}; the {kind} sends {sent}, and nothing else "
                  f"({len(refused)} other paths refused){guarded}")
            print(f"  ok   aks {label}: slow bodies: {slow_body_summary(kind, app)}; the pod's nginx: "
                  f"{', '.join(f'{k} {v}' for k, v in body_bounds(documents).items())}")
    for problem in problems:
        fail(f"aks {label}: {problem}")


def app_request_timeout(app: dict) -> float:
    """The app's REQUEST_TIMEOUT (service-kit): every request it serves, body included, is
    answered within it."""
    return app_seconds(env_value(app, "REQUEST_TIMEOUT") or setting_default("REQUEST_TIMEOUT") or "30s")


def slow_body_problems(kind: str, method: str, path: str, got, port_name: str, app: dict) -> list[str]:
    """What bounds a client that sends its body slowly, on one route of the front door
    (docs/security.md, "Slow request bodies"). daprd has no read timeout of its own.

    - HTTPRoute: the rule's `timeouts.request` (a Gateway API duration, which Go's
      ParseDuration reads) is set, and longer than the app's REQUEST_TIMEOUT, so the gateway
      never cuts off an answer the app gives. Gateway API lets an implementation start it once
      the whole request is in (Istio's does: Envoy's route timeout), so it bounds the body only
      where the implementation starts it with the request.
    - Ingress (ingress-nginx): the request body is buffered by nginx before anything is sent on
      (`proxy-request-buffering` not "off"), so daprd never holds a slow body, and its size is
      capped (`proxy-body-size`)."""
    where = f"{kind}: {method} {path}"
    if kind == "HTTPRoute":
        if not got.request_timeout:
            return [f"{where}: its rule sets no timeouts.request: nothing in the front door bounds the request"]
        try:
            timeout = go_seconds(got.request_timeout)
        except ValueError as error:
            return [f"{where}: timeouts.request: {error}"]
        budget = app_request_timeout(app)
        if timeout <= budget:
            return [f"{where}: timeouts.request {got.request_timeout} is not longer than the app's REQUEST_TIMEOUT "
                    f"({budget:g} s): the gateway would cut off answers the app still gives"]
        return []
    problems = []
    if port_name == SIDECAR and not got.buffered:
        problems.append(f"{where}: proxy-request-buffering is off: nginx hands daprd the body as slowly as the client "
                        "sends it, and daprd has no read timeout")
    if not got.body_size:
        problems.append(f"{where}: no proxy-body-size: the body nginx buffers is not capped")
    return problems


def body_bounds(documents: list[dict]) -> dict[str, str]:
    """The front door's server-wide directives that bound a request's body (ConfigMap front-door)."""
    config_map = next((d for d in documents if d.get("kind") == "ConfigMap"
                       and d["metadata"]["name"].startswith("front-door")), {})
    text = "\n".join((config_map.get("data") or {}).values())
    names = ("client_max_body_size", "client_body_timeout", "proxy_request_buffering", "proxy_read_timeout")
    return {name: value for name, value in re.findall(r"^\s*(\w+)\s+([^;]+);", text, re.M) if name in names}


def front_door_body_problems(where: str, documents: list[dict], app: dict) -> list[str]:
    """daprd has no read timeout: the pod's nginx reads each body whole before daprd sees it
    (request buffering on, nginx's default), caps it, cuts off a client that stops sending,
    and waits for the answer longer than the app's REQUEST_TIMEOUT."""
    bounds = body_bounds(documents)
    problems = []
    if bounds.get("proxy_request_buffering", "on") != "on":
        problems.append(f"{where}: the pod's nginx has proxy_request_buffering off: daprd gets the body as slowly "
                        "as the client sends it")
    for name in ("client_max_body_size", "client_body_timeout"):
        if name not in bounds:
            problems.append(f"{where}: the pod's nginx sets no {name}")
    read = bounds.get("proxy_read_timeout")
    if read is None or go_seconds(read) <= app_request_timeout(app):
        problems.append(f"{where}: the pod's nginx waits {read or '60s (default)'} for the sidecar's answer: set it "
                        f"above the app's REQUEST_TIMEOUT ({app_request_timeout(app):g} s)")
    return problems


def slow_body_summary(kind: str, app: dict) -> str:
    if kind == "HTTPRoute":
        return (f"every route has timeouts.request above the app's REQUEST_TIMEOUT ({app_request_timeout(app):g} s); "
                "Gateway API lets it start once the body is in (Istio's does), see docs/security.md")
    return "nginx buffers each body (capped by proxy-body-size) before daprd or the app sees it"


def resolve_target(service: dict, number: int, pod: dict) -> int | None:
    """The pod port a Service's port reaches: targetPort by number, or by a container port's
    name on the (injected) pod."""
    labels = pod["metadata"]["labels"]
    if any(labels.get(k) != v for k, v in service["spec"].get("selector", {}).items()):
        return None
    for item in service["spec"]["ports"]:
        if item["port"] == number:
            target = item.get("targetPort", number)
            if isinstance(target, int):
                return target
            return next((p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", [])
                         if p.get("name") == target), None)
    return None


# --- the sidecars' API allowlists ----------------------------------------------------------

def grpc_groups() -> dict[str, str]:
    """Dapr's gRPC methods and the API group of each ("SaveState" -> "state.v1"), read from the
    pinned Dapr's own allowlist table (pkg/api/grpc/endpoints.go)."""
    source = (aks_go.dapr_module() / "pkg/api/grpc/endpoints.go").read_text()
    table = source[source.index("var endpoints = map[string][]string{"):]
    table = table[:table.index("\n}\n")]
    groups = {}
    for group, methods in re.findall(r'"([a-z0-9]+\.v[a-z0-9]+)": \{([^}]*)\}', table):
        for method in re.findall(r'"v1\.Dapr/(\w+)"', methods):
            groups[method] = group
    return groups


def apis_used(app: str, auth_mode: str | None, grpc: dict[str, str]) -> tuple[set[str], set[str]]:
    """The Dapr APIs the app calls in the auth mode, as it describes them: over HTTP the names
    of their paths (`state`), over gRPC the API group of each method it calls (`state.v1`)."""
    http_names, methods = dapr_apis(app, auth_mode)
    unknown = sorted(methods - set(grpc))
    if unknown:
        raise DescriptionError(f"the {app} calls the gRPC methods {unknown}, which the pinned Dapr's "
                               "pkg/api/grpc/endpoints.go does not list")
    return http_names, {grpc[method] for method in methods}


def check_api_allowlists(label: str, documents: list[dict]) -> None:
    configurations = {d["metadata"]["name"]: d for d in documents if d.get("kind") == "Configuration"}
    components = [d for d in documents if d.get("kind") == "Component"]
    grpc = grpc_groups()
    deployments = {d["metadata"]["name"]: d for d in documents if d.get("kind") == "Deployment"}
    frontend_app = next((c for c in deployments["frontend"]["spec"]["template"]["spec"]["containers"]
                         if c["name"] == "frontend"), {}) if "frontend" in deployments else {}
    for app in ("frontend", "backend"):
        # The session sign-in's store (over gRPC) is called only with AUTH_MODE=session.
        mode = auth_mode(frontend_app) if app == "frontend" else None
        used_http, used_grpc = apis_used(app, mode, grpc)
        allowed = ((configurations.get(app) or {}).get("spec", {}).get("api") or {}).get("allowed") or []
        http_names = {r["name"] for r in allowed if r.get("protocol", "http").lower() == "http"}
        grpc_names = {f"{r['name']}.{r['version']}" for r in allowed if r.get("protocol", "").lower() == "grpc"}
        crypto = [c["metadata"]["name"] for c in components if c["spec"]["type"].startswith("crypto.")
                  and app in (c.get("scopes") or [app])]
        problems = []
        if not allowed:
            problems.append(f"Configuration {app} has no spec.api.allowed: its sidecar serves every Dapr API "
                            f"(its app uses {', '.join(sorted(used_http | used_grpc))})")
        else:
            # daprd serves every API of a protocol that has no rule (pkg/api/http/server.go,
            # pkg/api/grpc/endpoints.go): each protocol needs rules, and only the used ones.
            if http_names != used_http:
                problems.append(f"Configuration {app} allows the HTTP APIs {sorted(http_names) or 'all (no rule)'}, "
                                f"its app calls {sorted(used_http)}")
            inert = not used_grpc and grpc_names == {"crypto.v1alpha1"} and not crypto
            if grpc_names != used_grpc and not inert:
                problems.append(f"Configuration {app} allows the gRPC APIs {sorted(grpc_names) or 'all (no rule)'}, "
                                f"its app calls {sorted(used_grpc) or 'none'}"
                                f"{' (crypto components ' + str(crypto) + ' apply)' if crypto else ''}")
        for problem in problems:
            fail(f"aks {label}: {problem}")
        if not problems:
            print(f"  ok   aks {label}: {app}'s sidecar serves only what its app calls: HTTP "
                  f"{', '.join(sorted(used_http))}; gRPC {', '.join(sorted(used_grpc)) or 'nothing'}")


# --- the session store ---------------------------------------------------------------------

def check_session_store(label: str, documents: list[dict], pods: dict[str, dict]) -> None:
    """With AUTH_MODE=session, the store the frontend names (SESSION_STORE, else the setting's
    default) is rendered, is a state store scoped to the frontend, encrypts with a key from a
    secret (Dapr reads a missing one as empty and stores the tokens in the clear, silently),
    and an Azure one signs in as the identity of the frontend's own service account."""
    app = containers(pods["frontend"])[0]
    if auth_mode(app) != "session":
        return
    name = env_value(app, "SESSION_STORE") or setting_default("SESSION_STORE")
    component = next((d for d in documents if d.get("kind") == "Component" and d["metadata"]["name"] == name), None)
    problems = []
    # What the app does not start without, as it describes it (session_login.py).
    given = {item["name"]: item for item in app.get("env", [])}
    for setting in sorted(required_settings()):
        if setting not in given:
            problems.append(f"the frontend lacks {setting}, which AUTH_MODE=session does not start without")
    # The key the app derives its attempt cookie's and its record keys' from is a secret, and
    # the one the store's records are encrypted with (one secret to provision and rotate).
    app_key = env_secret(app, "SESSION_ENCRYPTION_KEY")
    if component is None:
        problems.append(f"AUTH_MODE=session names the session store {name}, which the rendering has no component for")
    else:
        spec = component["spec"]
        metadata = {item["name"]: item for item in spec.get("metadata", [])}
        if not spec["type"].startswith("state."):
            problems.append(f"Component {name} is {spec['type']}, not a state store")
        if "frontend" not in (component.get("scopes") or []):
            problems.append(f"Component {name} is not scoped to the frontend (scopes {component.get('scopes')})")
        elif component.get("scopes") != ["frontend"]:
            problems.append(f"Component {name} is scoped to {component['scopes']}: the sessions are the frontend's alone")
        key = metadata.get("primaryEncryptionKey", {})
        if not key.get("secretKeyRef"):
            problems.append(f"Component {name} has no primaryEncryptionKey from a secret: the sessions' access and "
                            "refresh tokens are stored in the clear")
        store_key = key.get("secretKeyRef") or {}
        if app_key is not None and app_key != (store_key.get("name"), store_key.get("key")):
            problems.append(f"the frontend's SESSION_ENCRYPTION_KEY is {app_key}, not the secret {name}'s "
                            f"primaryEncryptionKey reads ({store_key.get('name')}, {store_key.get('key')})")
        if "azureClientId" in metadata:
            account = next((d for d in documents if d.get("kind") == "ServiceAccount"
                            and d["metadata"]["name"] == pods["frontend"]["spec"].get("serviceAccountName")), {})
            identity = (account.get("metadata", {}).get("annotations") or {}).get("azure.workload.identity/client-id")
            labels = pods["frontend"]["metadata"]["labels"]
            if metadata["azureClientId"].get("value") != identity:
                problems.append(f"Component {name} signs in as {metadata['azureClientId'].get('value')}, the frontend's "
                                f"service account carries the workload identity {identity}")
            if labels.get("azure.workload.identity/use") != "true":
                problems.append("the frontend's pods lack the label azure.workload.identity/use: \"true\": no "
                                "token for its session store")
    for problem in problems:
        fail(f"aks {label}: {problem}")
    if not problems:
        print(f"  ok   aks {label}: the session store {name} ({component['spec']['type']}) is the frontend's alone, "
              "encrypted with a key from a secret, the one the app derives its own keys from; the app has every "
              "setting it does not start without"
              + (", signed in as the frontend's own workload identity" if "azureClientId" in metadata else ""))


# --- resiliency ----------------------------------------------------------------------------

def check_resiliency(label: str, documents: list[dict], pods: dict[str, dict]) -> None:
    """The frontend's sidecar's work on one call fits in the app's timeout, and no retry can
    follow an attempt whose write may have landed."""
    app = containers(pods["frontend"])[0]
    budget_s = sidecar_timeout_seconds(app)
    for resiliency in (d for d in documents if d.get("kind") == "Resiliency"):
        spec = resiliency["spec"]
        policies = spec.get("policies", {})
        for target, applied in (spec.get("targets", {}).get("apps") or {}).items():
            problems = []
            timeout = applied.get("timeout")
            timeout_s = seconds(policies.get("timeouts", {}).get(timeout, timeout)) if timeout else None
            retry = policies.get("retries", {}).get(applied.get("retry")) if applied.get("retry") else None
            retries, pauses = 0, 0.0
            if retry:
                retries = int(retry.get("maxRetries", -1))
                if retries < 0:
                    problems.append(f"retry {applied['retry']} retries without end (maxRetries -1)")
                elif retry.get("policy", "constant") == "constant":
                    pauses = retries * seconds(retry.get("duration", "5s"))
                else:  # exponential: at most maxInterval each (Dapr's default 60 s)
                    pauses = retries * seconds(retry.get("maxInterval", "60s"))
                matching = retry.get("matching") or {}
                codes = parse_codes(matching.get("httpStatusCodes", ""))
                if not codes:
                    problems.append(f"retry {applied['retry']} has no matching.httpStatusCodes: daprd retries every "
                                    "error status of the backend, 412 and 502 of a save that landed included")
                elif codes - {503}:
                    problems.append(f"retry {applied['retry']} retries HTTP {sorted(codes - {503})}: answers a write "
                                    "can give after it landed (only 503, nothing stored, is safe)")
                if not matching.get("gRPCStatusCodes"):
                    problems.append(f"retry {applied['retry']} has no matching.gRPCStatusCodes: every gRPC error is retried")
                if timeout_s is not None:
                    problems.append(f"timeout {timeout} ({timeout_s:g} s) with retry {applied['retry']}: daprd retries "
                                    "a timed-out attempt whatever `matching` says (pkg/resiliency/policy.go), and a "
                                    "timed-out save may have landed")
            worst = (retries + 1) * (timeout_s or 0) + pauses
            if worst >= budget_s:
                problems.append(f"up to {worst:g} s of attempts and pauses ({retries} retries, timeout "
                                f"{timeout_s if timeout_s is not None else 'none'}) against the app's {budget_s:g} s "
                                "(SIDECAR_TIMEOUT): the client is told 504 while daprd still works on the call")
            for problem in problems:
                fail(f"aks {label}: Resiliency {resiliency['metadata']['name']} for {target}: {problem}")
            if not problems:
                print(f"  ok   aks {label}: Resiliency for {target}: {retries} retries only on HTTP 503 / gRPC "
                      f"{retry['matching']['gRPCStatusCodes'] if retry else '-'}, {pauses:g} s of pauses, no "
                      f"timeout of daprd's own: inside the app's {budget_s:g} s")


def parse_codes(text: str) -> set[int]:
    codes = set()
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        codes |= set(range(int(low), int(high or low) + 1))
    return codes


# --- the injected sidecar's flags, on the real daprd ---------------------------------------

# The flags of the injected daprd that behave the same outside Kubernetes; ports, addresses,
# mode and control-plane addresses are replaced by loopback ones.
RUNTIME_FLAGS = {"--app-id", "--app-protocol", "--log-level", "--dapr-graceful-shutdown-seconds",
                 "--read-buffer-size", "--dapr-http-read-buffer-size", "--max-body-size"}
# How long the app takes with the request in flight when daprd is told to stop: longer than
# daprd's default grace (5 s), shorter than the app's drain.
SLOW_ANSWER_SECONDS = 7


def runtime_flags(daprd: dict) -> list[str]:
    args = daprd["args"][1:] if daprd["args"][:1] == ["/daprd"] else daprd["args"]
    kept = []
    for index, arg in enumerate(args):
        if arg in RUNTIME_FLAGS and index + 1 < len(args):
            kept += [arg, args[index + 1]]
    return kept


def without(flags: list[str], name: str) -> list[str]:
    index = flags.index(name)
    return flags[:index] + flags[index + 2:]


def check_real_daprd(frontend: dict) -> None:
    """daprd started with the injected sidecar's own runtime flags takes a request with a
    16 KiB Authorization header to the app, and answers a request that was in flight when it
    got SIGTERM after SLOW_ANSWER_SECONDS; started without the read-buffer flag it refuses the
    header, without the graceful-shutdown flag (daprd's 5 s) it drops the request."""
    daprd = containers(frontend)[1]
    flags = runtime_flags(daprd)
    app = AppServer()
    try:
        large = lambda port, _: large_header_request(port)
        with_buffer = run_daprd(flags, app.port, large)
        without_buffer = run_daprd(without(flags, "--read-buffer-size"), app.port, large) \
            if "--read-buffer-size" in flags else with_buffer
        across_sigterm = lambda port, process: request_across_sigterm(port, process, app)
        with_grace = run_daprd(flags, app.port, across_sigterm)
        without_grace = run_daprd(without(flags, "--dapr-graceful-shutdown-seconds"), app.port,
                                  across_sigterm) if "--dapr-graceful-shutdown-seconds" in flags else with_grace
    finally:
        app.stop()
    shown = " ".join(flags)
    if with_buffer != 200:
        fail(f"aks base: daprd with the injected flags ({shown}) answered {with_buffer} to a "
             f"{LARGE_HEADER // 1024} KiB Authorization header, expected 200 from the app")
    elif without_buffer == 200:
        fail("aks base: daprd without --read-buffer-size took the large header too: the check proves nothing")
    else:
        print(f"  ok   aks base: real daprd with the injected --read-buffer-size {flag(daprd, '--read-buffer-size')} "
              f"passes a {LARGE_HEADER // 1024} KiB Authorization header to the app (without the flag: {without_buffer})")
    if with_grace != 200:
        fail(f"aks base: daprd with the injected flags ({shown}), stopped while the app took "
             f"{SLOW_ANSWER_SECONDS} s to answer, gave {with_grace}, expected the app's 200")
    elif without_grace == 200:
        fail("aks base: daprd without --dapr-graceful-shutdown-seconds kept the request too: the check proves nothing")
    else:
        print(f"  ok   aks base: real daprd with the injected --dapr-graceful-shutdown-seconds "
              f"{flag(daprd, '--dapr-graceful-shutdown-seconds')}, stopped once a call reached the app, which answers "
              f"it after {SLOW_ANSWER_SECONDS} s, still delivers the answer (with daprd's default: {without_grace})")


class AppServer:
    """The app behind daprd: 200 to everything, after SLOW_ANSWER_SECONDS on /slow. `slow_arrived`
    is set as a /slow call arrives."""

    def __init__(self) -> None:
        slow_arrived = self.slow_arrived = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.endswith("/slow"):
                    slow_arrived.set()
                    time.sleep(SLOW_ANSWER_SECONDS)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # daprd gave up on the call (the run without the grace period)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()


def large_header_request(http_port: int) -> int | str:
    connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
    token = "e" * (LARGE_HEADER - len("Bearer "))
    connection.request("POST", "/v1.0/invoke/frontend/method/call", body=b"{}",
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return connection.getresponse().status


def request_across_sigterm(http_port: int, process: subprocess.Popen, app: AppServer) -> int | str:
    """A slow call through daprd, and daprd's SIGTERM once the call is at the app: what a
    replica's sidecar meets when it is stopped in a rollout. (A fixed wait before the SIGTERM
    made it, on a busy machine, a call that had not reached daprd yet.)"""
    outcome: list = []
    app.slow_arrived.clear()

    def call():
        try:
            connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=30)
            connection.request("GET", "/v1.0/invoke/frontend/method/slow")
            outcome.append(connection.getresponse().status)
        except OSError as error:
            outcome.append(f"no answer ({error.__class__.__name__})")

    thread = threading.Thread(target=call)
    thread.start()
    if not app.slow_arrived.wait(timeout=20):
        thread.join(timeout=20)
        return f"the call did not reach the app within 20 s ({outcome[0] if outcome else 'no answer'})"
    process.send_signal(signal.SIGTERM)
    thread.join(timeout=40)
    return outcome[0] if outcome else "no answer"


def run_daprd(flags: list[str], app_port: int, action) -> int | str:
    """Starts daprd with the flags and loopback ports, waits until it is ready, returns what
    action(its HTTP port, the process) returns, and stops it."""
    http_port = free_port()
    with tempfile.TemporaryDirectory(prefix="validate-daprd-flags-") as work:
        (Path(work) / "resources").mkdir()
        command = [DAPRD, *flags, "--app-port", str(app_port), "--dapr-http-port", str(http_port),
                   "--dapr-grpc-port", str(free_port()), "--dapr-internal-grpc-port", str(free_port()),
                   "--metrics-port", str(free_port()), "--dapr-public-port", str(free_port()),
                   "--resources-path", str(Path(work) / "resources")]
        with open(Path(work) / "daprd.log", "w") as log:
            process = subprocess.Popen(command, cwd=work, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    return f"daprd exited: {(Path(work) / 'daprd.log').read_text()[-500:]}"
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
                    connection.request("GET", "/v1.0/healthz/outbound")
                    if connection.getresponse().status == 204:
                        break
                except OSError:
                    pass
                time.sleep(0.2)
            return action(http_port, process)
        except OSError as error:
            return f"no answer ({error})"
        finally:
            stop_process(process)


# --- the stop, on the real daprd -------------------------------------------------------------

# The injected daprd's flags that decide how it stops, kept for the run (boolean flags alone).
STOP_FLAGS = {"--app-id", "--app-protocol", "--log-level", "--dapr-graceful-shutdown-seconds",
              "--dapr-block-shutdown-duration", "--app-health-check-path", "--app-health-probe-interval",
              "--app-health-probe-timeout", "--app-health-threshold"}
STOP_SWITCHES = {"--enable-app-health-check"}


def stop_flags(daprd: dict) -> list[str]:
    args = daprd["args"][1:] if daprd["args"][:1] == ["/daprd"] else daprd["args"]
    kept = []
    for index, arg in enumerate(args):
        if arg in STOP_SWITCHES:
            kept.append(arg)
        elif arg in STOP_FLAGS and index + 1 < len(args):
            kept += [arg, args[index + 1]]
    return kept


def replaced(flags: list[str], name: str, value: str) -> list[str]:
    index = flags.index(name)
    return flags[:index + 1] + [value] + flags[index + 2:]


class DrainingApp:
    """The app's side of the choreography (docs/rollouts.md), as service-kit does it: 200 on
    everything; from stop() on /readyz answers 503, everything else still 200 for `delay`
    seconds, then the listener closes (so /healthz, Dapr's app health check, is refused).

    `found_healthy` is set once daprd has taken the app for healthy: daprd asks for the app's
    configuration (`GET /dapr/config`) only then, right after it arms the block on its shutdown
    (daprd 1.16.5, pkg/runtime/runtime.go: appHealthChanged, then loadAppConfiguration). Until
    then daprd counts the app unhealthy, and a SIGTERM ends it at once, block or not."""

    def __init__(self, readiness: str, delay: float) -> None:
        self.stopping = threading.Event()
        self.found_healthy = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/dapr/config":
                    outer.found_healthy.set()
                status = 503 if self.path == readiness and outer.stopping.is_set() else 200
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass

            do_POST = do_GET

            def log_message(self, *args):
                pass

        outer = self
        self.delay = delay
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """SIGTERM: readiness 503 now, the listener closed after the delay."""
        self.stopping.set()

        def close():
            time.sleep(self.delay)
            self.close()

        threading.Thread(target=close, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def calls_while_app_serves(delay: float):
    """What kubelet does (SIGTERM to the app and daprd at the same instant), then what the
    callers do while the endpoint is being removed: a new call through daprd every 0.5 s until
    the app's SHUTDOWN_DELAY is nearly over. The answers, one per call."""

    def action(http_port: int, process: subprocess.Popen, app: DrainingApp) -> list | str:
        # A replica that is replaced has been in service: its daprd has found its app healthy
        # long before. Here the stop comes right after the start, so it waits for that first
        # healthy probe, which on a busy machine can come well after daprd's API answers.
        if not app.found_healthy.wait(30):
            return "daprd did not take the app for healthy within 30 s"
        app.stop()
        process.send_signal(signal.SIGTERM)
        answers = []
        started = time.monotonic()
        while time.monotonic() - started < delay - 0.5:
            time.sleep(0.5)
            try:
                connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
                connection.request("POST", "/v1.0/invoke/backend/method/savestate", body=b"{}")
                answers.append(connection.getresponse().status)
            except OSError as error:
                answers.append(error.__class__.__name__)
        return answers

    return action


def check_real_daprd_stop(backend: dict) -> None:
    """daprd started with the injected backend sidecar's shutdown flags, told to stop at the
    same instant as an app that keeps serving for its SHUTDOWN_DELAY: every call made through
    it in that time reaches the app. The same without --dapr-block-shutdown-duration, and with
    the app health check on the readiness path, must drop calls (else the check proves
    nothing)."""
    app_container, daprd = containers(backend)
    flags = stop_flags(daprd)
    delay_text = env_value(app_container, "SHUTDOWN_DELAY") or setting_default("SHUTDOWN_DELAY")
    delay = app_seconds(delay_text) if delay_text else 0
    readiness = probe_path(app_container, "readinessProbe") or "/readyz"
    if delay <= 0:
        fail("aks base: backend has no SHUTDOWN_DELAY: the real daprd's stop was not tried")
        return
    variants = {"as injected": flags}
    if "--dapr-block-shutdown-duration" in flags:
        variants["without --dapr-block-shutdown-duration"] = without(flags, "--dapr-block-shutdown-duration")
    if "--app-health-check-path" in flags:
        variants[f"with the app health check on {readiness}"] = replaced(flags, "--app-health-check-path", readiness)
    results = {}
    for name, variant in variants.items():
        app = DrainingApp(readiness, delay)
        try:
            action = calls_while_app_serves(delay)
            results[name] = run_daprd(variant, app.port, lambda port, process: action(port, process, app))
        finally:
            if not app.stopping.is_set():
                app.close()
    shown = lambda answers: ", ".join(f"{answers.count(a)}x {a}" for a in dict.fromkeys(answers)) \
        if isinstance(answers, list) else str(answers)  # noqa: E731
    good = results["as injected"]
    if not isinstance(good, list) or not good or any(a != 200 for a in good):
        fail(f"aks base: backend's daprd with the injected flags ({' '.join(flags)}), stopped with an app that "
             f"serves {delay:g} s more (SHUTDOWN_DELAY), answered the calls made meanwhile: {shown(good)}; "
             "expected every one 200 from the app")
        return
    for name, answers in results.items():
        if name != "as injected" and isinstance(answers, list) and all(a == 200 for a in answers):
            fail(f"aks base: backend's daprd {name} passed every call too: the check proves nothing")
            return
    others = "; ".join(f"{name}: {shown(answers)}" for name, answers in results.items() if name != "as injected")
    print(f"  ok   aks base: real daprd with the injected backend flags, stopped with its app: {len(good)} calls "
          f"during SHUTDOWN_DELAY {delay:g} s all 200 ({others or 'no variants'})")
