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
- each Dapr component is the one deploy/aca/<its name>.yaml describes (type, version,
  initTimeout, metadata names and secret references, secret names, scopes);
- an app may instead guard itself (AUTH_MODE=session with every setting its start-up needs,
  read from frontend/src: session_login.py); then the session store's identity has Cosmos DB
  roles (base.bicep) scoped to the store's container only, and that container has TTL on.

A template with `@allowed` parameters (login: builtin or session) is judged once for each of
their values, its conditions (`if (...)`, `a ? b : c`) decided for that value."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import yaml

from .report import fail
from .rollout import aca_problems, budget_summary
from .session_login import missing_settings, required_settings, sessions_scope
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


UNKNOWN = object()


def choices(parsed: dict) -> list[dict]:
    """Every combination of the values of the parameters declared with @allowed([...])."""
    combinations: list[dict] = [{}]
    for name, declaration in sorted((parsed.get("parameters") or {}).items()):
        allowed = next((d.get("argument") for d in declaration.get("decorators") or []
                        if d.get("type") == "allowed"), None)
        if allowed:
            combinations = [{**c, name: value} for c in combinations for value in allowed]
    return combinations


def specialize(parsed: dict, given: dict) -> dict:
    """The template as deployed with these parameter values: each condition that they decide
    (`if (...)` on a declaration, `a ? b : c` anywhere) replaced by what it selects, a
    declaration whose condition is false left out."""
    from pycep.models import BicepElement

    variables = parsed.get("variables") or {}

    def evaluate(node, seen: frozenset = frozenset()):
        if isinstance(node, BicepElement):
            if str(node) in given:
                return given[str(node)]
            if node in variables and node not in seen:
                return evaluate(variables[node].get("value"), seen | {str(node)})
            return UNKNOWN
        if isinstance(node, (str, bool, int)):
            return node
        operator = node.get("operator") if isinstance(node, dict) else None
        if not isinstance(operator, dict):
            return UNKNOWN
        operands = {k: evaluate(v, seen) for k, v in operator.get("operands", {}).items()}
        if UNKNOWN in operands.values():
            return UNKNOWN
        kind = operator.get("type")
        if kind == "equals":
            return operands["operand_1"] == operands["operand_2"]
        if kind == "not_equals":
            return operands["operand_1"] != operands["operand_2"]
        if kind == "not":
            return not operands["bool_value"]
        if kind == "and":
            return all(operands.values())
        if kind == "or":
            return any(operands.values())
        if kind == "conditional":
            return operands["true_value"] if operands["condition"] else operands["false_value"]
        return UNKNOWN

    def rewrite(node):
        if isinstance(node, dict):
            operator = node.get("operator")
            if isinstance(operator, dict) and operator.get("type") == "conditional":
                decided = evaluate(operator["operands"]["condition"])
                if decided is not UNKNOWN:
                    chosen = operator["operands"]["true_value" if decided else "false_value"]
                    if isinstance(chosen, BicepElement) and chosen in variables:  # inlined
                        chosen = variables[chosen].get("value")
                    return rewrite(chosen)
            return {key: rewrite(value) for key, value in node.items()}
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    result = copy.deepcopy(parsed)
    result["variables"] = {name: rewrite(v) for name, v in (result.get("variables") or {}).items()}
    for section in ("resources", "modules", "outputs"):
        kept = {}
        for symbol, declaration in (result.get(section) or {}).items():
            config = declaration.get("config") if isinstance(declaration, dict) else None
            if isinstance(config, dict) and "condition" in config:
                decided = evaluate(config["condition"])
                if decided is False:
                    continue
                if decided is True:
                    declaration = {**declaration, "config": config["config"]}
            kept[symbol] = rewrite(declaration)
        if section in result:
            result[section] = kept
    # A dependsOn on a declaration left out is no dependency.
    for section in ("resources", "modules"):
        for declaration in (result.get(section) or {}).values():
            config = body(declaration)
            if isinstance(config.get("depends_on"), list):
                config["depends_on"] = [d for d in config["depends_on"]
                                        if str(d) in result.get("resources", {}) or str(d) in result.get("modules", {})]
    return result


class Template:
    """One parsed .bicep file: its declarations (resources and modules, by symbolic name) and
    what each depends on; `given` names the @allowed parameter values it was specialized for."""

    def __init__(self, path: Path, parsed: dict, given: dict | None = None) -> None:
        self.path = path
        self.name = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else path.name
        if given:
            self.name += " (" + ", ".join(f"{k}={v}" for k, v in given.items()) + ")"
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


def app_env(template: Template, config) -> tuple[list[dict], list[dict]]:
    """(env items, secrets) a declaration gives its app's containers, variables and function
    arguments (concat, union) opened."""
    env, secrets = [], []
    for value in template.values(config):
        if "env" in value:
            env += [item for item in template.values(value["env"]) if "name" in item]
        if isinstance(value.get("secrets"), (list, str, dict)):
            secrets += [item for item in template.values(value["secrets"]) if "name" in item]
    return env, secrets


def guards_itself(template: Template, symbol: str, required: set[str]) -> bool:
    """The app signs browsers in itself (AUTH_MODE=session) with every setting it needs."""
    env, secrets = app_env(template, template.declarations[symbol].get("config"))
    return not missing_settings(env, secrets, required)


def check_exposure(template: Template) -> None:
    auths = {symbol: auth_app(template, symbol) for symbol, d in template.resources.items()
             if d.get("type") == AUTH and not d.get("existing")}
    required = required_settings()
    for symbol, app_name in template.apps():
        config = template.declarations[symbol].get("config")
        external = any(value.get("ingress", {}).get("external") is True
                       for value in template.values(config) if isinstance(value.get("ingress"), dict))
        if not external:
            continue
        guards = [auth for auth, guarded in auths.items() if guarded == app_name and auth_guards(template, auth)]
        if guards_itself(template, symbol, required):
            print(f"  ok   {template.name}: {symbol} exposes {app_name}, which signs browsers in itself "
                  f"(AUTH_MODE=session, {', '.join(sorted(required))})")
        elif not any(auth in template.depends_on(symbol) for auth in guards):
            missing = missing_settings(*app_env(template, config), required)
            fail(f"{template.name}: {symbol} gives app {app_name} external ingress without waiting for its "
                 f"built-in auth ({', '.join(guards) or 'no authConfigs that guards it'}), and the app does "
                 f"not guard itself (it lacks {', '.join(missing)}): it is reachable from the internet "
                 "before the login is on")
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
    """The secrets a sign-in reads (built-in auth's clientSecretSettingName, the app's own
    OIDC_CLIENT_SECRET and SESSION_ENCRYPTION_KEY) are Key Vault references."""
    settings: dict[str, set[str]] = {}  # app name -> secret names
    for symbol, declaration in template.resources.items():
        if declaration.get("type") == AUTH:
            for value in template.values(body(declaration)):
                if value.get("clientSecretSettingName"):
                    settings.setdefault(auth_app(template, symbol), set()).add(value["clientSecretSettingName"])
    for app_symbol, name in template.apps():
        env, secrets = app_env(template, template.declarations[app_symbol].get("config"))
        names = settings.get(name, set()) | {item["secretRef"] for item in env
                                             if item.get("name") in ("OIDC_CLIENT_SECRET", "SESSION_ENCRYPTION_KEY")
                                             and "secretRef" in item}
        for secret in secrets:
            if secret.get("name") in names and ("value" in secret or "keyVaultUrl" not in secret):
                fail(f"{template.name}: {app_symbol} holds the sign-in secret {secret['name']} as a "
                     "value passed to the deployment, not a Key Vault reference (keyVaultUrl + identity)")


def check_dapr_components(template: Template) -> None:
    """Each Dapr component is the one of deploy/aca/<its name>.yaml, which deploy.sh sets."""
    for symbol, declaration in template.resources.items():
        if declaration.get("type") != "Microsoft.App/managedEnvironments/daprComponents":
            continue
        name = str(body(declaration).get("name"))
        path = ACA / f"{name}.yaml"
        if not path.is_file():
            fail(f"{template.name}: component {symbol} ({name}) has no deploy/aca/{name}.yaml, which deploy.sh sets")
            continue
        component = yaml.safe_load(path.read_text())
        properties = body(declaration).get("properties") or {}
        names = lambda items: sorted(str(item.get("name")) for item in items or [])  # noqa: E731
        refs = lambda items: sorted(f"{item.get('name')}<-{item['secretRef']}"  # noqa: E731
                                    for item in items or [] if "secretRef" in item)
        differences = [field for field, ours, theirs in (
            ("componentType", properties.get("componentType"), component.get("componentType")),
            ("version", properties.get("version"), component.get("version")),
            ("initTimeout", properties.get("initTimeout"), component.get("initTimeout")),
            ("metadata", names(properties.get("metadata")), names(component.get("metadata"))),
            ("secret references", refs(properties.get("metadata")), refs(component.get("metadata"))),
            ("secrets", names(properties.get("secrets")), names(component.get("secrets"))),
            ("scopes", properties.get("scopes"), component.get("scopes"))) if ours != theirs]
        if differences:
            fail(f"{template.name}: component {symbol} differs from deploy/aca/{name}.yaml in "
                 f"{', '.join(differences)}")
        for secret in template.values(properties.get("secrets")):
            if "name" in secret and ("value" in secret or "keyVaultUrl" not in secret):
                fail(f"{template.name}: component {symbol}'s secret {secret['name']} is a value passed to the "
                     "deployment, not a Key Vault reference (keyVaultUrl + identity)")


def metadata_of(template: Template, properties: dict) -> dict:
    return {str(item.get("name")): item.get("value") for item in template.values(properties.get("metadata"))
            if "name" in item}


def check_session_store(main: Template, base: Template | None) -> None:
    """The session store's identity (its azureClientId, an identity base.bicep makes and
    grants) has Cosmos DB data roles scoped to the store's container only, and base.bicep makes
    that container with TTL on (its records carry ttlInSeconds)."""
    for symbol, declaration in main.resources.items():
        properties = body(declaration).get("properties") or {}
        if (declaration.get("type") != "Microsoft.App/managedEnvironments/daprComponents"
                or properties.get("componentType") != "state.azure.cosmosdb"
                or str(body(declaration).get("name")) != "sessionstore"):
            continue
        if base is None:
            fail(f"{main.name}: component {symbol} has no base.bicep (same parameters) to make its container and role")
            return
        metadata = metadata_of(main, properties)
        scope = sessions_scope({"metadata": [{"name": k, "value": v} for k, v in metadata.items()]})
        identities = [str(body(main.declarations[ref]).get("name")) for ref in main.refs(metadata.get("azureClientId"))
                      if main.declarations[ref].get("type") == "Microsoft.ManagedIdentity/userAssignedIdentities"]
        made = {symbol_: str(body(d).get("name")) for symbol_, d in base.resources.items()
                if d.get("type") == "Microsoft.ManagedIdentity/userAssignedIdentities"}
        roles = [(role, body(d).get("properties") or {}) for role, d in base.resources.items()
                 if d.get("type", "").endswith("sqlRoleAssignments")
                 and any(made.get(ref) in identities for ref in base.refs((body(d).get("properties") or {}).get("principalId")))]
        if not identities or not roles:
            fail(f"{main.name}: component {symbol} signs in as {', '.join(identities) or 'no identity'}, which "
                 f"{base.name} grants no Cosmos DB data role")
        for role, role_properties in roles:
            granted = role_properties.get("scope")
            if isinstance(granted, str):  # `${database.name}`: that declaration's name
                granted = re.sub(r"\$\{(\w+)\.name\}", lambda m: str(body(base.declarations[m.group(1)]).get("name"))
                                 if m.group(1) in base.declarations else m.group(0), granted)
            if not (isinstance(granted, str) and granted.endswith(scope)):
                fail(f"{base.name}: {role} grants the session store's identity ({', '.join(identities)}) a Cosmos DB "
                     f"role on {granted if isinstance(granted, str) else 'the whole account'}, wider than its "
                     f"container ({scope})")
            else:
                print(f"  ok   {base.name}: {role} scopes the session store's identity to {scope}")
        containers = [body(d) for d in base.resources.values()
                      if d.get("type", "").endswith("sqlDatabases/containers")
                      and str(body(d).get("name")) == metadata.get("collection")]
        resource = ((containers[0].get("properties") or {}).get("resource") or {}) if containers else {}
        if not containers:
            fail(f"{base.name}: no container {metadata.get('collection')} for component {symbol}")
        elif "defaultTtl" not in resource:
            fail(f"{base.name}: container {metadata.get('collection')} has TTL off (no defaultTtl): Cosmos DB "
                 "ignores the sessions' ttlInSeconds and keeps them")


def resolved(template: Template, node, seen: frozenset = frozenset()):
    """A value with the variable it names (through variables) put in its place."""
    from pycep.models import BicepElement

    if isinstance(node, BicepElement) and node in template.variables and node not in seen:
        return resolved(template, template.variables[node].get("value"), seen | {str(node)})
    return node


def check_rollout(template: Template) -> None:
    """Each app rolls without dropping requests, as far as Container Apps lets a template say
    (rollout.py): two replicas at least, readiness and liveness probes on the app's paths, the
    app's SHUTDOWN_DELAY, a grace period covering delay and drain, and Dapr's app health check,
    if on, on the liveness path. The sidecar's shutdown is the platform's (no setting exists)."""
    for symbol, app_name in template.apps():
        if from_caller(template, symbol):
            continue  # a module's app, judged where the module is called
        config = template.declarations[symbol].get("config")
        values = list(template.values(config))
        app_template = next((v for v in values if "containers" in v), None)
        if app_template is None:
            fail(f"{template.name}: app {app_name} ({symbol}) declares no template with containers")
            continue
        scale = next(iter(template.values(app_template.get("scale"))), {}) if "scale" in app_template else {}
        containers = [c for c in template.values(app_template["containers"]) if "image" in c]
        probes = [p for c in containers for p in template.values(c.get("probes")) if "type" in p]
        env = {str(item["name"]): item.get("value") for item in app_env(template, config)[0]}
        dapr = next((v["dapr"] for v in values if isinstance(v.get("dapr"), dict)), None)
        problems, shutdown = aca_problems(resolved(template, scale.get("minReplicas")), probes, env,
                                          resolved(template, app_template.get("terminationGracePeriodSeconds")),
                                          dapr and {**dapr, "appHealth": next(iter(template.values(dapr.get("appHealth"))), None)})
        for problem in problems:
            fail(f"{template.name}: app {app_name} ({symbol}): {problem}")
        if not problems:
            print(f"  ok   {template.name}: app {app_name} ({symbol}): minReplicas {scale.get('minReplicas')}, probes "
                  f"{shutdown.readiness} / {shutdown.liveness}, {budget_summary(shutdown)}")


def check_bicep() -> None:
    files = sorted(ACA.glob("*.bicep"))
    print(f"bicep: {', '.join(p.name for p in files)} parse; parameters and modules match; the "
          "dependency graph keeps the frontend internal until its login is on and uses identities "
          "made beforehand; each value of an @allowed parameter on its own")
    facts = azure_cli_facts()
    specialized: dict[str, dict[str, Template]] = {}  # parameter values -> file name -> template
    for path in files:
        parsed = parse(path)
        if parsed is None:
            continue
        whole = Template(path, parsed)
        check_syntax(whole)
        check_parameters(whole)
        for given in choices(parsed):
            template = Template(path, specialize(parsed, given), given) if given else whole
            check_exposure(template)
            check_identities_exist_first(template)
            check_registry_passwords(template)
            check_platform(template, facts)
            check_sign_in_secret(template)
            check_dapr_components(template)
            check_rollout(template)
            specialized.setdefault(json.dumps(given, sort_keys=True), {})[path.name] = template
            print(f"  ok   {template.name}: {len(template.resources)} resources, {len(template.modules)} modules, "
                  f"{len(parsed.get('parameters', {}))} parameters, {len(parsed.get('outputs', {}))} outputs")
    for templates in specialized.values():
        if "main.bicep" in templates:
            check_session_store(templates["main.bicep"], templates.get("base.bicep"))
