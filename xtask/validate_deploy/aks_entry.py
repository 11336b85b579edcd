"""What the AKS front door relies on, asked of the frontend's real daprd (part of the daprd
check)."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from typing import Callable

import yaml

from .aks_frontdoor import BROWSER_PATH, http_route, nginx_route
from .loopback import LoopbackServer
from .placeholders import PLACEHOLDERS, substitute
from .tools import REPO

FRONT_DOORS = {
    "HTTPRoute": (REPO / "deploy/aks/base/gateway.yaml", "HTTPRoute", http_route),
    "Ingress": (REPO / "deploy/aks/overlays/ingress-nginx/ingress.yaml", "Ingress", nginx_route),
}


# Dapr APIs the frontend's app does not call.
NOT_ALLOWED = [("GET", "/v1.0/metadata"), ("GET", "/v1.0/state/statestore/mykey"),
               ("GET", "/v1.0/secrets/kubernetes/login-client"), ("POST", "/v1.0/publish/pubsub/topic"),
               ("POST", "/v1.0/shutdown")]


def sidecar_paths() -> dict[str, tuple[str, str, list[tuple[str, str]]]]:
    """For each front door (the base's HTTPRoute, the ingress-nginx overlay's Ingresses): the
    path the sidecar sees for `POST https://HOST/call`, where `https://HOST/` redirects the
    browser, and the browser page's requests as the sidecar sees them."""
    host = PLACEHOLDERS["HOST"]
    found = {}
    for name, (path, kind, route) in FRONT_DOORS.items():
        if not path.is_file():
            found[name] = (None, None, [])
            continue
        resources = [d for d in yaml.safe_load_all(substitute(path.read_text())) if d and d.get("kind") == kind]
        api = route(resources, host, "POST", "/call").path
        browser = route(resources, host, "GET", "/").redirect
        page = [(method, route(resources, host, method, (browser or BROWSER_PATH) + sub).path)
                for method, sub in (("GET", ""), ("GET", "page/app.js"), ("POST", "page/call"))]
        found[name] = (api, browser, page)
    return found


def aks_entry_probe(loopback: LoopbackServer) -> Callable[[int], list[str]]:
    """What the AKS front door relies on, asked of the frontend's real daprd with the shipped
    frontend Configuration and middleware (in the namespace of the kustomization, Entra ID
    played by the loopback provider): the path the front door rewrites `POST /call` to is not
    sent to a sign-in page but needs a valid token, which reaches the app as `/call`; the
    browsers' path (where `/` redirects) and the page's requests below it are sent to the
    sign-in page with the shipped client id and redirect address. Both front doors (the base's
    HTTPRoute, the ingress-nginx overlay's Ingresses) are probed."""
    doors = sidecar_paths()
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
        for door, (api_path, browser_path, page) in doors.items():
            if api_path is None or browser_path is None:
                problems.append(f"the {door} ({FRONT_DOORS[door][0].relative_to(REPO)}) sends POST /call to "
                                f"{api_path} and redirects / to {browser_path}")
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
            probed.append(f"{door} ({api_path}; / -> {browser_path})")
        # What the Configuration's api.allowed leaves out is not there at all (404), for any
        # caller that reaches the sidecar.
        for method, path in NOT_ALLOWED:
            status, _, _ = request(port, method, path)
            if status != 404:
                problems.append(f"{method} {path} on the frontend's sidecar: {status}, expected 404 "
                                "(not in the Configuration's api.allowed)")
        if not problems:
            print(f"  ok   aks entry, {', '.join(probed)}: the API path 401 without a token, 200 with a valid "
                  "one, 401 for another audience or expired; the browsers' path and the page's requests "
                  f"redirect to sign-in; {len(NOT_ALLOWED)} other Dapr APIs 404")
        return problems

    return probe
