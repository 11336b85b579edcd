"""Which daprd starts the daprd check makes: each with an app id, the shipped components and
resiliency policies that apply to it, and at most one Configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .shipped import Shipped


def middleware_handlers(configuration: dict | None) -> list[dict]:
    spec = (configuration or {}).get("spec", {})
    return [handler for pipeline in ("httpPipeline", "appHttpPipeline")
            for handler in (spec.get(pipeline) or {}).get("handlers") or []]


class Run:
    """One daprd start: an app id, the components and resiliency policies that apply to it,
    and at most one Configuration."""

    def __init__(self, label: str, app_id: str, resources: list[Shipped], configuration: Shipped | None):
        self.label, self.app_id, self.configuration = label, app_id, configuration
        self.resources = [r for r in resources if r.applies_to(app_id)]
        self.namespace: str | None = None  # daprd's NAMESPACE, as Kubernetes would set it
        # Requests to send while daprd runs: (its HTTP port) -> problems found.
        self.probe: Callable[[int], list[str]] | None = None

    def components(self) -> list[dict]:
        return [r.resource for r in self.resources if r.kind == "Component"]

    def resiliencies(self) -> list[dict]:
        return [r.resource for r in self.resources if r.kind == "Resiliency"]


def plan_runs(shipped: list[Shipped]) -> list[Run]:
    """Each Configuration runs with the components of its own folder (a folder is one
    deployment's set: names may repeat across folders) and the middleware it names, found in
    its folder, else in the nearest folder (the most leading path parts in common: an AKS
    overlay's Configuration finds the base's middleware, not a local one), components/local
    first among equals. Every component and resiliency policy not loaded that way runs with the
    rest of its folder, once per app id it is scoped to."""
    runs = []
    by_folder: dict[Path, list[Shipped]] = {}
    for item in shipped:
        by_folder.setdefault(item.folder, []).append(item)
    def search_order(near: Path) -> list[Path]:
        common = lambda f: next((i for i, (a, b) in enumerate(zip(f.parts, near.parts)) if a != b),
                                min(len(f.parts), len(near.parts)))
        return sorted(by_folder, key=lambda f: (-common(f), str(f) != "components/local", str(f)))

    loaded: set[int] = set()
    for configuration in (item for item in shipped if item.kind == "Configuration"):
        app_id = "backend" if "backend" in configuration.name else "frontend"
        resources = [r for r in by_folder[configuration.folder] if r.kind != "Configuration"]
        for handler in middleware_handlers(configuration.resource):
            if any(r.kind == "Component" and r.name == handler["name"] for r in resources):
                continue
            for folder in [configuration.folder, *search_order(configuration.folder)]:
                match = [r for r in by_folder[folder] if r.kind == "Component" and r.name == handler["name"]
                         and r.resource["spec"]["type"] == handler["type"]]
                if match:
                    resources += match
                    break
        run = Run(f"{configuration.origin} as {app_id}", app_id, resources, configuration)
        loaded.update(id(r) for r in run.resources)
        runs.append(run)
    for folder, items in by_folder.items():
        rest = [r for r in items if r.kind != "Configuration" and id(r) not in loaded]
        app_ids = sorted({app for r in rest for app in r.resource.get("scopes") or ["frontend"]})
        for app_id in app_ids:
            run = Run(f"{folder}/ as {app_id}", app_id, [r for r in items if r.kind != "Configuration"], None)
            if any(id(r) not in loaded for r in run.resources):
                loaded.update(id(r) for r in run.resources)
                runs.append(run)
    return runs
