"""`dapr-pair describe` as the deploy checks read it (description.py): the real one has what
they need, and one lacking a field fails loudly instead of letting a check pass on nothing."""

from __future__ import annotations

import copy
import json

import pytest

from validate_deploy import description
from validate_deploy.description import DescriptionError, parse


def test_the_apps_description_has_what_the_checks_read():
    assert description.required_settings("session") >= {"OIDC_ISSUER", "OIDC_CLIENT_ID", "SESSION_ENCRYPTION_KEY"}
    assert description.required_settings("off") == set()
    assert description.setting_default("SHUTDOWN_TIMEOUT", "backend") == "10s"
    assert description.setting_default("SESSION_STORE") == "sessionstore"
    assert description.setting("OIDC_CLIENT_SECRET")["secret"] is True
    assert ("POST", "/call", None) in description.routes("frontend")
    assert ("GET", "/healthz", None) not in description.routes("frontend")  # a probe, not a route of its own


@pytest.mark.parametrize("path", [
    ("frontend",), ("backend", "settings"), ("frontend", "required_settings"), ("frontend", "probes", "readiness"),
    ("frontend", "routes", 0, "methods"), ("backend", "dapr_apis", 1, "path"), ("frontend", "state_stores", 0, "default"),
])
def test_a_description_lacking_a_field_the_checks_read_is_refused(path):
    broken = copy.deepcopy(description.description())
    parent = broken
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    with pytest.raises(DescriptionError, match=r"lacks .*" + ".".join(str(p) for p in path if not isinstance(p, int))
                       .replace(".", r".*")):
        parse(json.dumps(broken))


def test_an_unknown_auth_mode_or_setting_is_an_error_not_an_empty_answer():
    with pytest.raises(DescriptionError, match="AUTH_MODE=sesion"):
        description.required_settings("sesion")
    with pytest.raises(DescriptionError, match="NO_SUCH_SETTING"):
        description.setting_default("NO_SUCH_SETTING")
    with pytest.raises(DescriptionError, match="no JSON"):
        parse("dapr-pair: say which service to run")
