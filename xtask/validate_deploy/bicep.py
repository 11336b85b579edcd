"""bicep: the Container Apps Bicep (every .bicep file under deploy/aca) parses, declares no name
that hides a function it calls, its parameters files and module calls match the parameters
declared; and, from the parsed templates' dependency graph (dependsOn, parent and every
reference to a resource, module or variable, followed through variables):

- no container app is reachable from the internet before its built-in auth is on: a
  declaration that gives an app external ingress depends on that app's authConfigs, whose
  platform is enabled and which sends unauthenticated callers to the login (or 401);
- images are pulled with a managed identity, never a registry password, and a registry made
  here has its admin user off;
- no app pulls its image or reads a secret with an identity that this same deployment makes or
  grants a role to: role assignments propagate after the deployment moves on and the first
  revision fails (microsoft/azure-container-apps #646, #836); such identities must be
  `existing` (made and granted beforehand);
- Microsoft.App is used at a stable API version no older than azure-cli's containerapp module
  (azure-cli's own CURRENT_API_VERSION);
- the environment is the kind the script makes: `az containerapp env create` as
  deploy/aca/deploy.sh calls it, parsed by azure-cli, enables workload profiles (its default)
  → the template's environment declares workload profiles and every app names one;
- the sign-in client secret is a Key Vault reference, never a value in the template;
- the Dapr state store component is the one deploy/aca/statestore.yaml describes (type,
  version, initTimeout, metadata names, scopes)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from .report import fail
from .tools import REPO

ACA = REPO / "deploy/aca"
APP = "Microsoft.App/containerApps"
AUTH = "Microsoft.App/containerApps/authConfigs"


def parse(path: Path) -> dict | None:
    from pycep import BicepParser

    try:
        return BicepParser().parse(text=path.read_text())
    except Exception as error:  # pycep raises lark errors of several kinds
        fail(f"{path.relative_to(REPO)} does not parse: {error}")
        return None


class Template:
    """One parsed .bicep file: its declarations (resources and modules, by symbolic name) and
    what each depends on."""

    def __init__(self, path: Path, parsed: dict) -> None:
        self.path = path
        self.name = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else path.name
        self.parsed = parsed
        self.resources = parsed.get("resources", {})
        self.modules = parsed.get("modules", {}) or {}
        self.variables = parsed.get("variables", {}) or {}
        self.declarations = {**self.resources, **self.modules}

    def refs(self, node, seen_variables: frozenset = frozenset()) -> set[str]:
        """The declarations a value refers to, through variables."""
        from pycep.models import BicepElement

        found: set[str] = set()
        if isinstance(node, BicepElement):
            if node in self.declarations:
                found.add(str(node))
            elif node in self.variables and node not in seen_variables:
                found |= self.refs(self.variables[node].get("value"), seen_variables | {str(node)})
        elif isinstance(node, str):
            for expression in re.findall(r"\$\{([^}]*)\}", node):
                for name in re.findall(r"(?<![.\w])([A-Za-z_]\w*)", expression):
                    found |= self.refs(BicepElement(name), seen_variables)
        elif isinstance(node, dict):
            operator = node.get("operator") if isinstance(node.get("operator"), dict) else None
            if operator and operator.get("type") == "property_accessor":
                return self.refs(operator["operands"]["operand_1"], seen_variables)
            if operator and operator.get("type") == "nested_resource_accessor":
                operands = operator["operands"]
                child = f"{operands['operand_1']}__{operands['operand_2']}"
                return {child} if child in self.declarations else self.refs(operands["operand_1"], seen_variables)
            for key, value in node.items():
                found |= self.refs(key, seen_variables) | self.refs(value, seen_variables)
        elif isinstance(node, list):
            for item in node:
                found |= self.refs(item, seen_variables)
        return found

    def direct(self, symbol: str) -> set[str]:
        return self.refs(self.declarations[symbol].get("config")) - {symbol}

    def depends_on(self, symbol: str) -> set[str]:
        """Everything symbol's deployment waits for (transitively)."""
        done: set[str] = set()
        todo = list(self.direct(symbol))
        while todo:
            other = todo.pop()
            if other not in done:
                done.add(other)
                todo += list(self.direct(other))
        return done

    def values(self, node, seen_variables: frozenset = frozenset()):
        """Every object and list in a value, variables and function arguments (union(...))
        opened: what the declaration may end up sending."""
        from pycep.models import BicepElement

        if isinstance(node, BicepElement) and node in self.variables and node not in seen_variables:
            yield from self.values(self.variables[node].get("value"), seen_variables | {str(node)})
        elif isinstance(node, dict):
            yield node
            for value in node.values():
                yield from self.values(value, seen_variables)
        elif isinstance(node, list):
            for item in node:
                yield from self.values(item, seen_variables)

    def apps(self) -> list[tuple[str, str]]:
        """(symbol, app name) of the container apps each declaration deploys (a module: the
        apps its file declares)."""
        found = []
        for symbol, declaration in self.resources.items():
            if declaration.get("type") == APP and not declaration.get("existing"):
                found.append((symbol, str(body(declaration).get("name"))))
        for symbol, module in self.modules.items():
            inner = module_template(self, module)
            for _, name in (inner.apps() if inner else []):
                found.append((symbol, name))
        return found


def body(declaration: dict) -> dict:
    """A declaration's object, also when it is deployed `if (...)` (pycep nests it then)."""
    config = declaration.get("config") or {}
    return config.get("config", config) if "condition" in config else config


def module_template(template: Template, module: dict) -> Template | None:
    path = (template.path.parent / module.get("detail", {}).get("path", "")).resolve()
    if not path.is_file():
        return None
    parsed = parse(path)
    return Template(path, parsed) if parsed else None


def check_syntax(template: Template) -> None:
    # pycep checks syntax only. One mistake it lets through that the Bicep compiler rejects
    # ("... is not a function"): a parameter, variable, resource or output named like a
    # function the file calls, e.g. `resource environment` hides `environment()`.
    text = template.path.read_text()
    symbols = {name for section in ("parameters", "variables", "resources", "modules", "outputs")
               for name in (template.parsed.get(section) or {})}
    for name in sorted(symbols):
        if re.search(rf"(?<![.\w]){re.escape(name)}\(", text):
            fail(f"{template.name}: `{name}` is declared and also called as a function; "
                 f"Bicep resolves the name to the declaration (rename it, or call sys.{name}())")


def required(parameters: dict) -> set[str]:
    return {name for name, declaration in parameters.items()
            if declaration.get("default") is None and "nullable" not in json.dumps(declaration)}


def check_parameters(template: Template) -> None:
    declared = template.parsed.get("parameters", {}) or {}
    parameters_file = template.path.with_suffix(".parameters.json")
    if parameters_file.is_file():
        given = json.loads(parameters_file.read_text())["parameters"]
        for name in given:
            if name not in declared:
                fail(f"{parameters_file.name} sets {name}, which {template.path.name} does not declare")
        for name in sorted(required(declared) - set(given)):
            secure = "secure" in json.dumps(declared[name].get("decorators", []))  # given at deploy time
            if not secure:
                fail(f"{template.path.name} parameter {name} has no default and {parameters_file.name} does not set it")
    for symbol, module in template.modules.items():
        inner = module_template(template, module)
        if inner is None:
            fail(f"{template.name}: module {symbol} names {module.get('detail', {}).get('path')}, which does not exist")
            continue
        params = body(module).get("params") or {}
        inner_declared = inner.parsed.get("parameters", {}) or {}
        for name in params:
            if name not in inner_declared:
                fail(f"{template.name}: module {symbol} passes {name}, which {inner.path.name} does not declare")
        for name in sorted(required(inner_declared) - set(params)):
            fail(f"{template.name}: module {symbol} does not pass {name}, which {inner.path.name} requires")


def auth_guards(template: Template, symbol: str) -> bool:
    """An authConfigs declaration that turns the platform on and keeps anonymous callers out."""
    properties = body(template.resources[symbol]).get("properties") or {}
    action = (properties.get("globalValidation") or {}).get("unauthenticatedClientAction")
    return (properties.get("platform") or {}).get("enabled") is True and action in ("RedirectToLoginPage", "Return401")


def auth_app(template: Template, symbol: str) -> str | None:
    """The app name an authConfigs declaration belongs to (its parent's name)."""
    config = body(template.resources[symbol])
    parents = template.refs(config.get("parent")) or set(config.get("depends_on") or [])
    for parent in parents:
        declaration = template.declarations.get(str(parent), {})
        if declaration.get("type") == APP:
            return str(body(declaration).get("name"))
    return None


def check_exposure(template: Template) -> None:
    auths = {symbol: auth_app(template, symbol) for symbol, d in template.resources.items()
             if d.get("type") == AUTH and not d.get("existing")}
    for symbol, app_name in template.apps():
        config = template.declarations[symbol].get("config")
        external = any(value.get("ingress", {}).get("external") is True
                       for value in template.values(config) if isinstance(value.get("ingress"), dict))
        if not external:
            continue
        guards = [auth for auth, guarded in auths.items() if guarded == app_name and auth_guards(template, auth)]
        if not any(auth in template.depends_on(symbol) for auth in guards):
            fail(f"{template.name}: {symbol} gives app {app_name} external ingress without waiting for its "
                 f"built-in auth ({', '.join(guards) or 'no authConfigs that guards it'}): it is reachable "
                 "from the internet before the login is on")
        else:
            print(f"  ok   {template.name}: {symbol} exposes {app_name} only after {', '.join(guards)}")


def identity_uses(template: Template, symbol: str) -> set[str]:
    """The identities a declaration pulls images or reads Key Vault secrets with."""
    used: set[str] = set()
    for value in template.values(template.declarations[symbol].get("config")):
        for key in ("registries", "secrets"):
            entries = value.get(key)
            for entry in (list(template.values(entries)) if entries is not None else []):
                if isinstance(entry, dict) and "identity" in entry and (key == "registries" or "keyVaultUrl" in entry):
                    used |= template.refs(entry["identity"])
    return used


def check_identities_exist_first(template: Template) -> None:
    grants = {symbol: template.refs((body(d).get("properties") or {}).get("principalId"))
              for symbol, d in template.resources.items()
              if d.get("type", "").endswith("roleAssignments") and not d.get("existing")}
    for symbol, app_name in template.apps():
        for identity in sorted(identity_uses(template, symbol)):
            declaration = template.declarations.get(identity, {})
            if not declaration.get("existing"):
                fail(f"{template.name}: app {app_name} ({symbol}) pulls or reads secrets as identity {identity}, which this "
                     "deployment makes: its roles cannot have propagated when the first revision starts "
                     "(azure-container-apps #646, #836); make and grant it beforehand and refer to it as existing")
            for grant, principals in grants.items():
                if identity in principals:
                    fail(f"{template.name}: {grant} grants identity {identity} a role in the same deployment "
                         f"as app {app_name}, which uses it at once")


def check_registry_passwords(template: Template) -> None:
    """Images are pulled with an identity, never a registry password; a registry made here keeps
    its admin user off."""
    for symbol, app_name in template.apps():
        for value in template.values(template.declarations[symbol].get("config")):
            entries = value.get("registries")
            for entry in (list(template.values(entries)) if entries is not None else []):
                if isinstance(entry, dict) and "server" in entry and (
                        "passwordSecretRef" in entry or "username" in entry or "identity" not in entry):
                    fail(f"{template.name}: app {app_name} ({symbol}) pulls from a registry with a password, "
                         "not a managed identity")
    for symbol, declaration in template.resources.items():
        if declaration.get("type") == "Microsoft.ContainerRegistry/registries" and not declaration.get("existing"):
            if (body(declaration).get("properties") or {}).get("adminUserEnabled") is not False:
                fail(f"{template.name}: registry {symbol} does not turn its admin user off (adminUserEnabled: false)")


def azure_cli_facts() -> dict:
    """azure-cli's containerapp API version, and how `az containerapp env create` as the script
    calls it would make the environment (azure-cli's own parser and defaults)."""
    from .az import run_code_in_azure_cli
    from .shell_commands import az_command_lines

    script = (ACA / "deploy.sh").read_text()
    env_create = next((line for line in az_command_lines(script) if line[:3] == ["containerapp", "env", "create"]), None)
    program = ("import json, sys\n"
               "from azure.cli.command_modules.containerapp._clients import CURRENT_API_VERSION\n"
               "from validate_deploy.az_cli import AzParser\n"
               "line = json.loads(sys.argv[1])\n"
               "parsed = AzParser().parse(line)[1] if line else None\n"
               "print(json.dumps({'api': CURRENT_API_VERSION, 'workload_profiles': "
               "parsed['enable_workload_profiles'] if parsed else None}))\n")
    run = run_code_in_azure_cli(program, json.dumps(env_create))
    if run.returncode != 0:
        fail(f"azure-cli's facts for the Bicep check: {run.stderr.strip().splitlines()[-1:]}")
        return {}
    return json.loads(run.stdout.strip().splitlines()[-1])


def from_caller(template: Template, symbol: str) -> bool:
    """A resource whose properties are one of the file's parameters (a module's app)."""
    properties = body(template.declarations[symbol]).get("properties")
    return isinstance(properties, str) and properties in (template.parsed.get("parameters") or {})


def check_platform(template: Template, facts: dict) -> None:
    for symbol, declaration in template.resources.items():
        kind, version = declaration.get("type", ""), declaration.get("api_version", "")
        if kind.startswith("Microsoft.App/") and not declaration.get("existing"):
            if "preview" in version or (facts.get("api") and version < facts["api"]):
                fail(f"{template.name}: {symbol} uses {kind}@{version}; azure-cli's containerapp module "
                     f"uses {facts.get('api')} (a stable version no older than that)")
    if facts.get("workload_profiles"):
        for symbol, declaration in template.resources.items():
            if declaration.get("type") == "Microsoft.App/managedEnvironments" and not declaration.get("existing"):
                if not (body(declaration).get("properties") or {}).get("workloadProfiles"):
                    fail(f"{template.name}: environment {symbol} has no workloadProfiles, but the script's "
                         "`az containerapp env create` makes a workload-profiles environment (azure-cli's "
                         "default --enable-workload-profiles)")
        for symbol, app_name in template.apps():
            config = template.declarations[symbol].get("config")
            if from_caller(template, symbol):
                continue  # a module's app, judged where the module is called
            if not any("workloadProfileName" in value for value in template.values(config)):
                fail(f"{template.name}: app {app_name} ({symbol}) names no workloadProfileName")


def check_sign_in_secret(template: Template) -> None:
    for symbol, declaration in template.resources.items():
        if declaration.get("type") != AUTH:
            continue
        setting = None
        for value in template.values(body(declaration)):
            setting = value.get("clientSecretSettingName") or setting
        app_name = auth_app(template, symbol)
        for app_symbol, name in template.apps():
            if name != app_name:
                continue
            for value in template.values(template.declarations[app_symbol].get("config")):
                for secret in (value.get("secrets") if isinstance(value.get("secrets"), list) else []):
                    if isinstance(secret, dict) and secret.get("name") == setting:
                        if "value" in secret or "keyVaultUrl" not in secret:
                            fail(f"{template.name}: {app_symbol} holds the sign-in client secret {setting} as a "
                                 "value passed to the deployment, not a Key Vault reference (keyVaultUrl + identity)")


def check_state_store(template: Template) -> None:
    component = yaml.safe_load((ACA / "statestore.yaml").read_text())
    for symbol, declaration in template.resources.items():
        if declaration.get("type") != "Microsoft.App/managedEnvironments/daprComponents":
            continue
        properties = body(declaration).get("properties") or {}
        names = lambda items: sorted(str(item.get("name")) for item in items or [])  # noqa: E731
        differences = [field for field, ours, theirs in (
            ("componentType", properties.get("componentType"), component.get("componentType")),
            ("version", properties.get("version"), component.get("version")),
            ("initTimeout", properties.get("initTimeout"), component.get("initTimeout")),
            ("metadata", names(properties.get("metadata")), names(component.get("metadata"))),
            ("scopes", properties.get("scopes"), component.get("scopes"))) if ours != theirs]
        if differences:
            fail(f"{template.name}: component {symbol} differs from deploy/aca/statestore.yaml in "
                 f"{', '.join(differences)}")


def check_bicep() -> None:
    files = sorted(ACA.glob("*.bicep"))
    print(f"bicep: {', '.join(p.name for p in files)} parse; parameters and modules match; the "
          "dependency graph keeps the frontend internal until its auth is on and uses identities "
          "made beforehand")
    facts = azure_cli_facts()
    for path in files:
        parsed = parse(path)
        if parsed is None:
            continue
        template = Template(path, parsed)
        check_syntax(template)
        check_parameters(template)
        check_exposure(template)
        check_identities_exist_first(template)
        check_registry_passwords(template)
        check_platform(template, facts)
        check_sign_in_secret(template)
        check_state_store(template)
        print(f"  ok   {template.name}: {len(template.resources)} resources, {len(template.modules)} modules, "
              f"{len(parsed.get('parameters', {}))} parameters, {len(parsed.get('outputs', {}))} outputs")
