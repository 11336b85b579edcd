"""crds: every Dapr resource the project ships matches Dapr's CRD schema, with unknown fields
rejected as `kubectl apply --validate=strict` would."""

from __future__ import annotations

import copy

import jsonschema
import yaml

from .report import fail
from .shipped import Shipped
from .tools import DAPR_CRDS


def strict(schema: dict) -> dict:
    """The schema with unknown fields rejected wherever it lists the known ones."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def crd_schemas() -> dict[str, dict]:
    schemas = {}
    for path in DAPR_CRDS.glob("*.yaml"):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            for version in crd["spec"]["versions"]:
                schema = version["schema"]["openAPIV3Schema"]
                schemas[f"{crd['spec']['group']}/{version['name']}/{crd['spec']['names']['kind']}"] = strict(schema)
    return schemas


def check_crds(shipped: list[Shipped]) -> None:
    """Fields Kubernetes requires are checked only in what is applied to Kubernetes (deploy/);
    files for self-hosted daprd may leave them out."""
    print(f"crds: Dapr resources against the CRDs in {DAPR_CRDS} (unknown fields rejected)")
    schemas = crd_schemas()
    for item in shipped:
        origin, resource = item.origin, item.resource
        key = f"{resource['apiVersion']}/{resource['kind']}"
        if key not in schemas:
            fail(f"{origin}: no Dapr CRD for {key}")
            continue
        errors = sorted(jsonschema.Draft7Validator(schemas[key]).iter_errors(resource), key=str)
        if not str(item.path).startswith("deploy/"):
            errors = [e for e in errors if e.validator != "required"]
        for error in errors:
            fail(f"{origin}: {'/'.join(map(str, error.absolute_path))}: {error.message}")
        if not errors:
            print(f"  ok   {origin}")
