"""The front door's routing as the aks and daprd checks follow it (aks_frontdoor.py)."""

import pytest

from validate_deploy.aks_frontdoor import SIDECAR, http_route, nginx_route


def route(rules, hostnames=("h",)):
    return {"kind": "HTTPRoute", "spec": {"hostnames": list(hostnames), "parentRefs": [{"name": "g"}], "rules": rules}}


def backend(name="svc", port=3500):
    return [{"name": name, "port": port}]


def test_exact_beats_prefix_and_rewrites_replace_the_path():
    routes = [route([
        {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": backend("other")},
        {"matches": [{"path": {"type": "Exact", "value": "/call"}, "method": "POST"}],
         "filters": [{"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplaceFullPath",
                                                                     "replaceFullPath": "/v1.0/invoke/f/method/call"}}}],
         "backendRefs": backend()},
    ])]
    got = http_route(routes, "h", "POST", "/call")
    assert (got.backend, got.path) == (("svc", 3500), "/v1.0/invoke/f/method/call")
    # Another method falls to the prefix rule; another host has no route.
    assert http_route(routes, "h", "GET", "/call").backend == ("other", 3500)
    assert http_route(routes, "elsewhere", "POST", "/call").backend is None


def test_prefix_matches_whole_segments_and_replace_prefix_keeps_the_rest():
    routes = [route([{"matches": [{"path": {"type": "PathPrefix", "value": "/api/"}}],
                      "filters": [{"type": "URLRewrite", "urlRewrite": {"path": {
                          "type": "ReplacePrefixMatch", "replacePrefixMatch": "/v1"}}}],
                      "backendRefs": backend()}])]
    assert http_route(routes, "h", "GET", "/api/x").path == "/v1/x"
    assert http_route(routes, "h", "GET", "/apix").backend is None


def test_redirects_and_the_plain_http_listener():
    routes = [route([{"matches": [{"path": {"type": "Exact", "value": "/"}}],
                      "filters": [{"type": "RequestRedirect", "requestRedirect": {"path": {
                          "type": "ReplaceFullPath", "replaceFullPath": "/page/"}}}]}]),
              {"kind": "HTTPRoute", "spec": {"parentRefs": [{"name": "g", "sectionName": "http"}],
                                              "rules": [{"backendRefs": backend("leak")}]}}]
    assert http_route(routes, "h", "GET", "/").redirect == "/page/"
    assert http_route(routes, "h", "GET", "/x").backend is None


def test_nginx_longest_regex_wins_and_rewrite_target_applies():
    ingress = lambda name, path, annotations: {
        "kind": "Ingress", "metadata": {"name": name, "annotations": annotations},
        "spec": {"rules": [{"host": "h", "http": {"paths": [
            {"path": path, "backend": {"service": {"name": "svc", "port": {"number": 3500}}}}]}}]}}
    ingresses = [ingress("api", "/call$", {"nginx.ingress.kubernetes.io/rewrite-target": "/v1.0/invoke/f/method/call"}),
                 ingress("home", "/", {"nginx.ingress.kubernetes.io/temporal-redirect": "https://h/page/"})]
    assert nginx_route(ingresses, "h", "POST", "/call").path == "/v1.0/invoke/f/method/call"
    assert nginx_route(ingresses, "h", "GET", "/elsewhere").redirect == "/page/"


def test_the_frontend_routes_come_from_its_description_and_the_mode_says_where_they_go():
    from validate_deploy.aks_frontdoor import API_PATH, APP, BROWSER_PATH, SIDECAR, app_routes, expected_routes

    routes = {(method, path): session_only for method, path, session_only in app_routes()}
    assert routes[("POST", "/call")] is False and routes[("GET", "/")] is False
    assert routes[("GET", "/auth/callback")] is True
    session = {(m, p): (w, n) for m, p, w, n in expected_routes("session")}
    assert session[("POST", "/call")] == (API_PATH, SIDECAR)
    assert session[("GET", "/auth/login")] == ("/auth/login", APP)
    middleware = {(m, p): (w, n) for m, p, w, n in expected_routes("jwt")}
    assert middleware[("GET", "/")] == ("redirect:" + BROWSER_PATH, None)
    assert ("GET", "/auth/login") not in middleware


def test_the_dapr_apis_are_the_ones_the_apps_describe_for_the_mode():
    from validate_deploy.aks_network import apis_used
    from validate_deploy.description import DescriptionError

    groups = {"GetState": "state.v1", "SaveState": "state.v1", "DeleteState": "state.v1", "GetSecret": "secrets.v1"}
    assert apis_used("frontend", "session", groups) == ({"healthz", "invoke"}, {"state.v1"})
    assert apis_used("frontend", "jwt", groups) == ({"healthz", "invoke"}, set())
    assert apis_used("backend", None, groups) == ({"healthz", "state"}, set())
    with pytest.raises(DescriptionError, match="GetState"):
        apis_used("frontend", "session", {"SaveState": "state.v1", "DeleteState": "state.v1"})


def test_what_bounds_a_slow_body_on_each_front_door():
    from validate_deploy.aks_network import slow_body_problems

    app = {"env": [{"name": "REQUEST_TIMEOUT", "value": "30s"}]}
    rule = {"matches": [{"path": {"type": "Exact", "value": "/call"}}], "backendRefs": backend()}
    for timeouts, problem in [(None, "no timeouts.request"), ({"request": "30s"}, "not longer than"),
                              ({"request": "1 minute"}, "not a Go duration"), ({"request": "40s"}, None)]:
        got = http_route([route([dict(rule, **({"timeouts": timeouts} if timeouts else {}))])], "h", "POST", "/call")
        problems = slow_body_problems("HTTPRoute", "POST", "/call", got, SIDECAR, app)
        assert (problem in problems[0]) if problem else problems == [], (timeouts, problems)

    def ingress(annotations):
        return [{"metadata": {"annotations": annotations}, "spec": {"rules": [{"host": "h", "http": {"paths": [
            {"path": "/call$", "backend": {"service": {"name": "svc", "port": {"number": 3500}}}}]}}]}}]

    buffered = nginx_route(ingress({"nginx.ingress.kubernetes.io/proxy-body-size": "1m"}), "h", "POST", "/call")
    assert slow_body_problems("Ingress", "POST", "/call", buffered, SIDECAR, app) == []
    streamed = nginx_route(ingress({"nginx.ingress.kubernetes.io/proxy-body-size": "1m",
                                    "nginx.ingress.kubernetes.io/proxy-request-buffering": "off"}), "h", "POST", "/call")
    assert "buffering is off" in slow_body_problems("Ingress", "POST", "/call", streamed, SIDECAR, app)[0]
    uncapped = nginx_route(ingress({}), "h", "POST", "/call")
    assert "no proxy-body-size" in slow_body_problems("Ingress", "POST", "/call", uncapped, "http", app)[0]


def test_header_matches_and_removed_headers():
    routes = [route([
        {"matches": [{"path": {"type": "Exact", "value": "/call"}, "method": "POST",
                      "headers": [{"name": "Authorization", "type": "RegularExpression", "value": "^Bearer .+"}]}],
         "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"remove": ["dapr-app-id"]}}],
         "backendRefs": backend()},
    ])]
    bearer = http_route(routes, "h", "POST", "/call", {"authorization": "Bearer abc"})
    assert bearer.backend == ("svc", 3500) and bearer.removed == ("dapr-app-id",)
    assert http_route(routes, "h", "POST", "/call").backend is None
    assert http_route(routes, "h", "POST", "/call", {"Authorization": "Basic ZGFwci1hcHAtaWQ6Yg=="}).backend is None
    assert http_route(routes, "h", "POST", "/call", {"Authorization": "Bearer "}).backend is None


def test_nginx_locations_as_nginx_matches_them():
    from validate_deploy.aks_frontdoor import nginx_locations, nginx_passes

    locations = nginx_locations("""
    server {
      # a comment with { a brace
      location = /v1.0/invoke/frontend/method/call {
        limit_except POST {
          deny all;
        }
        if ($http_authorization !~ "^Bearer .") {
          return 401;
        }
        proxy_pass http://127.0.0.1:3500/v1.0/invoke/frontend/method/call;
      }
      location ~ ^/page/(|app\\.js)$ {
        if ($http_authorization ~ "^Basic ") {
          return 400;
        }
        proxy_pass http://127.0.0.1:3500/v1.0/invoke/frontend/method/page/$1$is_args$args;
      }
      location / {
        return 404;
      }
    }""")
    bearer = {"Authorization": "Bearer a.b.c"}
    call = "/v1.0/invoke/frontend/method/call"
    assert nginx_passes(locations, "POST", call, bearer) == call
    assert nginx_passes(locations, "POST", call, {}) is None
    assert nginx_passes(locations, "POST", call, {"Authorization": "Basic eDp5"}) is None
    assert nginx_passes(locations, "GET", call, bearer) is None
    assert nginx_passes(locations, "GET", "/page/app.js") == "/v1.0/invoke/frontend/method/page/app.js"
    assert nginx_passes(locations, "GET", "/page/", {"Authorization": "Basic eDp5"}) is None
    assert nginx_passes(locations, "GET", "/v1.0/metadata", bearer) is None
