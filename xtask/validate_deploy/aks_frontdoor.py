"""The AKS front door as its implementations read it: which request of a browser or an API
client reaches the frontend's sidecar, and as which path. Gateway API HTTPRoutes (the base)
and ingress-nginx Ingresses (overlays/ingress-nginx) are both turned into one routing table,
which the aks check compares and the daprd check's entry probe sends to the real daprd; then
the frontend pod's own front door (nginx, its ConfigMap), read as nginx matches locations,
passes the request on to the sidecar on loopback or not (aks_nginx.py runs the real nginx)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import description


@dataclass
class Routed:
    """What the front door does with a request: sends it to a backend Service's port with the
    path the backend sees, redirects it, or has no route for it."""
    backend: tuple[str, int] | None = None
    path: str | None = None
    redirect: str | None = None
    # What bounds the request in the front door (see check_slow_bodies): the HTTPRoute rule's
    # `timeouts.request`, or ingress-nginx's request buffering (`proxy-request-buffering`, "on"
    # unless an annotation says otherwise) and body size.
    request_timeout: str | None = None
    buffered: bool | None = None
    body_size: str | None = None
    # Request headers the front door removes before it sends the request on (lower case).
    removed: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.backend:
            return f"{self.backend[0]}:{self.backend[1]} {self.path}"
        if self.redirect:
            return f"redirect to {self.redirect}"
        return "no route (404)"


def header_matches(match: dict, headers: dict[str, str]) -> bool:
    """A match's `headers` (Exact, or RegularExpression as Envoy reads it: the whole value)
    against the request's headers; names are case-insensitive."""
    sent = {name.lower(): value for name, value in headers.items()}
    for wanted in match.get("headers") or []:
        value = sent.get(wanted["name"].lower())
        if value is None:
            return False
        if wanted.get("type", "Exact") == "Exact" and value != wanted["value"]:
            return False
        if wanted.get("type") == "RegularExpression" and not re.fullmatch(wanted["value"].removeprefix("^"), value):
            return False
    return True


def http_route(routes: list[dict], host: str, method: str, path: str,
               headers: dict[str, str] | None = None) -> Routed:
    """Gateway API's matching (HTTPRoute v1): among the rules of the routes for the host, the
    match with an Exact path beats a PathPrefix, a longer prefix a shorter one, then one with a
    method; a match's headers must all be sent (`headers`, none by default); the matched rule's
    URLRewrite or RequestRedirect filter applies, and its RequestHeaderModifier's removals."""
    headers = headers or {}
    candidates = []
    for route in routes:
        if route["spec"].get("hostnames") and host not in route["spec"]["hostnames"]:
            continue
        if any(p.get("sectionName") == "http" for p in route["spec"].get("parentRefs", [])):
            continue  # the plain-HTTP listener only redirects to HTTPS
        for rule in route["spec"].get("rules", []):
            for match in rule.get("matches") or [{"path": {"type": "PathPrefix", "value": "/"}}]:
                kind = match.get("path", {}).get("type", "PathPrefix")
                value = match.get("path", {}).get("value", "/")
                if match.get("method") and match["method"] != method:
                    continue
                if kind == "Exact" and path != value:
                    continue
                if kind == "PathPrefix" and not (path == value.rstrip("/") or path.startswith(value.rstrip("/") + "/")
                                                 or value == "/"):
                    continue
                if kind not in ("Exact", "PathPrefix"):
                    continue
                if not header_matches(match, headers):
                    continue
                candidates.append(((kind == "Exact", len(value), bool(match.get("method"))), rule, kind, value))
    if not candidates:
        return Routed()
    _, rule, kind, value = max(candidates, key=lambda c: c[0])
    removed: tuple[str, ...] = ()
    for item in rule.get("filters", []):
        if item["type"] == "RequestHeaderModifier":
            removed += tuple(name.lower() for name in item["requestHeaderModifier"].get("remove", []))
        if item["type"] == "RequestRedirect":
            target = item["requestRedirect"].get("path", {})
            return Routed(redirect=target.get("replaceFullPath") or path)
        if item["type"] == "URLRewrite":
            target = item["urlRewrite"].get("path", {})
            if target.get("type") == "ReplaceFullPath":
                path = target["replaceFullPath"]
            elif target.get("type") == "ReplacePrefixMatch":
                path = target["replacePrefixMatch"].rstrip("/") + path[len(value.rstrip("/")):] or "/"
    backends = rule.get("backendRefs") or []
    if len(backends) != 1:
        return Routed()
    return Routed(backend=(backends[0]["name"], backends[0]["port"]), path=path, removed=removed,
                  request_timeout=(rule.get("timeouts") or {}).get("request"))


def nginx_route(ingresses: list[dict], host: str, method: str, path: str) -> Routed:
    """ingress-nginx with use-regex: each path a regular expression matched from the start of
    the request's path, longer expressions tried first; rewrite-target replaces the path; a
    temporal-redirect annotation redirects."""
    candidates = []
    for ingress in ingresses:
        annotations = ingress["metadata"].get("annotations", {})
        for rule in ingress["spec"]["rules"]:
            if rule.get("host") != host:
                continue
            for item in rule["http"]["paths"]:
                if re.match(item["path"], path):
                    candidates.append((len(item["path"]), annotations, item))
    if not candidates:
        return Routed()
    _, annotations, item = max(candidates, key=lambda c: c[0])
    if "nginx.ingress.kubernetes.io/temporal-redirect" in annotations:
        target = annotations["nginx.ingress.kubernetes.io/temporal-redirect"]
        return Routed(redirect=re.sub(r"^https?://[^/]+", "", target))
    service = item["backend"]["service"]
    return Routed(backend=(service["name"], service["port"]["number"]),
                  path=annotations.get("nginx.ingress.kubernetes.io/rewrite-target", path),
                  buffered=annotations.get("nginx.ingress.kubernetes.io/proxy-request-buffering", "on") != "off",
                  body_size=annotations.get("nginx.ingress.kubernetes.io/proxy-body-size"))


def front_door(documents: list[dict]):
    """The routing function of the rendered front door (HTTPRoutes if any, else Ingresses)."""
    routes = [d for d in documents if d.get("kind") == "HTTPRoute"]
    ingresses = [d for d in documents if d.get("kind") == "Ingress"]
    if routes:
        return "HTTPRoute", lambda host, method, path, headers=None: http_route(routes, host, method, path, headers)
    if ingresses:
        return "Ingress", lambda host, method, path, headers=None: nginx_route(ingresses, host, method, path)
    return None, None


# What a browser and an API client send to https://HOST, and what must not get through: the
# other apps, the sidecar's own APIs, the app's probes. API clients send `POST /call` (README),
# which reaches the frontend's sidecar as its invocation path, in every mode. The browsers'
# paths are the frontend's other routes, as it describes them (app_routes): with the in-app
# sign-in (AUTH_MODE=session) each goes to the app's own port as it is; with the sidecar's
# OAuth2 middleware (the app on AUTH_MODE=jwt) the page's routes go to the sidecar below the
# app's namespaced name, where `/` redirects, and the sign-in's own routes do not exist.
BROWSER_PATH = "/v1.0/invoke/frontend.dapr-pair/method/"
API_ROUTE = ("POST", "/call")
# What an API client sends with it (the bearer middleware's token); browsers send no
# Authorization header.
API_CLIENT_HEADERS = {"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl"}
# Basic authentication naming another target (`dapr-app-id:backend`), which daprd would read.
BASIC_TO_BACKEND = {"Authorization": "Basic ZGFwci1hcHAtaWQ6YmFja2VuZA=="}
API_PATH = "/v1.0/invoke/frontend/method/call"
# The container ports a request is for: the pod's front door to daprd's HTTP API, or the app's
# own.
SIDECAR, APP = "front-door", "http"
REFUSED = [
    ("POST", "/v1.0/invoke/backend/method/savestate"),
    ("GET", "/v1.0/invoke/backend/method/state/mykey"),
    ("POST", "/v1.0/invoke/frontend/method/call"),
    ("GET", "/v1.0/state/statestore/mykey"),
    ("GET", "/v1.0/state/sessionstore/somesession"),
    ("GET", "/v1.0/metadata"),
    ("POST", "/v1.0/shutdown"),
    ("GET", "/v1.0/invoke/frontend.dapr-pair/method/healthz"),
    ("GET", "/v1.0/invoke/frontend.dapr-pair/method/../../backend/method/state/k"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
]


def app_routes() -> list[tuple[str, str, bool]]:
    """The frontend's routes as it describes them, its health probes left out: (method, path,
    whether only the session sign-in has it)."""
    found = []
    for method, path, modes in description.routes("frontend"):
        if modes is not None and modes != ["session"]:
            raise description.DescriptionError(f"{method} {path} exists in AUTH_MODE {modes}: the front door's "
                                               "routes know only every mode or session's")
        found.append((method, path, modes is not None))
    return found


def expected_routes(auth_mode: str) -> list[tuple[str, str, str, str | None]]:
    """(method, path a client sends, what is wanted, the port it is for): the path the pod sees
    on SIDECAR or APP, or `redirect:` and where to."""
    routes = app_routes()
    wanted = [(*API_ROUTE, API_PATH, SIDECAR)]
    browser = [(method, route) for method, route, session_only in routes
               if (method, route) != API_ROUTE and (auth_mode == "session" or not session_only)]
    if auth_mode == "session":
        wanted += [(method, route, route, APP) for method, route in browser]
    else:
        wanted.append(("GET", "/", "redirect:" + BROWSER_PATH, None))
        wanted += [(method, BROWSER_PATH + route.removeprefix("/"), BROWSER_PATH + route.removeprefix("/"), SIDECAR)
                   for method, route in browser]
    return wanted


def refused_routes(auth_mode: str) -> list[tuple[str, str]]:
    """What must have no route: REFUSED, and the other mode's browser paths."""
    if auth_mode == "session":
        return REFUSED + [("GET", BROWSER_PATH), ("POST", BROWSER_PATH + "page/call")]
    return REFUSED + [(method, route) for method, route, session_only in app_routes() if session_only]


# --- the frontend pod's front door (nginx) ----------------------------------------------------

@dataclass
class Location:
    """One `location` block of the front door's configuration, as far as the check needs it."""
    exact: str | None
    regex: str | None
    methods: tuple[str, ...] | None  # limit_except: these pass, others are denied
    refuse_authorization: str | None  # `if ($http_authorization ~ R) { return …; }`
    require_authorization: str | None  # `if ($http_authorization !~ R) { return …; }`
    proxy_pass: str | None  # the URI sent on, with $1 and $is_args$args


def blocks(text: str, name: str) -> list[tuple[str, str]]:
    """Each `NAME ARGS { BODY }` of the text, outermost only, braces matched: (ARGS, BODY)."""
    text = re.sub(r"#[^\n]*", "", text)
    found, start = [], 0
    while (match := re.compile(rf"(?:^|[;{{}}\s]){name}\s+([^{{;]*)\{{").search(text, start)):
        depth, index = 1, match.end()
        while depth and index < len(text):
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            index += 1
        found.append((match.group(1).strip(), text[match.end():index - 1]))
        start = index
    return found


def nginx_locations(text: str) -> list[Location]:
    """The `location` blocks of a server's configuration (or an included file)."""
    found = []
    for args, body in blocks(text, "location"):
        kind, where = args.split() if len(args.split()) == 2 else ("", args)
        limit = re.search(r"limit_except\s+([A-Z ]+)\{", body)
        refuse = re.search(r'if \(\$http_authorization ~ "([^"]+)"\)\s*\{\s*return', body)
        require = re.search(r'if \(\$http_authorization !~ "([^"]+)"\)\s*\{\s*return', body)
        target = re.search(r"proxy_pass\s+http://127\.0\.0\.1:\d+(\S*);", body)
        found.append(Location(
            exact=where if kind == "=" else None, regex=where if kind == "~" else None,
            methods=tuple(limit.group(1).split()) if limit else None,
            refuse_authorization=refuse.group(1) if refuse else None,
            require_authorization=require.group(1) if require else None,
            proxy_pass=target.group(1) if target else None))
    return found


def nginx_passes(locations: list[Location], method: str, path: str, headers: dict[str, str] | None = None) -> str | None:
    """The path the sidecar sees for the request, or None where nginx answers it itself: an
    exact location first, then the first regular expression, then the prefix ones (only `/`
    here, which must not pass anything)."""
    authorization = {k.lower(): v for k, v in (headers or {}).items()}.get("authorization", "")
    chosen, captured = next(((loc, None) for loc in locations if loc.exact == path), (None, None))
    if chosen is None:
        for loc in locations:
            match = re.search(loc.regex, path) if loc.regex else None
            if match:
                chosen, captured = loc, match
                break
    if chosen is None:
        chosen = next((loc for loc in locations if not loc.exact and not loc.regex and path.startswith("/")), None)
    if chosen is None or chosen.proxy_pass is None:
        return None
    if chosen.methods is not None and method not in chosen.methods:
        return None
    if chosen.refuse_authorization and re.search(chosen.refuse_authorization, authorization):
        return None
    if chosen.require_authorization and not re.search(chosen.require_authorization, authorization):
        return None
    sent = chosen.proxy_pass.replace("$is_args$args", "")
    if captured is not None:
        sent = re.sub(r"\$(\d)", lambda m: captured.group(int(m.group(1))), sent)
    return sent


def front_door_configuration(documents: list[dict]) -> list[Location]:
    """The locations of the rendered front-door ConfigMap's templates, each file as nginx
    includes it (the server's own, and the `*.locations` it includes)."""
    config_map = next((d for d in documents if d.get("kind") == "ConfigMap"
                       and d["metadata"]["name"].startswith("front-door")), None)
    if config_map is None:
        return []
    return [loc for text in config_map.get("data", {}).values() for loc in nginx_locations(text)]
