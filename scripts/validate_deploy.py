"""Checks the deploy files offline with real tools (run by scripts/validate-deploy.sh, which
installs them and passes their paths in the environment):

  az       every `az` command and flag in the deploy scripts and the README exists in the
           pinned azure-cli (`az <command> --help` works without a network)
  aks      the kustomization renders (deploy/aks/render.sh) and passes
           `kubernetes-validate --strict`; Dapr's own kinds are unknown to it and are checked
           by the next step instead
  crds     every Dapr resource the project ships matches Dapr's CRD schema, with unknown
           fields rejected as `kubectl apply --validate=strict` would
  daprd    every Dapr Component, Configuration and Resiliency is loaded by the real daprd
           in self-hosted mode, placeholders substituted, and daprd reports no error
  bicep    deploy/aca/main.bicep parses, and its parameters file names only declared
           parameters and gives every one without a default

Each check prints what it looked at; any failure makes the script exit non-zero.
"""

from __future__ import annotations

import concurrent.futures
import copy
import http.server
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import jsonschema
import yaml

REPO = Path(__file__).resolve().parent.parent
AZ = os.environ["AZ"]
KUSTOMIZE = os.environ["KUSTOMIZE"]
KUBERNETES_VALIDATE = os.environ["KUBERNETES_VALIDATE"]
DAPRD = os.environ["DAPRD"]
DAPR_CRDS = Path(os.environ["DAPR_CRDS"])

# Stand-ins for the values a reader supplies (README, "Deploy to AKS" and deploy.sh).
PLACEHOLDERS = {
    "IMAGE": "example.azurecr.io/dapr-pair:1.0.0",
    "HOST": "dapr-pair.example.com",
    "AZURE_TENANT_ID": "11111111-1111-1111-1111-111111111111",
    "LOGIN_CLIENT_ID": "22222222-2222-2222-2222-222222222222",
    "BACKEND_IDENTITY_CLIENT_ID": "33333333-3333-3333-3333-333333333333",
    "COSMOS_URL": "https://dapr-pair-example.documents.azure.com:443/",
}
DAPR_KINDS = {"Component", "Configuration", "Resiliency"}

failures: list[str] = []


def fail(message: str) -> None:
    failures.append(message)
    print(f"  FAIL {message}")


def substitute(text: str, values: dict[str, str] = PLACEHOLDERS) -> str:
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    leftover = re.search(r"\$\{[A-Z_]+\}", text)
    if leftover:
        raise ValueError(f"placeholder {leftover.group(0)} has no stand-in value")
    return text


# ---------------------------------------------------------------------------------------- az


def az_invocations(text: str) -> list[tuple[list[str], list[str]]]:
    """(command words, flags) of every `az ...` in shell text or a README's code."""
    text = text.replace("\\\n", " ")
    found = []
    for match in re.finditer(r"(?:^|[\s;|&(`])az((?:\s+[a-z][a-z0-9-]*)+)([^\n;|&`]*)", text, re.M):
        words = match.group(1).split()
        rest, quote = match.group(2), None
        for index, char in enumerate(rest):  # the command ends at an unquoted `)`
            if quote:
                quote = None if char == quote else quote
            elif char in "\"'":
                quote = char
            elif char == ")":
                rest = rest[:index]
                break
        # A README sentence such as "az login first" is not a command we use: commands we use
        # have at least one flag, or are a known flagless one.
        flags = re.findall(r"(?:^|\s)(--[a-z][a-z0-9-]*)", rest)
        if flags or words in (["login"],):
            found.append((words, flags))
    return found


def az_help(words: tuple[str, ...]) -> tuple[int, str]:
    run = subprocess.run([AZ, *words, "--help"], capture_output=True, text=True,
                         env={**os.environ, "AZURE_CORE_COLLECT_TELEMETRY": "false",
                              "AZURE_CORE_NO_COLOR": "true"})
    return run.returncode, run.stdout + run.stderr


def check_az() -> None:
    print("az: commands and flags against azure-cli", subprocess.run(
        [AZ, "version", "--query", '"azure-cli"', "--output", "tsv"],
        capture_output=True, text=True).stdout.strip())
    sources = [REPO / "README.md", *sorted((REPO / "deploy").rglob("*.sh")),
               *sorted((REPO / ".github").rglob("*.yml"))]
    uses: dict[tuple[str, ...], set[str]] = {}
    for source in sources:
        for words, flags in az_invocations(source.read_text()):
            uses.setdefault(tuple(words), set()).update(flags)
    if not uses:
        fail("no az commands found: the extractor is broken")
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        helps = dict(zip(uses, pool.map(az_help, uses)))
    for words, flags in sorted(uses.items()):
        code, help_text = helps[words]
        command = "az " + " ".join(words)
        if code != 0 or "Arguments" not in help_text and "Global Arguments" not in help_text:
            fail(f"{command}: not an az command ({help_text.strip().splitlines()[-1:]})")
            continue
        known = set(re.findall(r"^\s{4}(--[a-z0-9-]+(?:\s+-{1,2}[a-z0-9-]+)*)", help_text, re.M))
        known = {flag for line in known for flag in line.split()}
        missing = sorted(flag for flag in flags if flag not in known)
        if missing:
            fail(f"{command}: no such flag(s) {' '.join(missing)}")
        else:
            print(f"  ok   {command} {' '.join(sorted(flags))}")


# --------------------------------------------------------------------------------------- aks


def render_aks() -> list[dict]:
    run = subprocess.run(["bash", str(REPO / "deploy/aks/render.sh")], capture_output=True,
                         text=True, env={**os.environ, **PLACEHOLDERS,
                                         "KUSTOMIZE": f"{KUSTOMIZE} build"})
    if run.returncode != 0:
        fail(f"deploy/aks/render.sh failed: {run.stderr.strip()}")
        return []
    return [doc for doc in yaml.safe_load_all(run.stdout) if doc]


def check_aks(documents: list[dict]) -> None:
    print("aks: kustomize build + kubernetes-validate --strict")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as rendered:
        yaml.safe_dump_all(documents, rendered)
    run = subprocess.run([KUBERNETES_VALIDATE, "--strict", rendered.name],
                         capture_output=True, text=True)
    os.unlink(rendered.name)
    passed = 0
    for line in (run.stdout + run.stderr).splitlines():
        if line.startswith("INFO") and " passed " in line:
            passed += 1
        elif re.match(r"WARN .*Couldn't find schema for kind (\w+) with api version dapr\.io/v1alpha1", line):
            continue
        elif line.strip():
            fail(f"kubernetes-validate: {line}")
    kubernetes_kinds = [d for d in documents if d["kind"] not in DAPR_KINDS]
    if passed != len(kubernetes_kinds):
        fail(f"kubernetes-validate passed {passed} of {len(kubernetes_kinds)} Kubernetes resources")
    else:
        print(f"  ok   {passed} Kubernetes resources ({', '.join(sorted({d['kind'] for d in kubernetes_kinds}))})")


# -------------------------------------------------------------------------------------- crds


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


def check_crds(resources: list[tuple[str, dict]]) -> None:
    """Fields Kubernetes requires are checked only in what is applied to Kubernetes (AKS and,
    by Container Apps, the translated component); self-hosted files may leave them out."""
    print(f"crds: Dapr resources against the CRDs in {DAPR_CRDS} (unknown fields rejected)")
    schemas = crd_schemas()
    for origin, resource in resources:
        key = f"{resource['apiVersion']}/{resource['kind']}"
        if key not in schemas:
            fail(f"{origin}: no Dapr CRD for {key}")
            continue
        errors = sorted(jsonschema.Draft7Validator(schemas[key]).iter_errors(resource), key=str)
        if origin.startswith(("components/", "dapr-config/")):
            errors = [e for e in errors if e.validator != "required"]
        for error in errors:
            fail(f"{origin}: {'/'.join(map(str, error.absolute_path))}: {error.message}")
        if not errors:
            print(f"  ok   {origin}")


# ------------------------------------------------------------------------------------- daprd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackServer:
    """One loopback HTTP server for daprd's runs: it is the app (200 to everything) and an
    OpenID provider's discovery document and key set, standing in for Microsoft Entra ID."""

    def __init__(self) -> None:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                base = f"http://127.0.0.1:{server.port}"
                if self.path.endswith("/.well-known/openid-configuration"):
                    issuer = base + self.path.removesuffix("/.well-known/openid-configuration")
                    body = {"issuer": issuer, "jwks_uri": base + "/keys"}
                elif self.path == "/keys":
                    body = {"keys": []}
                else:
                    body = {}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_PUT = do_DELETE = do_GET

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()


def aca_to_kubernetes(aca: dict, name: str) -> dict:
    """A Container Apps environment component in Dapr's own (Kubernetes) form."""
    spec = {"type": aca["componentType"], "version": aca["version"], "metadata": aca.get("metadata", [])}
    for field in ("ignoreErrors", "initTimeout"):
        if field in aca:
            spec[field] = aca[field]
    resource = {"apiVersion": "dapr.io/v1alpha1", "kind": "Component", "metadata": {"name": name}, "spec": spec}
    if aca.get("scopes"):
        resource["scopes"] = aca["scopes"]
    if aca.get("secrets"):
        fail("the Container Apps component has secrets: translate them to a secret store")
    return resource


def offline(resource: dict, loopback: LoopbackServer, refused_port: int) -> dict:
    """What daprd can load without Azure: Entra URLs point at the loopback OpenID provider; a
    Cosmos DB store gets a loopback address where nothing listens, and a stand-in key, so it
    fails exactly where it would first talk to Azure and nowhere before."""
    text = yaml.safe_dump(resource).replace(
        "https://login.microsoftonline.com/", f"http://127.0.0.1:{loopback.port}/")
    resource = yaml.safe_load(text)
    spec = resource.get("spec", {})
    if any("secretKeyRef" in item for item in spec.get("metadata", [])):
        # Kubernetes reads secretKeyRef from its own secret store by default; self-hosted daprd
        # has no default, so name the stand-in store that run_daprd provides.
        resource.setdefault("auth", {"secretStore": "kubernetes"})
    if spec.get("type") == "state.azure.cosmosdb":
        for item in spec["metadata"]:
            if item["name"] == "url":
                item["value"] = f"https://127.0.0.1:{refused_port}/"
        spec["metadata"].append({"name": "masterKey", "value": "c3RhbmQtaW4ta2V5"})
        spec["initTimeout"] = "5s"
    return resource


# A Cosmos DB store connects at start; offline the connection is refused. That error, for that
# component, is the only one allowed, and it proves daprd got as far as connecting.
CONNECTS_AT_START = {"state.azure.cosmosdb": r"connection refused"}


def run_daprd(label: str, app_id: str, components: list[dict], configuration: dict | None,
              resiliency: list[dict], loopback: LoopbackServer) -> None:
    with tempfile.TemporaryDirectory(prefix="validate-daprd-") as work:
        work = Path(work)
        resources = work / "resources"
        resources.mkdir()
        secrets = {}
        for resource in components + resiliency:
            for item in resource.get("spec", {}).get("metadata", []):
                ref = item.get("secretKeyRef")
                if ref:
                    secrets.setdefault(ref["name"], {})[ref.get("key", ref["name"])] = "stand-in-secret"
        all_resources = list(components) + list(resiliency)
        if secrets:
            # In Kubernetes, secretKeyRef reads Kubernetes secrets; here a file secret store of
            # the default name serves stand-in values for the same names and keys.
            (work / "secrets.json").write_text(json.dumps(secrets))
            all_resources.append({"apiVersion": "dapr.io/v1alpha1", "kind": "Component",
                                  "metadata": {"name": "kubernetes"},
                                  "spec": {"type": "secretstores.local.file", "version": "v1", "metadata": [
                                      {"name": "secretsFile", "value": str(work / "secrets.json")},
                                      {"name": "multiValued", "value": "true"}]}})
        for index, resource in enumerate(all_resources):
            (resources / f"{index}.yaml").write_text(yaml.safe_dump(resource))
        command = [DAPRD, "--app-id", app_id, "--resources-path", str(resources),
                   "--app-port", str(loopback.port), "--dapr-http-port", str(free_port()),
                   "--dapr-grpc-port", str(free_port()), "--dapr-internal-grpc-port", str(free_port()),
                   "--metrics-port", str(free_port()), "--log-as-json", "--log-level", "debug"]
        if configuration is not None:
            (work / "config.yaml").write_text(yaml.safe_dump(configuration))
            command += ["--config", str(work / "config.yaml")]
        log_path = work / "daprd.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(command, cwd=work, stdout=log, stderr=subprocess.STDOUT,
                                       env={k: v for k, v in os.environ.items() if not k.startswith("DAPR_")})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if "dapr initialized. Status: Running" in log_path.read_text():
                break
            time.sleep(0.2)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
        judge(label, components, configuration, resiliency, lines)


def judge(label, components, configuration, resiliency, lines) -> None:
    messages = [(line.get("level"), line.get("msg", "")) for line in lines]
    running = any("dapr initialized. Status: Running" in msg for _, msg in messages)
    problems = []
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
        allowed = allowed or (expected_failures and "daprd will exit gracefully" in msg
                              and any(n.split(" ")[0] in msg for n in expected_failures))
        if level in ("error", "fatal") and not allowed:
            problems.append(f"daprd {level}: {msg}")
        elif "isn't loaded" in msg or "not found" in msg.lower() and "middleware" in msg.lower():
            problems.append(f"daprd: {msg}")
    for log_name, pattern in expected_failures.items():
        if not any(log_name in msg and re.search(pattern, msg) for _, msg in messages):
            problems.append(f"{log_name}: expected it to get as far as connecting ({pattern}), "
                            "but daprd did not say so")
    if not expected_failures and not running:
        problems.append("daprd did not reach 'dapr initialized. Status: Running'")
    for resource in resiliency:
        if not any(f"Resiliency configuration loaded: {resource['metadata']['name']}" in msg
                   or f"Loading Resiliency configuration: {resource['metadata']['name']}" in msg
                   for _, msg in messages):
            problems.append(f"no sign daprd loaded resiliency {resource['metadata']['name']}")
    if configuration is not None and not any(
            "Loading config from file(s): " in msg for _, msg in messages):
        problems.append("no sign daprd loaded the configuration")
    for problem in problems:
        fail(f"daprd {label}: {problem}")
    if not problems:
        print(f"  ok   {label}")


def check_daprd(aks: list[dict]) -> list[tuple[str, dict]]:
    """Loads every Dapr file; returns them (with where they came from) for the CRD check."""
    print(f"daprd: loading every Dapr resource with {DAPRD}")
    local_components = [yaml.safe_load(p.read_text()) for p in sorted((REPO / "components/local").glob("*.yaml"))]
    local_configs = {p.stem: yaml.safe_load(p.read_text()) for p in sorted((REPO / "dapr-config").glob("*.yaml"))}
    aca_component = aca_to_kubernetes(
        yaml.safe_load(substitute((REPO / "deploy/aca/statestore.yaml").read_text())), "statestore")
    shipped = [(f"components/local/{c['metadata']['name']}", c) for c in local_components]
    shipped += [(f"dapr-config/{name}.yaml", c) for name, c in local_configs.items()]
    shipped += [(f"deploy/aks {d['kind']} {d['metadata']['name']}", d) for d in aks if d["kind"] in DAPR_KINDS]
    shipped += [("deploy/aca/statestore.yaml (as a Kubernetes Component)", aca_component)]

    def for_app(resources: list[dict], app_id: str) -> list[dict]:
        return [r for r in resources if not r.get("scopes") or app_id in r["scopes"]]

    loopback = LoopbackServer()
    refused_port = free_port()
    try:
        runs = []
        for name, config in local_configs.items():
            app_id = name if name in ("frontend", "backend") else "frontend"
            runs.append((f"local {name}", app_id, for_app(local_components, app_id), config, []))
        aks_by_kind = {kind: [offline(d, loopback, refused_port) for d in aks if d["kind"] == kind]
                       for kind in DAPR_KINDS}
        aks_configs = {d["metadata"]["name"]: d for d in aks_by_kind["Configuration"]}
        for app_id in ("frontend", "backend"):
            runs.append((f"aks {app_id}", app_id, for_app(aks_by_kind["Component"], app_id),
                         aks_configs[app_id], for_app(aks_by_kind["Resiliency"], app_id)))
        runs.append(("aca statestore", "backend", [offline(aca_component, loopback, refused_port)], None, []))
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda run: run_daprd(*run, loopback), runs))
    finally:
        loopback.stop()
    return shipped


# ------------------------------------------------------------------------------------- bicep


def check_bicep() -> None:
    from pycep import BicepParser

    print("bicep: deploy/aca/main.bicep parses; parameters file matches")
    bicep = REPO / "deploy/aca/main.bicep"
    try:
        parsed = BicepParser().parse(text=bicep.read_text())
    except Exception as error:  # pycep raises lark errors of several kinds
        fail(f"{bicep.relative_to(REPO)} does not parse: {error}")
        return
    declared = parsed.get("parameters", {})
    parameters_file = REPO / "deploy/aca/main.parameters.json"
    given = json.loads(parameters_file.read_text())["parameters"]
    for name in given:
        if name not in declared:
            fail(f"{parameters_file.name} sets {name}, which main.bicep does not declare")
    for name, declaration in declared.items():
        secure = "secure" in json.dumps(declaration.get("decorators", []))  # passed at deploy time
        if declaration.get("default") is None and name not in given and not secure:
            fail(f"main.bicep parameter {name} has no default and {parameters_file.name} does not set it")
    print(f"  ok   {len(parsed.get('resources', {}))} resources, {len(declared)} parameters, "
          f"{len(parsed.get('outputs', {}))} outputs")


def main() -> int:
    checks = sys.argv[1:] or ["az", "aks", "crds", "daprd", "bicep"]
    aks = render_aks() if {"aks", "crds", "daprd"} & set(checks) else []
    if "aks" in checks:
        check_aks(aks)
    shipped = check_daprd(aks) if "daprd" in checks else []
    if "crds" in checks:
        check_crds(shipped)
    if "bicep" in checks:
        check_bicep()
    if "az" in checks:
        check_az()
    if failures:
        print(f"validate-deploy: {len(failures)} failure(s)")
        return 1
    print("validate-deploy: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
