"""What the AKS ingress relies on, asked of the frontend's real daprd (part of the daprd
check)."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from typing import Callable

import yaml

from .loopback import LoopbackServer
from .placeholders import PLACEHOLDERS, substitute
from .tools import REPO


def aks_entry_probe(loopback: LoopbackServer) -> Callable[[int], list[str]]:
    """What the AKS ingress relies on, asked of the frontend's real daprd with the shipped
    frontend Configuration and middleware (in the namespace of the kustomization, Entra ID
    played by the loopback provider): the ingress's API path (its rewrite target) is not sent
    to a sign-in page but needs a valid token, which reaches the app; the browsers' path is
    sent to the sign-in page with the shipped client id and redirect address."""
    ingresses = [d for d in yaml.safe_load_all(substitute((REPO / "deploy/aks/ingress.yaml").read_text()))
                 if d and d.get("kind") == "Ingress"]
    api_path = next(i["metadata"]["annotations"]["nginx.ingress.kubernetes.io/rewrite-target"]
                    for i in ingresses if "nginx.ingress.kubernetes.io/rewrite-target" in i["metadata"]["annotations"])
    browser_path = next(path["path"].replace("\\", "") for i in ingresses for rule in i["spec"]["rules"]
                        for path in rule["http"]["paths"] if path["path"].startswith("/v1"))
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
        for what, token, expected in expectations:
            status, _, body = request(port, "POST", api_path, token)
            if status != expected:
                problems.append(f"POST {api_path} with {what}: {status}, expected {expected} ({body[:200]!r})")
            elif expected == 200 and json.loads(body).get("path") != "/call":
                problems.append(f"POST {api_path} reached the app as {body!r}, not /call")
        status, headers, _ = request(port, "GET", browser_path)
        location = urllib.parse.urlsplit(headers.get("Location", ""))
        query = urllib.parse.parse_qs(location.query)
        if status != 302 or not location.path.endswith("/oauth2/v2.0/authorize"):
            problems.append(f"GET {browser_path}: {status} to {headers.get('Location')!r}, "
                            "expected a redirect to the sign-in page")
        elif query.get("client_id") != [audience] or query.get("redirect_uri") != [
                f"https://{PLACEHOLDERS['HOST']}{browser_path}"]:
            problems.append(f"GET {browser_path}: the sign-in redirect has client_id {query.get('client_id')} "
                            f"and redirect_uri {query.get('redirect_uri')}")
        if not problems:
            print(f"  ok   aks entry: {api_path} 401 without a token, 200 with a valid one, 401 for another "
                  f"audience or expired; {browser_path} redirects to sign-in")
        return problems

    return probe
