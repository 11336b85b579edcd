"""daprd: every Dapr Component, Configuration and Resiliency the project ships is loaded by the
real daprd in self-hosted mode, placeholders substituted, and daprd reports no error; every
middleware a Configuration's pipeline names is really in it (daprd skips a missing one
silently); and the AKS frontend's sidecar answers as the ingress needs (aks_entry.py)."""

from __future__ import annotations

import concurrent.futures
import copy
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from .aks_entry import aks_entry_probe, front_doors
from .daprd_runs import Run, middleware_handlers, plan_runs
from .loopback import LoopbackServer, free_port, stop_process
from .placeholders import STAND_IN_SECRET, stand_in

# An AES-256 key in hex, as `primaryEncryptionKey` takes one (the session store's).
STAND_IN_AES_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
from .report import fail
from .shipped import DAPR_FOLDERS, Shipped
from .tools import DAPRD, REPO


def offline(resource: dict, loopback: LoopbackServer, refused_port: int) -> dict:
    """What daprd can load without Azure: Entra URLs point at the loopback OpenID provider
    (done by substitute for placeholders, here for the fixed host); a Cosmos DB store gets a
    loopback address where nothing listens, and a stand-in key, so it fails exactly where it
    would first talk to Azure and nowhere before."""
    resource = yaml.safe_load(yaml.safe_dump(resource).replace(
        "https://login.microsoftonline.com/", loopback.base + "/"))
    spec = resource.get("spec", {})
    if spec.get("type") == "state.azure.cosmosdb":
        for item in spec["metadata"]:
            if item["name"] == "url":
                item["value"] = f"https://127.0.0.1:{refused_port}/"
        if not any(item["name"] == "masterKey" for item in spec["metadata"]):
            spec["metadata"].append({"name": "masterKey", "value": STAND_IN_SECRET})
        spec["initTimeout"] = "5s"
    return resource


# A Cosmos DB store connects at start; offline the connection is refused. That error, for that
# component, is the only one allowed, and it proves daprd got as far as connecting.
CONNECTS_AT_START = {"state.azure.cosmosdb": r"connection refused"}


def stand_in_secret(field: str) -> str:
    """A stand-in for the secret a component's `field` reads: Dapr's state encryption keys
    (`primaryEncryptionKey`, `secondaryEncryptionKey`) are hex AES keys, which daprd refuses
    to load otherwise; other secrets are any text."""
    return STAND_IN_AES_KEY if field.endswith("EncryptionKey") else STAND_IN_SECRET


def secret_store_for(components: list[dict], work: Path) -> list[dict]:
    """Self-hosted daprd has no Kubernetes secret store: every store a component reads a
    secretKeyRef from (`kubernetes` unless it names one) that no shipped component provides
    becomes a file secret store serving stand-in values under the same names and keys."""
    stores: dict[str, dict] = {}
    defined = {c["metadata"]["name"] for c in components}
    for component in components:
        for item in component.get("spec", {}).get("metadata", []):
            ref = item.get("secretKeyRef")
            if ref:
                store = (component.get("auth") or {}).get("secretStore", "kubernetes")
                component.setdefault("auth", {"secretStore": store})
                if store not in defined:
                    stores.setdefault(store, {}).setdefault(ref["name"], {})[ref.get("key", ref["name"])] = \
                        stand_in_secret(item["name"])
    added = []
    for store, secrets in stores.items():
        (work / f"{store}.json").write_text(json.dumps(secrets))
        added.append({"apiVersion": "dapr.io/v1alpha1", "kind": "Component", "metadata": {"name": store},
                      "spec": {"type": "secretstores.local.file", "version": "v1", "metadata": [
                          {"name": "secretsFile", "value": str(work / f"{store}.json")},
                          {"name": "multiValued", "value": "true"}]}})
    return added


def offline_configuration(configuration: dict) -> dict:
    """A Configuration as daprd can run it here: no trace collector (an empty address; the
    shipped ones are cluster DNS names), else daprd's exporter, retrying spans it cannot send,
    holds up daprd's shutdown."""
    configuration = copy.deepcopy(configuration)
    otel = configuration.get("spec", {}).get("tracing", {}).get("otel")
    if otel:
        otel["endpointAddress"] = ""
    return configuration


def environment_for(components: list[dict], identity_provider: str) -> dict[str, str]:
    """What the local login files read from daprd's environment: each `envRef` gets a stand-in
    (URLs and the issuer: the loopback provider), and each secret read from an environment
    secret store (`secretstores.local.env` with a prefix) a stand-in secret."""
    env = {}
    prefixes = {}
    for component in components:
        spec = component.get("spec", {})
        if spec.get("type") == "secretstores.local.env":
            prefix = next((i.get("value", "") for i in spec.get("metadata", []) if i["name"] == "prefix"), "")
            prefixes[component["metadata"]["name"]] = prefix
    for component in components:
        store = (component.get("auth") or {}).get("secretStore")
        for item in component.get("spec", {}).get("metadata", []):
            if "envRef" in item:
                env[item["envRef"]] = stand_in(item["envRef"], identity_provider)
            ref = item.get("secretKeyRef")
            if ref and store in prefixes:
                # Dapr's state encryption keys are hex AES keys; other secrets are any text.
                env[prefixes[store] + ref.get("key", ref["name"])] = stand_in_secret(item["name"])
    return env


def run_daprd(run: Run, loopback: LoopbackServer, refused_port: int) -> None:
    with tempfile.TemporaryDirectory(prefix="validate-daprd-") as work:
        work = Path(work)
        resources = work / "resources"
        resources.mkdir()
        components = [offline(c, loopback, refused_port) for c in run.components()]
        all_resources = components + secret_store_for(components, work) + run.resiliencies()
        for index, resource in enumerate(all_resources):
            (resources / f"{index}.yaml").write_text(yaml.safe_dump(resource))
        http_port = free_port()
        command = [DAPRD, "--app-id", run.app_id, "--resources-path", str(resources),
                   "--app-port", str(loopback.port), "--dapr-http-port", str(http_port),
                   "--dapr-grpc-port", str(free_port()), "--dapr-internal-grpc-port", str(free_port()),
                   "--metrics-port", str(free_port()), "--log-as-json", "--log-level", "debug"]
        if run.configuration is not None:
            (work / "config.yaml").write_text(yaml.safe_dump(offline_configuration(run.configuration.resource)))
            command += ["--config", str(work / "config.yaml")]
        log_path = work / "daprd.log"
        with open(log_path, "w") as log:
            # daprd's working folder is the temporary one: the local files' relative paths
            # (SQLite databases) land there.
            env = {k: v for k, v in os.environ.items() if not k.startswith("DAPR_") and k != "NAMESPACE"}
            if run.namespace:
                env["NAMESPACE"] = run.namespace
            env.update(environment_for(components, loopback.base + "/stand-in-issuer"))
            process = subprocess.Popen(command, cwd=work, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if "dapr initialized. Status: Running" in log_path.read_text():
                break
            time.sleep(0.2)
        probe_problems = []
        if run.probe is not None:
            if process.poll() is None:
                probe_problems = run.probe(http_port)
            else:
                probe_problems = ["daprd was not running, so the requests were not sent"]
        stop_process(process, grace=10)
        lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
        judge(run, components, lines, probe_problems)


def judge(run: Run, components: list[dict], lines: list[dict], probe_problems: list[str]) -> None:
    messages = [(line.get("level"), line.get("msg", "")) for line in lines]
    running = any("dapr initialized. Status: Running" in msg for _, msg in messages)
    problems = list(probe_problems)
    expected_failures = {}
    for component in components:
        name, kind = component["metadata"]["name"], component["spec"]["type"]
        log_name = f"{name} ({kind}/{component['spec']['version']})"
        if kind in CONNECTS_AT_START:
            expected_failures[log_name] = CONNECTS_AT_START[kind]
        elif not any(msg == f"Component loaded: {log_name}" for _, msg in messages):
            problems.append(f"no 'Component loaded: {log_name}'")
    for level, msg in messages:
        allowed = any(log_name in msg and re.search(pattern, msg)
                      for log_name, pattern in expected_failures.items())
        # After the expected failure, daprd says it exits because of it.
        allowed = allowed or (expected_failures and level == "fatal"
                              and any(log_name.split(" ")[0] in msg for log_name in expected_failures))
        if level in ("error", "fatal") and not allowed:
            problems.append(f"daprd {level}: {msg}")
    for log_name, pattern in expected_failures.items():
        if not any(log_name in msg and re.search(pattern, msg) for _, msg in messages):
            problems.append(f"{log_name}: expected it to get as far as connecting ({pattern}), "
                            "but daprd did not say so")
    if not expected_failures and not running:
        problems.append("daprd did not reach 'dapr initialized. Status: Running'")
    for resource in run.resiliencies():
        if not any(f"Loading Resiliency configuration: {resource['metadata']['name']}" in msg for _, msg in messages):
            problems.append(f"no sign daprd loaded resiliency {resource['metadata']['name']}")
    if run.configuration is not None:
        if not any("Loading config from file(s): " in msg for _, msg in messages):
            problems.append("no sign daprd loaded the configuration")
        # daprd skips a pipeline's middleware that is not loaded, silently: a login or token
        # check that is not there would let everyone in.
        versions = {(c["metadata"]["name"], c["spec"]["type"]): c["spec"]["version"] for c in components}
        for handler in middleware_handlers(run.configuration.resource):
            version = versions.get((handler["name"], handler["type"]))
            if version is None:
                problems.append(f"the pipeline names middleware {handler['name']} ({handler['type']}), "
                                "which no shipped component scoped to this app defines")
            elif not any(msg == f"Adding {handler['type']}/{version} {handler['name']} middleware"
                         for _, msg in messages):
                problems.append(f"daprd did not add middleware {handler['name']} ({handler['type']})")
    for problem in problems:
        fail(f"daprd {run.label}: {problem}")
    if not problems:
        loaded = ", ".join(f"{r.kind} {r.name}" for r in run.resources) or "no components"
        print(f"  ok   {run.label}: {loaded}")


def check_daprd(shipped: list[Shipped], loopback: LoopbackServer) -> None:
    print(f"daprd: loading every Dapr resource under {', '.join(DAPR_FOLDERS)} with {DAPRD}")
    runs = plan_runs(shipped)
    covered = {id(r) for run in runs for r in run.resources} | {id(run.configuration) for run in runs}
    for item in shipped:
        if id(item) not in covered:
            fail(f"{item.origin} is in no daprd run")
    namespace = yaml.safe_load((REPO / "deploy/aks/kustomization.yaml").read_text())["namespace"]
    doors = front_doors()
    probed = set()
    for run in runs:
        if run.configuration is not None and str(run.configuration.folder).startswith("deploy/aks"):
            run.namespace = namespace
            served = [door for door in doors if door.serves(run.configuration.resource)]
            if run.app_id == "frontend" and served:
                run.probe = aks_entry_probe(loopback, served)
                probed |= {door.label for door in served}
    for door in doors:
        if door.label not in probed:
            fail(f"daprd: no shipped frontend Configuration is the one AKS {door.label} renders: its entry "
                 "check did not run")
    refused_port = free_port()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda run: run_daprd(run, loopback, refused_port), runs))
