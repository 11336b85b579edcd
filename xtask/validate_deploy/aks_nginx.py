"""The AKS frontend pod's front door on the real programs (part of the daprd check): nginx (the
system's) with a rendering's ConfigMap front-door rendered as the container renders it (envsubst of
$DAPR_API_TOKEN alone, a test token), in front of the real daprd started with that rendering's
frontend Configuration and middleware (Entra ID played by the loopback provider) and that
API token, as the injector starts it (dapr.io/api-token-secret). Only the ports and addresses
are changed for loopback. Every rendering's front door is first put to `nginx -t`. Then what API
clients, and anyone else who reaches the pod, get:

- through nginx (the base): a valid bearer token's `POST` reaches the frontend app as /call, also when it
  names another target in `dapr-app-id`; no bearer token, Basic authentication, another method
  or another path never reach daprd; a body that stops coming is cut off by nginx (its shipped
  client_body_timeout) while daprd holds no connection for it;
- daprd without the token: every API refused, on the HTTP port and on the gRPC port;
- through nginx with overlays/oauth2-middleware's ConfigMap and Configuration: the browsers'
  paths reach the sidecar's sign-in, the provider's return with its query."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from .aks import renderings
from .aks_frontdoor import API_PATH, BASIC_TO_BACKEND, BROWSER_PATH, REFUSED
from .daprd import offline, offline_configuration, secret_store_for
from .loopback import LoopbackServer, free_port, stop_process
from .placeholders import PLACEHOLDERS
from .report import fail
from .rollout import go_seconds
from .tools import DAPRD

TEST_TOKEN = "test-api-token-0123456789abcdef"
# Where nginx is: Debian's place for it (not on every PATH), else PATH.
NGINX = "/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else "nginx"
# The image's nginx.conf around the rendered server (nginx-unprivileged: its files under /tmp),
# here all in the run's folder.
MAIN_CONF = """daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 64; }}
http {{
  client_body_temp_path {work}/client_temp;
  proxy_temp_path {work}/proxy_temp;
  fastcgi_temp_path {work}/fastcgi_temp;
  uwsgi_temp_path {work}/uwsgi_temp;
  scgi_temp_path {work}/scgi_temp;
  access_log {work}/access.log;
  include {work}/conf.d/*.conf;
}}
"""
# The longest client_body_timeout the stalled-body probe waits out.
MAX_BODY_TIMEOUT = 30
# gRPC's status for a call without the API token (codes.Unauthenticated).
UNAUTHENTICATED = "16"


def render(template: str, work: Path, nginx_port: int, daprd_port: int) -> str:
    """The template as the image's entrypoint renders it (envsubst with only $DAPR_API_TOKEN
    defined), then moved to loopback: its listen port, daprd's port, its include folder."""
    rendered = subprocess.run(["envsubst", "${DAPR_API_TOKEN}"], input=template, capture_output=True, text=True,
                              check=True, env={"PATH": os.environ["PATH"], "DAPR_API_TOKEN": TEST_TOKEN}).stdout
    rendered = re.sub(r"listen\s+\d+;", f"listen 127.0.0.1:{nginx_port};", rendered)
    rendered = rendered.replace("127.0.0.1:3500", f"127.0.0.1:{daprd_port}")
    return rendered.replace("/etc/nginx/conf.d/", f"{work}/conf.d/")


def start(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_for(port: int, process: subprocess.Popen, path: str, headers: dict[str, str] | None = None) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if request(port, "GET", path, headers=headers)[0] < 500:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def grpc_status(port: int, method: str, token: str | None) -> str:
    """A unary call of Dapr's gRPC API with an empty message, by curl over HTTP/2 (nghttp2):
    its grpc-status trailer."""
    command = ["curl", "-s", "--http2-prior-knowledge", "--max-time", "10", "-o", "/dev/null", "-D", "-",
               "-H", "content-type: application/grpc", "-H", "te: trailers", "--data-binary", "@-",
               f"http://127.0.0.1:{port}/dapr.proto.runtime.v1.Dapr/{method}"]
    if token:
        command[1:1] = ["-H", f"dapr-api-token: {token}"]
    run = subprocess.run(command, input=b"\0\0\0\0\0", capture_output=True)
    found = re.search(rb"grpc-status: *(\d+)", run.stdout)
    return found.group(1).decode() if found else f"no grpc-status ({run.stdout[:200]!r})"


def connections_to(port: int) -> int:
    """Established TCP connections accepted on the port (state 01 in /proc/net/tcp and tcp6: daprd
    listens dual-stack, where 127.0.0.1 is ::ffff:127.0.0.1)."""
    lines = [line.split() for table in ("tcp", "tcp6")
             for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]]
    return sum(1 for fields in lines if fields[1].endswith(f":{port:04X}") and fields[3] == "01")


def stalled_body(nginx_port: int, daprd_port: int, bound: float) -> tuple[str, int]:
    """Headers and part of a body, then nothing: how nginx ends it within `bound` seconds, and
    how many connections daprd had meanwhile."""
    with socket.create_connection(("127.0.0.1", nginx_port), timeout=bound) as client:
        client.sendall((f"POST {API_PATH} HTTP/1.1\r\nHost: front-door\r\nAuthorization: Bearer x.y.z\r\n"
                        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"key\":").encode())
        time.sleep(1)
        held = connections_to(daprd_port)
        try:
            answer = client.recv(200)
        except socket.timeout:
            return f"still open after {bound:g} s", held
        return (answer.split(b"\r\n")[0].decode() or "closed without an answer"), held


def front_door_config_map(documents: list[dict]) -> dict | None:
    return next((d for d in documents if d.get("kind") == "ConfigMap"
                 and d["metadata"]["name"].startswith("front-door")), None)


def write_configuration(config_map: dict, work: Path, nginx_port: int, daprd_port: int) -> Path:
    """The rendered templates in work/conf.d and the main configuration around them: its path."""
    (work / "conf.d").mkdir(exist_ok=True)
    for name, template in config_map["data"].items():
        (work / "conf.d" / name.removesuffix(".template")).write_text(render(template, work, nginx_port, daprd_port))
    (work / "nginx.conf").write_text(MAIN_CONF.format(work=work))
    return work / "nginx.conf"


def check_overlays_syntax(rendered: list[tuple[str, list[dict]]]) -> None:
    """Each rendering's front door, as its container renders it, is one nginx takes (`nginx -t`)."""
    for label, documents in rendered:
        config_map = front_door_config_map(documents)
        if config_map is None:
            fail(f"aks front door {label}: no ConfigMap front-door")
            continue
        with tempfile.TemporaryDirectory(prefix="validate-front-door-") as work:
            conf = write_configuration(config_map, Path(work), free_port(), free_port())
            run = subprocess.run([NGINX, "-t", "-p", work, "-c", str(conf), "-e", f"{work}/error.log"],
                                 capture_output=True, text=True)
        if run.returncode != 0:
            fail(f"aks front door {label}: nginx -t: {run.stderr.strip()}")
        else:
            print(f"  ok   aks front door {label}: nginx -t takes it ({', '.join(sorted(config_map['data']))})")


def check_front_door_nginx(loopback: LoopbackServer) -> None:
    rendered = dict(renderings())
    check_overlays_syntax(list(rendered.items()))
    for label, probe_of, said in [
            ("base", probe, "a bearer's POST reaches the app as /call, dapr-app-id: backend too; no bearer, Basic, "
             f"GET and {len(REFUSED) - 1} other paths refused by nginx; a stalled body cut off by nginx with no "
             "connection to daprd; daprd without the token: HTTP 401, gRPC Unauthenticated"),
            ("overlays/oauth2-middleware", probe_browsers, "the browsers' paths reach the sidecar's sign-in (302 to "
             "the provider), the query passed on; a bearer's POST reaches the app as /call")]:
        problems = with_front_door(loopback, rendered[label], lambda *ports: probe_of(loopback, *ports))
        for problem in problems:
            fail(f"aks front door {label}: {problem}")
        if not problems:
            print(f"  ok   aks front door {label} (real nginx with its ConfigMap, real daprd with its API token): {said}")


def with_front_door(loopback: LoopbackServer, documents: list[dict], action) -> list[str]:
    """The rendering's frontend daprd (its Configuration and middleware, offline) with the API
    token and its front door's nginx in front of it, both on loopback: what action(the
    ConfigMap, nginx's port, daprd's HTTP and gRPC ports) finds."""
    config_map = front_door_config_map(documents)
    configuration = next((d for d in documents if d.get("kind") == "Configuration"
                          and d["metadata"]["name"] == "frontend"), None)
    if config_map is None or configuration is None:
        return ["no ConfigMap front-door or no Configuration frontend rendered"]
    with tempfile.TemporaryDirectory(prefix="validate-front-door-") as work_dir:
        work = Path(work_dir)
        (work / "resources").mkdir()
        middleware = [offline(d, loopback, free_port()) for d in documents if d.get("kind") == "Component"
                      and d["spec"]["type"].startswith("middleware.")]
        for index, component in enumerate(middleware + secret_store_for(middleware, work)):
            (work / "resources" / f"{index}.yaml").write_text(yaml.safe_dump(component))
        (work / "config.yaml").write_text(yaml.safe_dump(offline_configuration(configuration)))
        http_port, grpc_port, nginx_port = free_port(), free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("DAPR_") and k != "NAMESPACE"}
        daprd = start([DAPRD, "--app-id", "frontend", "--app-port", str(loopback.port), "--config",
                       str(work / "config.yaml"), "--resources-path", str(work / "resources"),
                       "--dapr-http-port", str(http_port), "--dapr-grpc-port", str(grpc_port),
                       "--dapr-internal-grpc-port", str(free_port()), "--metrics-port", str(free_port()),
                       "--dapr-public-port", str(free_port()), "--read-buffer-size", "32Ki"],
                      work / "daprd.log", env | {"DAPR_API_TOKEN": TEST_TOKEN, "NAMESPACE": "dapr-pair"})
        nginx = None
        try:
            conf = write_configuration(config_map, work, nginx_port, http_port)
            if not wait_for(http_port, daprd, "/v1.0/healthz/outbound", {"dapr-api-token": TEST_TOKEN}):
                return [f"daprd did not start: {(work / 'daprd.log').read_text()[-800:]}"]
            nginx = start([NGINX, "-p", str(work), "-c", str(conf), "-e", str(work / "error.log")],
                          work / "nginx.log")
            if not wait_for(nginx_port, nginx, "/"):
                return [f"nginx did not start: {(work / 'nginx.log').read_text()[-800:]}"]
            return action(config_map, nginx_port, http_port, grpc_port)
        finally:
            if nginx is not None:
                stop_process(nginx)
            stop_process(daprd)


def valid_bearer(loopback: LoopbackServer) -> dict[str, str]:
    issuer = f"{loopback.base}/{PLACEHOLDERS['AZURE_TENANT_ID']}/v2.0"
    now = int(time.time())
    token = loopback.token({"iss": issuer, "aud": PLACEHOLDERS["LOGIN_CLIENT_ID"], "sub": "someone",
                            "iat": now, "nbf": now, "exp": now + 600})
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def probe_browsers(loopback: LoopbackServer, config_map: dict, nginx_port: int, http_port: int,
                   grpc_port: int) -> list[str]:
    """overlays/oauth2-middleware: the browsers' paths pass the door with the token, to the
    sidecar's sign-in; the API route as in the base."""
    problems = []
    for path in (BROWSER_PATH, BROWSER_PATH + "page/app.js", BROWSER_PATH + "?code=c&state=s"):
        connection = http.client.HTTPConnection("127.0.0.1", nginx_port, timeout=20)
        connection.request("GET", path)
        response = connection.getresponse()
        location = response.getheader("Location") or ""
        connection.close()
        if path.endswith("state=s"):
            # The provider's return: the middleware takes the query (an unknown state: not a
            # redirect to sign in again, and not nginx's own 4xx).
            if response.status in (302, 401, 403, 404):
                problems.append(f"GET {path} through nginx answered {response.status} {location}: the callback's "
                                "query did not reach the sidecar's sign-in")
        elif response.status != 302 or "/oauth2/v2.0/authorize" not in location:
            problems.append(f"GET {path} through nginx answered {response.status} {location!r}, expected the "
                            "sidecar's redirect to sign in")
    status, body = request(nginx_port, "POST", API_PATH, b"{}", valid_bearer(loopback))
    if status != 200 or b'"path": "/call"' not in body:
        problems.append(f"a bearer token's POST {API_PATH} through nginx answered {status} {body[:200]!r}")
    return problems


def probe(loopback: LoopbackServer, config_map: dict, nginx_port: int, http_port: int, grpc_port: int) -> list[str]:
    bearer = valid_bearer(loopback)
    problems = []

    def expect(what: str, port: int, method: str, path: str, headers: dict, wanted) -> None:
        status, body = request(port, method, path, b"{}" if method == "POST" else None, headers)
        ok = wanted(status, body) if callable(wanted) else status == wanted
        if not ok:
            problems.append(f"{what}: {method} {path} answered {status} {body[:200]!r}")

    reached_call = lambda status, body: status == 200 and b'"path": "/call"' in body  # noqa: E731
    expect("a bearer token's call through nginx", nginx_port, "POST", API_PATH, bearer, reached_call)
    expect("dapr-app-id: backend through nginx (must reach the frontend app)", nginx_port, "POST", API_PATH,
           bearer | {"dapr-app-id": "backend"}, reached_call)
    expect("no Authorization through nginx", nginx_port, "POST", API_PATH, {}, 401)
    expect("Basic dapr-app-id:backend through nginx", nginx_port, "POST", API_PATH, BASIC_TO_BACKEND, 401)
    expect("GET through nginx", nginx_port, "GET", API_PATH, bearer, 403)
    for method, path in REFUSED:
        if path != API_PATH:
            expect("another path through nginx", nginx_port, method, path, bearer, 404)
    # The sidecar on its own, as a process in the pod or a pod past the network policy reaches
    # it: nothing without the token.
    # (Its health endpoints answer without it, as the kubelet's probes need.)
    for method, path in [("POST", API_PATH), ("POST", "/v1.0/invoke/backend/method/savestate"),
                         ("GET", "/v1.0/metadata"), ("GET", "/v1.0/state/statestore/k")]:
        expect("daprd without the API token", http_port, method, path, bearer, 401)
    # The state API, which the Configuration allows over gRPC (the sessions); what it does not
    # allow is Unimplemented before the token is looked at.
    for method in ("GetState", "SaveState"):
        without, with_token = grpc_status(grpc_port, method, None), grpc_status(grpc_port, method, TEST_TOKEN)
        if without != UNAUTHENTICATED or with_token == UNAUTHENTICATED:
            problems.append(f"daprd's gRPC {method}: grpc-status {without} without the token, {with_token} with it; "
                            f"expected {UNAUTHENTICATED} (Unauthenticated) only without")
    # A body that stops coming: nginx's shipped timeout ends it; waited for at most three times
    # that and 10 s more (a busy machine is slow, never early), so only an unbounded wait fails.
    timeout = go_seconds(re.search(r"client_body_timeout\s+(\S+);", "\n".join(config_map["data"].values())).group(1))
    if timeout > MAX_BODY_TIMEOUT:
        return problems + [f"nginx's client_body_timeout is {timeout:g} s: a client that stops sending holds a "
                           f"connection that long; this check waits for at most {MAX_BODY_TIMEOUT} s"]
    ended, held = stalled_body(nginx_port, http_port, 3 * timeout + 10)
    if not ended.startswith("HTTP/1.1 408") and ended != "closed without an answer":
        problems.append(f"a stalled body through nginx: {ended}, expected nginx to end it (408)")
    if held:
        problems.append(f"a stalled body through nginx: daprd had {held} connection(s) meanwhile: nginx passed the "
                        "request on before its body was in")
    return problems
