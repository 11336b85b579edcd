"""What the apps say of themselves: `dapr-pair describe` (image/src/main.rs) prints, for the
frontend and the backend, their routes, their settings with defaults, the settings each auth
mode does not start without, and the Dapr APIs and state stores they call, all from the
definitions the apps run with (clap's settings, the route tables the routers are tested
against, the constants their sidecar calls are built from). The deploy checks read that, not
the Rust source, so a reworded message or a reformatted route cannot mislead them.

`cargo xtask validate-deploy` runs the binary once and passes its JSON in
DAPR_PAIR_DESCRIPTION; without it (pytest or `python -m validate_deploy` by hand) it is run
here. A description lacking what the checks read fails loudly (DescriptionError)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
SERVICES = ("frontend", "backend")
# What the checks read of each service, and of each item of its lists.
FIELDS = {"routes": list, "probes": dict, "settings": list, "required_settings": dict, "dapr_apis": list,
          "state_stores": list}
ITEM_FIELDS = {"routes": ("path", "methods", "probe"), "settings": ("env", "default", "secret"),
               "dapr_apis": ("protocol",), "state_stores": ("setting", "default")}
PROBES = ("liveness", "readiness")
API_FIELD = {"http": "path", "grpc": "method"}


class DescriptionError(RuntimeError):
    pass


def parse(text: str) -> dict:
    """The description, once it is known to have every field the checks read."""
    try:
        described = json.loads(text)
    except ValueError as error:
        raise DescriptionError(f"`dapr-pair describe` printed no JSON ({error})") from None
    missing = []
    for service in SERVICES:
        entry = described.get(service) if isinstance(described, dict) else None
        if not isinstance(entry, dict):
            missing.append(service)
            continue
        for field, kind in FIELDS.items():
            if not isinstance(entry.get(field), kind):
                missing.append(f"{service}.{field}")
        for field, keys in ITEM_FIELDS.items():
            for index, item in enumerate(entry.get(field) or []):
                missing += [f"{service}.{field}[{index}].{key}" for key in keys if key not in item]
        missing += [f"{service}.probes.{probe}" for probe in PROBES if probe not in (entry.get("probes") or {})]
        for index, api in enumerate(entry.get("dapr_apis") or []):
            if API_FIELD.get(api.get("protocol"), "protocol") not in api:
                missing.append(f"{service}.dapr_apis[{index}].{API_FIELD.get(api.get('protocol'), 'protocol')}")
    if missing:
        raise DescriptionError("`dapr-pair describe` lacks what the deploy checks read: " + ", ".join(missing))
    return described


@functools.cache
def description() -> dict:
    text = os.environ.get("DAPR_PAIR_DESCRIPTION")
    if text is None:
        text = subprocess.run(["cargo", "run", "--quiet", "--package", "dapr-pair-image", "--", "describe"],
                              cwd=REPO, capture_output=True, text=True, check=True).stdout
    return parse(text)


def setting(name: str, service: str = "frontend") -> dict:
    """One setting of a service, by its environment variable."""
    found = next((item for item in description()[service]["settings"] if item["env"] == name), None)
    if found is None:
        raise DescriptionError(f"`dapr-pair describe` has no setting {name} for the {service}")
    return found


def setting_default(name: str, service: str = "frontend") -> str | None:
    """A setting's default as clap gives it; the settings both services share (service-kit's)
    are the same on either."""
    return setting(name, service)["default"]


def required_settings(auth_mode: str, service: str = "frontend") -> set[str]:
    """What start-up refuses to go without in that auth mode."""
    required = description()[service]["required_settings"]
    if auth_mode not in required:
        raise DescriptionError(f"`dapr-pair describe` says nothing of AUTH_MODE={auth_mode} "
                               f"(it knows {sorted(required)})")
    return set(required[auth_mode])


def in_mode(item: dict, auth_mode: str | None) -> bool:
    """Whether a route or an API exists in the auth mode (all of them: None)."""
    modes = item.get("auth_modes")
    return modes is None or auth_mode is None or auth_mode in modes


def routes(service: str = "frontend") -> list[tuple[str, str, list[str] | None]]:
    """(method, path, the auth modes it exists in or None for all) of each route of the
    service's own, its health probes left out."""
    return [(method, route["path"], route.get("auth_modes"))
            for route in description()[service]["routes"] if not route["probe"]
            for method in route["methods"]]


def probes(service: str = "frontend") -> tuple[str, str]:
    """(liveness, readiness): the health routes every service has."""
    entry = description()[service]["probes"]
    return entry["liveness"], entry["readiness"]


def dapr_apis(service: str, auth_mode: str | None) -> tuple[set[str], set[str]]:
    """The Dapr APIs the service calls in the auth mode: over HTTP the names of their paths
    (`/v1.0/state` is `state`), over gRPC the methods of Dapr's service (`GetState`)."""
    http, grpc = set(), set()
    for api in description()[service]["dapr_apis"]:
        if not in_mode(api, auth_mode):
            continue
        if api["protocol"] == "http":
            http.add(api["path"].removeprefix("/v1.0/").split("/")[0])
        else:
            grpc.add(api["method"].rsplit("/", 1)[-1])
    return http, grpc
