"""What the AKS front door relies on, asked of the frontend's real daprd (part of the daprd
check)."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from typing import Callable

from .aks import renderings
from .aks_frontdoor import API_CLIENT_HEADERS, API_ROUTE, expected_routes, front_door
from .aks_network import auth_mode
from .loopback import LoopbackServer
from .placeholders import PLACEHOLDERS

# Dapr APIs the frontend's app does not call over HTTP (its sessions it reaches over gRPC).
NOT_ALLOWED = [("GET", "/v1.0/metadata"), ("GET", "/v1.0/state/statestore/mykey"),
               ("GET", "/v1.0/state/sessionstore/somesession"),
               ("GET", "/v1.0/secrets/kubernetes/login-client"), ("POST", "/v1.0/publish/pubsub/topic"),
               ("POST", "/v1.0/shutdown")]


class FrontDoor:
    """One AKS rendering's way to the frontend's sidecar: the path the sidecar sees for
    `POST https://HOST/call`, and with the sidecar's sign-in (AUTH_MODE other than session)
    where `https://HOST/` redirects the browser and the page's requests as the sidecar sees
    them. With AUTH_MODE=session the browsers do not reach the sidecar (the aks check follows
    them to the app's port), so only the API path is asked of daprd."""

    def __init__(self, label: str, documents: list[dict]) -> None:
        host = PLACEHOLDERS["HOST"]
        self.label = label
        self.configuration = next((d for d in documents if d.get("kind") == "Configuration"
                                   and d["metadata"]["name"] == "frontend"), None)
        deployment = next((d for d in documents if d.get("kind") == "Deployment"
                           and d["metadata"]["name"] == "frontend"), None)
        app = deployment["spec"]["template"]["spec"]["containers"][0] if deployment else {}
        self.session = auth_mode(app) == "session"
        self.kind, route = front_door(documents)
        self.api = route(host, *API_ROUTE, API_CLIENT_HEADERS).path if route else None
        self.browser = None if self.session or not route else route(host, "GET", "/").redirect
        self.page = [] if self.session or not route else [
            (method, route(host, method, path).path)
            for method, path, wanted, _ in expected_routes("jwt") if not wanted.startswith("redirect:")
            and path != "/call"]

    def serves(self, configuration: dict) -> bool:
        """Whether this rendering's frontend sidecar runs `configuration` (tracing aside: an
        overlay sends traces elsewhere)."""
        strip = lambda c: {k: v for k, v in (c or {}).get("spec", {}).items() if k != "tracing"}
        return self.configuration is not None and strip(self.configuration) == strip(configuration)


def front_doors() -> list[FrontDoor]:
    """The base's and each overlay's rendering (the aks check's), as the daprd check asks
    their frontend sidecar."""
    return [FrontDoor(label, documents) for label, documents in renderings()]


def aks_entry_probe(loopback: LoopbackServer, doors: list[FrontDoor]) -> Callable[[int], list[str]]:
    """What the AKS front door relies on, asked of the frontend's real daprd with the shipped
    frontend Configuration and middleware (in the namespace of the kustomization, Entra ID
    played by the loopback provider): the path the front door rewrites `POST /call` to is not
    sent to a sign-in page but needs a valid token, which reaches the app as `/call`; the
    browsers' path (where `/` redirects) and the page's requests below it are sent to the
    sign-in page with the shipped client id and redirect address (where the sidecar signs
    browsers in). Each rendering (`doors`) whose frontend sidecar runs this Configuration is
    probed."""
    issuer = f"{loopback.base}/{PLACEHOLDERS['AZURE_TENANT_ID']}/v2.0"
    audience = PLACEHOLDERS["LOGIN_CLIENT_ID"]
    now = int(time.time())
    valid = {"iss": issuer, "aud": audience, "sub": "someone", "iat": now, "nbf": now, "exp": now + 600}

    def request(port: int, method: str, path: str, token: str | None = None) -> tuple[int, dict, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
        connection.request(method, path, body=b"{}" if method == "POST" else None, headers=headers)
        response = connection.getresponse()
        result = response.status, dict(response.getheaders()), response.read()
        connection.close()
        return result

    def probe(port: int) -> list[str]:
        problems = []
        expectations = [
            ("no token", None, 401),
            ("a valid token", loopback.token(valid), 200),
            ("a token for another audience", loopback.token(valid | {"aud": "someone-else"}), 401),
            ("an expired token", loopback.token(valid | {"exp": now - 3600, "nbf": now - 7200}), 401),
        ]
        probed = []
        for front in doors:
            door, api_path, browser_path, page = f"{front.label} {front.kind}", front.api, front.browser, front.page
            if api_path is None or (browser_path is None and not front.session):
                problems.append(f"the {door} sends POST /call to {api_path} and redirects / to {browser_path}")
                continue
            for what, token, expected in expectations:
                status, _, body = request(port, "POST", api_path, token)
                if status != expected:
                    problems.append(f"{door}: POST {api_path} with {what}: {status}, expected {expected} ({body[:200]!r})")
                elif expected == 200 and json.loads(body).get("path") != "/call":
                    problems.append(f"{door}: POST {api_path} reached the app as {body!r}, not /call")
            for method, path in page:
                status, headers, _ = request(port, method, path or "(no route)")
                location = urllib.parse.urlsplit(headers.get("Location", ""))
                query = urllib.parse.parse_qs(location.query)
                if status != 302 or not location.path.endswith("/oauth2/v2.0/authorize"):
                    problems.append(f"{door}: {method} {path}: {status} to {headers.get('Location')!r}, "
                                    "expected a redirect to the sign-in page")
                elif query.get("client_id") != [audience] or query.get("redirect_uri") != [
                        f"https://{PLACEHOLDERS['HOST']}{browser_path}"]:
                    problems.append(f"{door}: {method} {path}: the sign-in redirect has client_id "
                                    f"{query.get('client_id')} and redirect_uri {query.get('redirect_uri')}")
            probed.append(f"{door} ({api_path}; " + ("browsers to the app" if front.session else f"/ -> {browser_path}") + ")")
        # What the Configuration's api.allowed leaves out is not there at all (404), for any
        # caller that reaches the sidecar.
        for method, path in NOT_ALLOWED:
            status, _, _ = request(port, method, path)
            if status != 404:
                problems.append(f"{method} {path} on the frontend's sidecar: {status}, expected 404 "
                                "(not in the Configuration's api.allowed)")
        if not problems:
            print(f"  ok   aks entry, {', '.join(probed)}: the API path 401 without a token, 200 with a valid "
                  "one, 401 for another audience or expired; where the sidecar signs browsers in, the browsers' "
                  f"path and the page's requests redirect to sign-in; {len(NOT_ALLOWED)} other Dapr APIs 404")
        return problems

    return probe
