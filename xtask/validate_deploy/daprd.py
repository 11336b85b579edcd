"""Checks the deploy files offline with real tools (run by scripts/validate-deploy.sh, which
installs them and passes their paths in the environment):

  az       every `az` command and flag in the deploy scripts, the README and the workflows
           exists in the pinned azure-cli (`az <command> --help` works without a network)
  aks      the kustomization renders (deploy/aks/render.sh) and passes
           `kubernetes-validate --strict`; Dapr's own kinds are unknown to it and are checked
           by the next step instead
  crds     every Dapr resource the project ships matches Dapr's CRD schema, with unknown
           fields rejected as `kubectl apply --validate=strict` would
  daprd    every Dapr Component, Configuration and Resiliency under components/, dapr-config/
           and deploy/ (Container Apps components as az would send them, with no key dropped,
           then translated) is loaded by the real daprd
           in self-hosted mode, placeholders substituted, and daprd reports no error; every
           middleware a Configuration's pipeline names is really in it (daprd skips a
           missing one silently); and the AKS frontend's sidecar, asked the way the ingress
           asks it, answers the API path with 401/200 by token and the browsers' path with a
           redirect to the sign-in page
  bicep    deploy/aca/main.bicep parses, declares no name that hides a function it calls, and
           its parameters file names only declared parameters and gives every one without a
           default

Each check prints what it looked at; any failure makes the script exit non-zero.
"""

from __future__ import annotations

import base64
import concurrent.futures
import copy
import http.client
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Callable

import jsonschema
import yaml

REPO = Path(__file__).resolve().parent.parent
AZ = os.environ["AZ"]
KUSTOMIZE = os.environ["KUSTOMIZE"]
KUBERNETES_VALIDATE = os.environ["KUBERNETES_VALIDATE"]
DAPRD = os.environ["DAPRD"]
DAPR_CRDS = Path(os.environ["DAPR_CRDS"])

# Stand-ins for the values a reader supplies (README, "Deploy to AKS", and deploy.sh). The Dapr
# files use `${NAME}` (deploy/) or `{{NAME}}` (components/); a name not listed here gets a
# stand-in by its kind (see stand_in).
PLACEHOLDERS = {
    "IMAGE": "example.azurecr.io/dapr-pair:1.0.0",
    "HOST": "dapr-pair.example.com",
    "AZURE_TENANT_ID": "11111111-1111-1111-1111-111111111111",
    "LOGIN_CLIENT_ID": "22222222-2222-2222-2222-222222222222",
    "BACKEND_IDENTITY_CLIENT_ID": "33333333-3333-3333-3333-333333333333",
    "COSMOS_URL": "https://dapr-pair-example.documents.azure.com:443/",
}
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}|\{\{\s*([A-Z][A-Z0-9_]*)\s*\}\}")
DAPR_KINDS = {"Component", "Configuration", "Resiliency"}
# Where the project keeps Dapr files; every YAML file below them is looked at.
DAPR_FOLDERS = ("components", "dapr-config", "deploy")
STAND_IN_SECRET = "c3RhbmQtaW4ta2V5"  # base64, as a key would be

failures: list[str] = []


def fail(message: str) -> None:
    failures.append(message)
    print(f"  FAIL {message}")


def stand_in(name: str, identity_provider: str) -> str:
    """A value for a placeholder: the listed one, else one of the right shape by its name."""
    if name in PLACEHOLDERS:
        return PLACEHOLDERS[name]
    if re.search(r"URL|URI|ISSUER|ENDPOINT|AUTHORITY", name):
        return identity_provider  # a discovery document and key set answer there
    if name.endswith("_ID"):
        return "44444444-4444-4444-4444-444444444444"
    if "SECRET_STORE" in name:
        return "stand-in-secrets"  # provided by run_daprd as a file secret store
    return "stand-in"


def substitute(text: str, identity_provider: str = "http://127.0.0.1:9/stand-in") -> str:
    return PLACEHOLDER.sub(lambda m: stand_in(m.group(1) or m.group(2), identity_provider), text)


# ---------------------------------------------------------------------------------------- az


def shell_segments(text: str) -> list[str]:
    """Shell text split into its command substitutions, each `$(...)` on its own and replaced
    by a word in the text around it, so that `az a --x "$(az b --y)"` gives `az a --x "W"` and
    `az b --y`. Comments are dropped; quotes are followed as far as finding commands needs."""
    segments, stack, quotes, depths = [], [[]], [None], [0]
    i = 0
    while i < len(text):
        char, quote = text[i], quotes[-1]
        if quote == "'":
            quotes[-1] = None if char == "'" else quote
        elif text.startswith("$(", i) and not text.startswith("$((", i):
            stack.append([]), quotes.append(None), depths.append(0)
            i += 2
            continue
        elif quote == '"':
            quotes[-1] = None if char == '"' else quote
        elif char in "'\"":
            quotes[-1] = char
        elif char == "#" and (i == 0 or text[i - 1] in " \t\n"):
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
            continue
        elif char == "(":
            depths[-1] += 1
        elif char == ")" and depths[-1]:
            depths[-1] -= 1
        elif char == ")" and len(stack) > 1:
            segments.append("".join(stack.pop()))
            quotes.pop(), depths.pop()
            stack[-1].append("W")
            i += 1
            continue
        stack[-1].append(char)
        i += 1
    return segments + ["".join(chars) for chars in stack]


def az_invocations(text: str) -> list[tuple[list[str], list[str]]]:
    """(command words, flags) of every `az ...` in shell text."""
    found = []
    for segment in shell_segments(text.replace("\\\n", " ")):
        for match in re.finditer(r"(?:^|[\s;|&`])az((?:\s+[a-z][a-z0-9-]*)+)([^\n;|&`]*)", segment, re.M):
            words = match.group(1).split()
            # A sentence such as "az login first" is not a command we use: commands we use
            # have at least one flag, or are a known flagless one.
            flags = re.findall(r"(?:^|\s)(--[a-z][a-z0-9-]*)", match.group(2))
            if flags or words in (["login"],):
                found.append((words, flags))
    return found


def markdown_code(text: str) -> str:
    """The code of a Markdown file: fenced blocks and inline code spans, one per line."""
    fence = r"^[ \t]*```[a-z]*\n(.*?)^[ \t]*```"
    blocks = re.findall(fence, text, re.M | re.S)
    spans = re.findall(r"`([^`\n]+)`", re.sub(fence, "", text, flags=re.M | re.S))
    return "\n".join(blocks + spans)


# Flags a command has but refuses: `az containerapp up` stops with "Argument --output is not
# allowed" (azure-cli's containerapp/_up_utils.py, _validate_up_args), which --help does not say.
REFUSED_FLAGS = {("containerapp", "up"): {"--output", "--only-show-errors"}}


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
        text = source.read_text()
        for words, flags in az_invocations(markdown_code(text) if source.suffix == ".md" else text):
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
        refused = sorted(flags & REFUSED_FLAGS.get(words, set()))
        if missing:
            fail(f"{command}: no such flag(s) {' '.join(missing)}")
        elif refused:
            fail(f"{command}: refuses {' '.join(refused)}")
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


# ------------------------------------------------------------------------------------- daprd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackServer:
    """One loopback HTTP server for daprd's runs: it is the app (200 and the path it was
    called with) and an OpenID provider's discovery document and key set, standing in for
    Microsoft Entra ID. Its RSA key (made with openssl) signs the tokens of the AKS entry
    check."""

    def __init__(self) -> None:
        server = self
        self.work = tempfile.TemporaryDirectory(prefix="validate-idp-")
        self.key = Path(self.work.name) / "key.pem"
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", str(self.key)], check=True, capture_output=True)
        modulus = subprocess.run(["openssl", "rsa", "-in", str(self.key), "-noout", "-modulus"], check=True,
                                 capture_output=True, text=True).stdout.strip().split("=", 1)[1]
        jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "stand-in", "e": "AQAB",
               "n": b64url(bytes.fromhex(modulus))}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.endswith("/.well-known/openid-configuration"):
                    issuer = server.base + self.path.removesuffix("/.well-known/openid-configuration")
                    body = {"issuer": issuer, "jwks_uri": server.base + "/keys"}
                elif self.path == "/keys":
                    body = {"keys": [jwk]}
                else:
                    body = {"path": self.path}
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
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(self, claims: dict) -> str:
        """An RS256 JWT with these claims, signed with the key the key set publishes."""
        signing_input = ".".join(b64url(json.dumps(part).encode()) for part in (
            {"alg": "RS256", "typ": "JWT", "kid": "stand-in"}, claims))
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                                   input=signing_input.encode(), check=True, capture_output=True).stdout
        return signing_input + "." + b64url(signature)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.work.cleanup()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


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


def aca_to_kubernetes(aca: dict, name: str) -> dict:
    """A Container Apps environment component, as az sends it, in Dapr's own form."""
    spec = {"type": aca.get("componentType"), "version": aca.get("version"),
            "metadata": [{k: v for k, v in item.items() if v is not None} for item in aca.get("metadata") or []]}
    for field in ("ignoreErrors", "initTimeout"):
        if field in aca:
            spec[field] = aca[field]
    resource = {"apiVersion": "dapr.io/v1alpha1", "kind": "Component", "metadata": {"name": name}, "spec": spec}
    if aca.get("scopes"):
        resource["scopes"] = aca["scopes"]
    if aca.get("secrets") or aca.get("secretStoreComponent"):
        fail(f"Container Apps component {name} has secrets: translate them to a secret store")
    return resource


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
                    found.append(Shipped(path, aca_to_kubernetes(sent, path.stem)))
    return found


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
    its folder, else in components/local, else anywhere. Every component and resiliency policy
    not loaded that way runs with the rest of its folder, once per app id it is scoped to."""
    runs = []
    by_folder: dict[Path, list[Shipped]] = {}
    for item in shipped:
        by_folder.setdefault(item.folder, []).append(item)
    search_order = sorted(by_folder, key=lambda f: (str(f) != "components/local", str(f)))
    loaded: set[int] = set()
    for configuration in (item for item in shipped if item.kind == "Configuration"):
        app_id = "backend" if "backend" in configuration.name else "frontend"
        resources = [r for r in by_folder[configuration.folder] if r.kind != "Configuration"]
        for handler in middleware_handlers(configuration.resource):
            if any(r.kind == "Component" and r.name == handler["name"] for r in resources):
                continue
            for folder in [configuration.folder, *search_order]:
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
                    stores.setdefault(store, {}).setdefault(ref["name"], {})[ref.get("key", ref["name"])] = STAND_IN_SECRET
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
                env[prefixes[store] + ref.get("key", ref["name"])] = STAND_IN_SECRET
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
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
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


def aks_entry_probe(loopback: LoopbackServer) -> Callable[[int], list[str]]:
    """What the AKS ingress relies on, asked of the frontend's real daprd with the shipped
    frontend Configuration and middleware (in the namespace of the kustomization, Entra ID
    played by the loopback provider): the ingress's API path (its rewrite target) is not sent
    to a sign-in page but needs a valid token, which reaches the app; the browsers' path is
    sent to the sign-in page with the shipped client id and redirect address."""
    ingresses = [d for d in yaml.safe_load_all(substitute((REPO / "deploy/aks/ingress.yaml").read_text()))
                 if d and d.get("kind") == "Ingress"]
    api_path = next(i["metadata"]["annotations"]["nginx.ingress.kubernetes.io/rewrite-target"]
                    for i in ingresses if "nginx.ingress.kubernetes.io/rewrite-target" in i["metadata"]["annotations"])
    browser_path = next(path["path"].replace("\\", "") for i in ingresses for rule in i["spec"]["rules"]
                        for path in rule["http"]["paths"] if path["path"].startswith("/v1"))
    issuer = f"{loopback.base}/{PLACEHOLDERS['AZURE_TENANT_ID']}/v2.0"
    audience = PLACEHOLDERS["LOGIN_CLIENT_ID"]
    now = int(time.time())
    valid = {"iss": issuer, "aud": audience, "sub": "someone", "iat": now, "nbf": now, "exp": now + 600}

    def request(port: int, method: str, path: str, token: str | None = None) -> tuple[int, dict, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
        connection.request(method, path, body=b"{}" if method == "POST" else None, headers=headers)
        response = connection.getresponse()
        result = response.status, dict(response.getheaders()), response.read()
        connection.close()
        return result

    def probe(port: int) -> list[str]:
        problems = []
        expectations = [
            ("no token", None, 401),
            ("a valid token", loopback.token(valid), 200),
            ("a token for another audience", loopback.token(valid | {"aud": "someone-else"}), 401),
            ("an expired token", loopback.token(valid | {"exp": now - 3600, "nbf": now - 7200}), 401),
        ]
        for what, token, expected in expectations:
            status, _, body = request(port, "POST", api_path, token)
            if status != expected:
                problems.append(f"POST {api_path} with {what}: {status}, expected {expected} ({body[:200]!r})")
            elif expected == 200 and json.loads(body).get("path") != "/call":
                problems.append(f"POST {api_path} reached the app as {body!r}, not /call")
        status, headers, _ = request(port, "GET", browser_path)
        location = urllib.parse.urlsplit(headers.get("Location", ""))
        query = urllib.parse.parse_qs(location.query)
        if status != 302 or not location.path.endswith("/oauth2/v2.0/authorize"):
            problems.append(f"GET {browser_path}: {status} to {headers.get('Location')!r}, "
                            "expected a redirect to the sign-in page")
        elif query.get("client_id") != [audience] or query.get("redirect_uri") != [
                f"https://{PLACEHOLDERS['HOST']}{browser_path}"]:
            problems.append(f"GET {browser_path}: the sign-in redirect has client_id {query.get('client_id')} "
                            f"and redirect_uri {query.get('redirect_uri')}")
        if not problems:
            print(f"  ok   aks entry: {api_path} 401 without a token, 200 with a valid one, 401 for another "
                  f"audience or expired; {browser_path} redirects to sign-in")
        return problems

    return probe


def check_daprd(shipped: list[Shipped], loopback: LoopbackServer) -> None:
    print(f"daprd: loading every Dapr resource under {', '.join(DAPR_FOLDERS)} with {DAPRD}")
    runs = plan_runs(shipped)
    covered = {id(r) for run in runs for r in run.resources} | {id(run.configuration) for run in runs}
    for item in shipped:
        if id(item) not in covered:
            fail(f"{item.origin} is in no daprd run")
    namespace = yaml.safe_load((REPO / "deploy/aks/kustomization.yaml").read_text())["namespace"]
    for run in runs:
        if run.configuration is not None and str(run.configuration.folder).startswith("deploy/aks"):
            run.namespace = namespace
            if run.app_id == "frontend":
                run.probe = aks_entry_probe(loopback)
    if not any(run.probe for run in runs):
        fail("no daprd run for the AKS frontend Configuration: the entry check did not run")
    refused_port = free_port()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda run: run_daprd(run, loopback, refused_port), runs))


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
    # pycep checks syntax only. One mistake it lets through that the Bicep compiler rejects
    # ("... is not a function"): a parameter, variable, resource or output named like a
    # function the file calls, e.g. `resource environment` hides `environment()`.
    symbols = {name for section in ("parameters", "variables", "resources", "outputs")
               for name in parsed.get(section, {})}
    for name in sorted(symbols):
        if re.search(rf"(?<![.\w]){re.escape(name)}\(", bicep.read_text()):
            fail(f"{bicep.relative_to(REPO)}: `{name}` is declared and also called as a function; "
                 f"Bicep resolves the name to the declaration (rename it, or call sys.{name}())")
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
    loopback = LoopbackServer()
    try:
        shipped = shipped_dapr_resources(loopback.base + "/stand-in-issuer")
        if "aks" in checks:
            check_aks(render_aks())
        if "crds" in checks:
            check_crds(shipped)
        if "daprd" in checks:
            check_daprd(shipped, loopback)
    finally:
        loopback.stop()
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
