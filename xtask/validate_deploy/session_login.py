"""What the frontend needs to guard itself with AUTH_MODE=session (the Container Apps deploy files
give it external ingress without built-in auth in that mode), as the frontend itself says, not
listed here: the settings its start-up refuses to go without (`dapr-pair describe`,
description.py), and the session store component
(deploy/aca/sessionstore.yaml: its database and container, so its identity's data role can be
checked to be scoped to that container). Pure functions, for the tools' Python and azure-cli's."""

from __future__ import annotations

from pathlib import Path

import yaml

from . import description

REPO = Path(__file__).resolve().parent.parent.parent
SESSION_STORE = REPO / "deploy/aca/sessionstore.yaml"


def required_settings() -> set[str]:
    """The settings AUTH_MODE=session does not start without: the session login's, and the
    issuer and audience the bearer check of /call needs."""
    return description.required_settings("session")


def missing_settings(env: list[dict], secrets: list[dict], required: set[str]) -> list[str]:
    """What an app's container env (Container Apps' form: name + value or secretRef) lacks for
    AUTH_MODE=session: each required setting with a value, or a secretRef to a secret the app
    has; [] when it is complete. An app not in session mode lacks AUTH_MODE=session."""
    given = {item.get("name"): item for item in env or [] if isinstance(item, dict)}
    if (given.get("AUTH_MODE") or {}).get("value") != "session":
        return ["AUTH_MODE=session"]
    secret_names = {secret.get("name") for secret in secrets or [] if isinstance(secret, dict)}
    missing = []
    for name in sorted(required):
        item = given.get(name) or {}
        if not (item.get("value") or item.get("secretRef") in secret_names):
            missing.append(name)
    return missing


def session_store() -> dict:
    """deploy/aca/sessionstore.yaml as written (Container Apps' schema)."""
    return yaml.safe_load(SESSION_STORE.read_text())


def metadata_value(component: dict, name: str):
    return next((item.get("value") for item in component.get("metadata") or [] if item.get("name") == name), None)


def sessions_scope(component: dict | None = None) -> str:
    """The data-plane path of the session store's container: `/dbs/DB/colls/CONTAINER`."""
    component = component or session_store()
    return f"/dbs/{metadata_value(component, 'database')}/colls/{metadata_value(component, 'collection')}"
