"""The Dapr resources the project ships, as crds and daprd check them: every Component,
Configuration and Resiliency in a YAML file under components/, dapr-config/ and deploy/,
placeholders substituted; Container Apps components as az would send them (no key may be
dropped on the way), translated to Dapr's form."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import yaml

from .placeholders import substitute
from .report import fail
from .tools import AZ, REPO

DAPR_KINDS = {"Component", "Configuration", "Resiliency"}
# Where the project keeps Dapr files; every YAML file below them is looked at.
DAPR_FOLDERS = ("components", "dapr-config", "deploy")

# What `az containerapp env dapr-component set --yaml FILE` does with the file before sending
# it (azure-cli's create_or_update_dapr_component), run with azure-cli's own Python: keys its
# model does not know are dropped without a word, so they are found by comparing.
AZ_DAPR_COMPONENT = """
import json, sys
from azure.cli.command_modules.containerapp.custom import load_yaml_file, create_deserializer
from azure.cli.command_modules.containerapp._utils import (
    _convert_object_from_snake_to_camel_case, _object_to_dict, _remove_additional_attributes,
    _remove_dapr_readonly_attributes)
sent = _convert_object_from_snake_to_camel_case(
    _object_to_dict(create_deserializer()("DaprComponent", load_yaml_file(sys.argv[1]))))
_remove_additional_attributes(sent)
_remove_dapr_readonly_attributes(sent)
print(json.dumps(sent))
"""


def dropped_keys(given, sent, path: str = "") -> list[str]:
    if isinstance(given, dict):
        return [lost for key, value in given.items()
                for lost in ([path + key] if not isinstance(sent, dict) or sent.get(key) is None
                             else dropped_keys(value, sent[key], f"{path}{key}."))]
    if isinstance(given, list) and isinstance(sent, list):
        return [lost for index, value in enumerate(given)
                for lost in dropped_keys(value, sent[index] if index < len(sent) else None, f"{path}{index}.")]
    return []


def aca_component_as_sent(path: Path, text: str) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        file.write(text)
        file.flush()
        run = subprocess.run([str(Path(AZ).parent / "python"), "-c", AZ_DAPR_COMPONENT, file.name],
                             capture_output=True, text=True)
    if run.returncode != 0:
        fail(f"{path.relative_to(REPO)}: az would refuse it: {run.stderr.strip().splitlines()[-1:]}")
        return {}
    sent = json.loads(run.stdout)
    for key in dropped_keys(yaml.safe_load(text), sent):
        fail(f"{path.relative_to(REPO)}: az drops `{key}` without a word (not in Container Apps' schema)")
    return {key: value for key, value in sent.items() if value is not None}


def aca_to_kubernetes(aca: dict, name: str) -> list[dict]:
    """A Container Apps environment component, as az sends it, in Dapr's own form. Its own
    secrets (`secrets`, read by `secretRef`) become a secret store of the same scopes that only
    it reads: Dapr's environment-variable store, so daprd gets a stand-in of the right form
    (daprd.environment_for); a secretRef to a secret the component does not have fails."""
    secrets = {secret.get("name") for secret in aca.get("secrets") or []}
    store = f"{name}-secrets"
    metadata = []
    for item in aca.get("metadata") or []:
        item = {k: v for k, v in item.items() if v is not None}
        if "secretRef" in item:
            if item["secretRef"] not in secrets:
                fail(f"Container Apps component {name}: {item['name']} reads secret {item['secretRef']}, "
                     "which the component does not have")
            ref = item.pop("secretRef")
            item["secretKeyRef"] = {"name": ref, "key": ref}
        metadata.append(item)
    spec = {"type": aca.get("componentType"), "version": aca.get("version"), "metadata": metadata}
    for field in ("ignoreErrors", "initTimeout"):
        if field in aca:
            spec[field] = aca[field]
    resource = {"apiVersion": "dapr.io/v1alpha1", "kind": "Component", "metadata": {"name": name}, "spec": spec}
    if aca.get("scopes"):
        resource["scopes"] = aca["scopes"]
    if aca.get("secretStoreComponent"):
        fail(f"Container Apps component {name} reads a secret store component: translate it")
    if not secrets:
        return [resource]
    resource["auth"] = {"secretStore": store}
    secret_store = {"apiVersion": "dapr.io/v1alpha1", "kind": "Component", "metadata": {"name": store},
                    "spec": {"type": "secretstores.local.env", "version": "v1", "metadata": [
                        {"name": "prefix", "value": f"{name.upper()}_SECRET_"}]}}
    if aca.get("scopes"):
        secret_store["scopes"] = aca["scopes"]
    return [resource, secret_store]


class Shipped:
    """One Dapr resource the project ships, placeholders substituted, and where it is."""

    def __init__(self, path: Path, resource: dict) -> None:
        self.path = path.relative_to(REPO)
        self.folder = self.path.parent
        self.resource = resource
        self.kind = resource["kind"]
        self.name = resource["metadata"]["name"]

    @property
    def origin(self) -> str:
        return f"{self.path} ({self.kind} {self.name})"

    def applies_to(self, app_id: str) -> bool:
        scopes = self.resource.get("scopes")
        return not scopes or app_id in scopes


def shipped_dapr_resources(identity_provider: str) -> list[Shipped]:
    """Every Dapr resource in a YAML file below DAPR_FOLDERS; Container Apps components (their
    own schema, no apiVersion) are translated to Dapr's form and named after their file."""
    found = []
    for folder in DAPR_FOLDERS:
        for path in sorted((REPO / folder).rglob("*.y*ml")):
            text = substitute(path.read_text(), identity_provider)
            for document in yaml.safe_load_all(text):
                if not isinstance(document, dict):
                    continue
                if str(document.get("apiVersion", "")).startswith("dapr.io/") and document.get("kind") in DAPR_KINDS:
                    found.append(Shipped(path, document))
                elif "componentType" in document:
                    sent = aca_component_as_sent(path, text)
                    found += [Shipped(path, resource) for resource in aca_to_kubernetes(sent, path.stem)]
    return found
