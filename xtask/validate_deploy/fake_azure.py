"""A recording stand-in for Azure behind `az`, for running deploy/aca/deploy.sh offline
(journey.py). Runs with the pinned azure-cli's Python as a small server on a loopback port; the `az` on
the script's PATH is a client (journey.AZ_CLIENT) that sends it its arguments.

Each call is parsed by azure-cli's own parser (az_cli.AzParser): a line az would refuse exits
2 with az's message, as the real az would before any login. A parsed call is answered from a
small world of resources (canned JSON, `--query` through JMESPath, `--output` through
knack's formatters, as az prints them), and changes that world as the command would in Azure.
What a command does is taken from azure-cli 2.91's code where the decision lives there (each
handler names the function), and computed with that code where it can be run offline:
`up`'s ingress from the Dockerfile (_get_ingress_and_target_port), its upload
(_pack_source_code), registry secret names (store_as_secret_and_return_secret_ref), env
vars (parse_env_var_flags), YAML (update_containerapp_yaml's deserialization), Dapr
components (create_or_update_dapr_component's).

Every call is recorded with what it did to the frontend (ingress, built-in auth) and any
violation found on the way (a YAML key az drops, an upload ACR cannot build). journey.py asks
for the record (`{"control": "report"}`) and judges it.

  python -m validate_deploy.fake_azure PORT WORLD.json
"""

from __future__ import annotations

import collections
import copy
import hashlib
import json
import os
import socket
import sys
import tarfile
import tempfile
import uuid
from pathlib import Path

from .az_cli import AzParser, Parsed
from .dockerfile import missing_sources
from .session_login import missing_settings, required_settings

SUBSCRIPTION = "00000000-0000-0000-0000-00000000c0de"
TENANT = "11111111-1111-1111-1111-111111111111"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"

class AzError(Exception):
    """What az prints and exits with when a command fails (3: not found, as azure-cli does)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def not_found(kind: str, name: str) -> AzError:
    return AzError(f"(ResourceNotFound) The {kind} '{name}' was not found.", 3)


def rid(group: str, provider: str, name: str) -> str:
    return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/{provider}/{name}"


def guid(*parts: str) -> str:
    return str(uuid.UUID(hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]))


def merge(target: dict, patch: dict) -> dict:
    """An ARM PATCH: objects merged key by key, everything else (lists too) replaced."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


class FakeAzure:
    def __init__(self, world: dict) -> None:
        self.world = world
        self.parser = AzParser()
        self.events: list[dict] = []
        self.violations: list[str] = []
        self.session_settings = required_settings()
        self.handlers = {name[7:].replace("__", " ").replace("_", "-"): getattr(self, name)
                         for name in dir(self) if name.startswith("handle_")}

    # ------------------------------------------------------------------ the world's parts

    def resources(self, kind: str) -> dict:
        return self.world.setdefault(kind, {})

    def group_of(self, parsed: Parsed) -> str:
        group = parsed["resource_group_name"] or parsed["resource_group"] or parsed["rg_name"]
        if group not in self.world.setdefault("groups", {}):
            raise AzError(f"(ResourceGroupNotFound) Resource group '{group}' could not be found.", 3)
        return group

    def find(self, kind: str, group: str, name: str, what: str) -> dict:
        found = self.resources(kind).get(f"{group}/{name}")
        if found is None:
            raise not_found(what, name)
        return found

    def app(self, parsed: Parsed) -> dict:
        return self.find("containerApps", self.group_of(parsed), parsed["name"], "containerapp")

    def frontend_state(self) -> dict:
        """Whether the frontend is reachable from the internet, and whether anything guards it:
        built-in auth, or (AUTH_MODE=session) the app itself, in the revision that runs, with
        every setting its start-up needs (else it does not start, or it would not check)."""
        frontends = [app for key, app in self.resources("containerApps").items() if key.endswith("/frontend")]
        if not frontends:
            return {"exists": False, "external": False, "auth": False}
        app = frontends[0]
        ingress = app["properties"]["configuration"].get("ingress") or {}
        auth = app.get("authConfig") or {}
        validation = auth.get("globalValidation") or {}
        aad = (auth.get("identityProviders") or {}).get("azureActiveDirectory") or {}
        builtin = (bool((auth.get("platform") or {}).get("enabled"))
                   and validation.get("unauthenticatedClientAction") in ("RedirectToLoginPage", "Return401")
                   and bool((aad.get("registration") or {}).get("clientId")))
        containers = app["properties"]["template"].get("containers") or [{}]
        itself = not missing_settings(containers[0].get("env") or [], app["properties"]["configuration"].get("secrets"),
                                      self.session_settings)
        return {"exists": True, "external": bool(ingress.get("external")), "auth": builtin or itself,
                "builtin": builtin, "session": itself}

    def new_revision_reads_secrets(self) -> None:
        """Container Apps: a revision starts when an app's template changes, and reads the app's
        secrets then; a later `secret set` does not reach a running revision."""
        for app in self.resources("containerApps").values():
            template = json.dumps(app["properties"]["template"], sort_keys=True)
            if app.get("revisionTemplate") != template:
                app["revisionTemplate"] = template
                app["revisionSecrets"] = {secret["name"]: secret.get("value")
                                          for secret in app["properties"]["configuration"].get("secrets") or []}

    # ----------------------------------------------------------------------- a call

    def call(self, argv: list[str], cwd: str) -> tuple[str, str, int]:
        import time

        started = time.monotonic()
        code, parsed, message = self.parser.parse(argv)
        event = {"argv": argv, "command": parsed.command if parsed else None,
                 "parse_ms": round((time.monotonic() - started) * 1000)}
        self.events.append(event)
        if code != 0:
            event.update(code=code, error=message.strip())
            return "", message if message.endswith("\n") else message + "\n", code
        handler = self.handlers.get(parsed.command)
        try:
            if handler is None:
                self.violations.append(f"the stand-in has no answer for `az {parsed.command}`: "
                                       "teach fake_azure.py what it does")
                raise AzError(f"stand-in: no answer for az {parsed.command}")
            self.cwd = cwd
            result = handler(parsed)
        except AzError as error:
            event.update(code=error.code, error=str(error), frontend=self.frontend_state())
            return "", f"ERROR: {error}\n", error.code
        except Exception as error:  # the stand-in's own mistake: say where, do not die
            import traceback

            where = traceback.format_exc().strip().splitlines()
            self.violations.append(f"the stand-in failed on `az {' '.join(argv)}`: {where[-1]} "
                                   f"({' | '.join(where[-4:-1])})")
            event.update(code=1, error=f"stand-in: {error!r}", frontend=self.frontend_state())
            return "", f"ERROR: stand-in: {error!r}\n", 1
        self.new_revision_reads_secrets()
        event.update(code=0, frontend=self.frontend_state())
        return self.output(result, argv), "", 0

    def output(self, result, argv: list[str]) -> str:
        import jmespath
        from knack.output import format_json, format_tsv
        from knack.util import CommandResultItem

        options = raw_options(argv)
        if options.get("--query"):
            result = jmespath.search(options["--query"][0], result,
                                     jmespath.Options(collections.OrderedDict))
        output = (options.get("--output") or options.get("-o") or ["json"])[0]
        if output == "none" or result is None:
            return ""
        if output == "tsv":
            return format_tsv(CommandResultItem(result))
        return format_json(CommandResultItem(result))

    # -------------------------------------------------------------------- accounts, groups

    def handle_account__show(self, parsed):
        return {"id": SUBSCRIPTION, "tenantId": TENANT, "name": "stand-in subscription",
                "user": {"name": "deployer@example.com", "type": "user"}}

    def handle_group__create(self, parsed):
        groups = self.world.setdefault("groups", {})
        group = groups.setdefault(parsed["rg_name"], {"location": parsed["location"]})
        return {"id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{parsed['rg_name']}",
                "name": parsed["rg_name"], "location": group["location"]}

    def handle_group__show(self, parsed):
        group = self.world.setdefault("groups", {}).get(parsed["resource_group_name"])
        if group is None:
            raise AzError(f"(ResourceGroupNotFound) Resource group '{parsed['resource_group_name']}' could not be found.", 3)
        return {"id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{parsed['resource_group_name']}",
                "name": parsed["resource_group_name"], "location": group["location"]}

    # ---------------------------------------------------------------------------- Cosmos DB

    def handle_cosmosdb__list(self, parsed):
        group = self.group_of(parsed)
        return [account for key, account in sorted(self.resources("cosmosAccounts").items())
                if key.startswith(group + "/")]

    def handle_cosmosdb__show(self, parsed):
        return self.find("cosmosAccounts", self.group_of(parsed), parsed["account_name"], "Cosmos DB account")

    def handle_cosmosdb__create(self, parsed):
        group, name = self.group_of(parsed), parsed["account_name"]
        accounts = self.resources("cosmosAccounts")
        account = accounts.get(f"{group}/{name}") or {
            "name": name, "id": rid(group, "Microsoft.DocumentDB/databaseAccounts", name),
            "documentEndpoint": f"https://{name}.documents.azure.com:443/", "databases": {},
            "sqlRoleAssignments": []}
        account.update(disableLocalAuth=parsed["disable_local_auth"], tags=parsed["tags"] or {})
        accounts[f"{group}/{name}"] = account
        return account

    def account(self, parsed) -> dict:
        return self.find("cosmosAccounts", self.group_of(parsed), parsed["account_name"], "Cosmos DB account")

    def handle_cosmosdb__sql__database__create(self, parsed):
        database = self.account(parsed)["databases"].setdefault(parsed["database_name"], {"containers": {}})
        return {"name": parsed["database_name"], **{k: v for k, v in database.items() if k != "containers"}}

    def handle_cosmosdb__sql__database__show(self, parsed):
        if parsed["database_name"] not in self.account(parsed)["databases"]:
            raise not_found("database", parsed["database_name"])
        return {"name": parsed["database_name"]}

    def handle_cosmosdb__sql__container__create(self, parsed):
        database = self.account(parsed)["databases"].get(parsed["database_name"])
        if database is None:
            raise not_found("database", parsed["database_name"])
        database["containers"][parsed["container_name"]] = {"partitionKey": parsed["partition_key_path"],
                                                            "defaultTtl": parsed["default_ttl"]}
        return {"name": parsed["container_name"]}

    def handle_cosmosdb__sql__container__update(self, parsed):
        database = self.account(parsed)["databases"].get(parsed["database_name"]) or {"containers": {}}
        container = database["containers"].get(parsed["container_name"])
        if container is None:
            raise not_found("container", parsed["container_name"])
        if parsed["default_ttl"] is not None:
            container["defaultTtl"] = parsed["default_ttl"]
        return {"name": parsed["container_name"], "resource": container}

    def handle_cosmosdb__sql__container__show(self, parsed):
        database = self.account(parsed)["databases"].get(parsed["database_name"]) or {"containers": {}}
        if parsed["container_name"] not in database["containers"]:
            raise not_found("container", parsed["container_name"])
        return {"name": parsed["container_name"], "resource": database["containers"][parsed["container_name"]]}

    def handle_cosmosdb__sql__role__assignment__list(self, parsed):
        return self.account(parsed)["sqlRoleAssignments"]

    def handle_cosmosdb__sql__role__assignment__create(self, parsed):
        account = self.account(parsed)
        # Azure answers with the scope as a full resource path: the account's id and the
        # data-plane path (`/` is the account itself).
        scope = account["id"] + parsed["scope"].rstrip("/")
        assignment = {"id": f"{account['id']}/sqlRoleAssignments/{guid(account['id'], parsed['principal_id'], scope)}",
                      "principalId": parsed["principal_id"], "scope": scope,
                      "roleDefinitionId": f"{account['id']}/sqlRoleDefinitions/{parsed['role_definition_id']}"}
        account["sqlRoleAssignments"].append(assignment)
        return assignment

    # ------------------------------------------------------------------ managed identities

    def handle_identity__create(self, parsed):
        group, name = self.group_of(parsed), parsed["resource_name"]
        identities = self.resources("identities")
        identity = identities.get(f"{group}/{name}") or {
            "name": name, "id": rid(group, "Microsoft.ManagedIdentity/userAssignedIdentities", name),
            "clientId": guid("client", group, name), "principalId": guid("principal", group, name)}
        identities[f"{group}/{name}"] = identity
        return identity

    def handle_identity__show(self, parsed):
        return self.find("identities", self.group_of(parsed), parsed["resource_name"], "identity")

    def handle_role__assignment__list(self, parsed):
        found = self.world.setdefault("roleAssignments", [])
        wanted = parsed["assignee_object_id"] or parsed["assignee"]
        return [a for a in found
                if (not wanted or a["principalId"] == wanted)
                and (not parsed["scope"] or a["scope"].lower() == parsed["scope"].lower())
                and (not parsed["role"] or parsed["role"] in (a["roleDefinitionName"], a["roleDefinitionId"].split("/")[-1]))]

    def handle_role__assignment__create(self, parsed):
        role = {"AcrPull": ACR_PULL}.get(parsed["role"], parsed["role"])
        assignment = {"id": f"{parsed['scope']}/providers/Microsoft.Authorization/roleAssignments/"
                            f"{guid(parsed['scope'], parsed['assignee_object_id'] or parsed['assignee'], role)}",
                      "principalId": parsed["assignee_object_id"] or parsed["assignee"],
                      "roleDefinitionId": f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{role}",
                      "roleDefinitionName": parsed["role"], "scope": parsed["scope"]}
        found = self.world.setdefault("roleAssignments", [])
        if any(a["id"] == assignment["id"] for a in found):
            raise AzError("(RoleAssignmentExists) The role assignment already exists.")
        found.append(assignment)
        return assignment

    # ------------------------------------------------------------------ Log Analytics

    def workspace(self, group: str, name: str, location: str) -> dict:
        workspaces = self.resources("workspaces")
        workspace = workspaces.get(f"{group}/{name}") or {
            "name": name, "id": rid(group, "Microsoft.OperationalInsights/workspaces", name),
            "customerId": guid("customer", group, name), "location": location,
            "sharedKey": hashlib.sha256(f"key/{group}/{name}".encode()).hexdigest()}
        workspaces[f"{group}/{name}"] = workspace
        return workspace

    def handle_monitor__log_analytics__workspace__create(self, parsed):
        group = self.group_of(parsed)
        workspace = self.workspace(group, parsed["workspace_name"],
                                   parsed["location"] or self.world["groups"][group]["location"])
        return {k: v for k, v in workspace.items() if k != "sharedKey"}

    def handle_monitor__log_analytics__workspace__show(self, parsed):
        workspace = self.find("workspaces", self.group_of(parsed), parsed["workspace_name"], "workspace")
        return {k: v for k, v in workspace.items() if k != "sharedKey"}

    def handle_monitor__log_analytics__workspace__get_shared_keys(self, parsed):
        workspace = self.find("workspaces", self.group_of(parsed), parsed["workspace_name"], "workspace")
        return {"primarySharedKey": workspace["sharedKey"], "secondarySharedKey": workspace["sharedKey"][::-1]}

    # ------------------------------------------------------------ Container Apps environment

    def handle_containerapp__env__create(self, parsed):
        # ContainerAppEnvCreateDecorator: with logs to Log Analytics (the default) and no
        # workspace given, _generate_log_analytics_if_not_provided makes a new workspace
        # (named by _generate_log_analytics_workspace_name: random) on every call; the
        # default --enable-workload-profiles gives the Consumption profile.
        from azure.cli.command_modules.containerapp._utils import _generate_log_analytics_workspace_name

        group, name = self.group_of(parsed), parsed["name"]
        location = parsed["location"] or self.world["groups"][group]["location"]
        customer_id = parsed["logs_customer_id"]
        if parsed["logs_destination"] == "log-analytics" and (not customer_id or not parsed["logs_key"]):
            customer_id = self.workspace(group, _generate_log_analytics_workspace_name(group), location)["customerId"]
        elif customer_id and not any(w["customerId"] == customer_id for w in self.resources("workspaces").values()):
            raise AzError(f"(InvalidParameter) Log Analytics workspace {customer_id} not found")
        envs = self.resources("environments")
        env = envs.get(f"{group}/{name}") or {
            "name": name, "id": rid(group, "Microsoft.App/managedEnvironments", name), "location": location,
            "daprComponents": {},
            "properties": {"defaultDomain": f"{hashlib.sha256(name.encode()).hexdigest()[:12]}.{location}.azurecontainerapps.io"}}
        env["properties"]["appLogsConfiguration"] = {"destination": parsed["logs_destination"],
                                                     "logAnalyticsConfiguration": {"customerId": customer_id}}
        env["properties"]["workloadProfiles"] = ([{"name": "Consumption", "workloadProfileType": "Consumption"}]
                                                 if parsed["enable_workload_profiles"] else None)
        envs[f"{group}/{name}"] = env
        return {k: v for k, v in env.items() if k != "daprComponents"}

    def handle_containerapp__env__show(self, parsed):
        env = self.find("environments", self.group_of(parsed), parsed["name"], "managed environment")
        return {k: v for k, v in env.items() if k != "daprComponents"}

    def handle_containerapp__env__dapr_component__set(self, parsed):
        # create_or_update_dapr_component: the YAML through azure-cli's DaprComponent model
        # (shipped.py checks the same for the file as committed; here it is as the script fills it)
        import yaml
        from azure.cli.command_modules.containerapp._utils import (
            _convert_object_from_snake_to_camel_case, _object_to_dict, _remove_additional_attributes,
            _remove_dapr_readonly_attributes)
        from azure.cli.command_modules.containerapp.custom import create_deserializer, load_yaml_file
        from .shipped import dropped_keys

        env = self.find("environments", self.group_of(parsed), parsed["environment_name"], "managed environment")
        path = self.path(parsed["yaml"])
        try:
            sent = _convert_object_from_snake_to_camel_case(
                _object_to_dict(create_deserializer()("DaprComponent", load_yaml_file(str(path)))))
        except Exception as error:
            raise AzError(f"Invalid YAML: {error}")
        _remove_additional_attributes(sent)
        _remove_dapr_readonly_attributes(sent)
        for key in dropped_keys(yaml.safe_load(path.read_text()), sent):
            self.violations.append(f"az containerapp env dapr-component set drops `{key}` of the "
                                   "component the script renders")
        env["daprComponents"][parsed["dapr_component_name"]] = sent
        return sent

    def handle_containerapp__env__dapr_component__show(self, parsed):
        env = self.find("environments", self.group_of(parsed), parsed["environment_name"], "managed environment")
        component = env["daprComponents"].get(parsed["dapr_component_name"])
        if component is None:
            raise not_found("dapr component", parsed["dapr_component_name"])
        shown = copy.deepcopy(component)
        for secret in shown.get("secrets") or []:
            secret.pop("value", None)  # ARM never returns secret values, except by listSecrets
        return shown

    def path(self, name: str) -> Path:
        return Path(self.cwd, name)

    # ------------------------------------------------------------------------ registries

    def handle_acr__create(self, parsed):
        group, name = self.group_of(parsed), parsed["registry_name"]
        registries = self.resources("registries")
        if f"{group}/{name}" in registries:
            raise AzError(f"(AlreadyInUse) The registry DNS name {name}.azurecr.io is already in use.")
        registries[f"{group}/{name}"] = {
            "name": name, "id": rid(group, "Microsoft.ContainerRegistry/registries", name),
            "loginServer": f"{name}.azurecr.io", "adminUserEnabled": bool(parsed["admin_enabled"]),
            "passwords": [self.new_password(name, 1), self.new_password(name, 2)]}
        return registries[f"{group}/{name}"]

    def new_password(self, registry: str, n: int) -> str:
        issued = self.world.setdefault("issuedRegistryPasswords", [])
        password = f"acr-admin-password-{registry}-{len(issued) + n}"
        issued.append(password)
        return password

    def registry_by_name(self, name: str) -> tuple[str, dict]:
        found = [(key.split("/")[0], registry) for key, registry in self.resources("registries").items()
                 if registry["name"] == name]
        if len(found) != 1:
            raise AzError(f"No resource or more than one were found with name '{name}'.", 3)
        return found[0]

    def handle_acr__show(self, parsed):
        if parsed["resource_group_name"]:
            return {k: v for k, v in self.find("registries", self.group_of(parsed), parsed["registry_name"],
                                                "registry").items() if k != "passwords"}
        return {k: v for k, v in self.registry_by_name(parsed["registry_name"])[1].items() if k != "passwords"}

    def handle_acr__update(self, parsed):
        _, registry = self.registry_by_name(parsed["registry_name"])
        if parsed["admin_enabled"] is not None:
            registry["adminUserEnabled"] = parsed["admin_enabled"] in (True, "true")
        return {k: v for k, v in registry.items() if k != "passwords"}

    def handle_acr__credential__renew(self, parsed):
        _, registry = self.registry_by_name(parsed["registry_name"])
        if not registry["adminUserEnabled"]:
            raise AzError("Run 'az acr update -n NAME --admin-enabled true' to enable admin first.")
        index = 0 if parsed["password_name"] in (None, "password") else 1
        registry["passwords"][index] = self.new_password(registry["name"], 1)
        return {"username": registry["name"], "passwords": [{"name": "password"}, {"name": "password2"}]}

    def admin_credentials(self, registry_name: str) -> tuple[str, str]:
        """_utils._get_acr_cred: the admin user and its first password, or the error azure-cli
        raises when the admin user is off."""
        _, registry = self.registry_by_name(registry_name)
        if not registry["adminUserEnabled"]:
            raise AzError("Failed to retrieve credentials for container registry. Please provide the "
                          "registry username and password")
        return registry["name"], registry["passwords"][0]

    # ---------------------------------------------------------------------- container apps

    def show_app(self, app: dict) -> dict:
        shown = copy.deepcopy(app)
        shown.pop("authConfig", None)
        for secret in shown["properties"]["configuration"].get("secrets") or []:
            secret.pop("value", None)  # ARM never returns secret values
        ingress = shown["properties"]["configuration"].get("ingress")
        if ingress:
            env = next(e for e in self.resources("environments").values() if e["id"] == app["properties"]["environmentId"])
            domain = env["properties"]["defaultDomain"]
            ingress["fqdn"] = f"{app['name']}.{domain}" if ingress.get("external") else f"{app['name']}.internal.{domain}"
        return shown

    def handle_containerapp__show(self, parsed):
        return self.show_app(self.app(parsed))

    def new_app(self, group: str, name: str, env: dict) -> dict:
        return {"name": name, "id": rid(group, "Microsoft.App/containerApps", name), "location": env["location"],
                "identity": {"type": "None", "userAssignedIdentities": {}},
                "properties": {"environmentId": env["id"], "managedEnvironmentId": env["id"],
                               "workloadProfileName": "Consumption" if env["properties"]["workloadProfiles"] else None,
                               "configuration": {"ingress": None, "dapr": None, "registries": [], "secrets": []},
                               "template": {"containers": [], "scale": {"minReplicas": 0, "maxReplicas": 10}}}}

    def environment(self, group: str, name_or_id: str) -> dict:
        name = name_or_id.rstrip("/").split("/")[-1]
        return self.find("environments", group, name, "managed environment")

    @staticmethod
    def ingress(external: bool | None, target_port, before: dict | None) -> dict | None:
        if external is None and target_port is None:
            return before
        ingress = dict(before or {})
        if external is not None:
            ingress["external"] = external
        if target_port is not None:
            ingress["targetPort"] = int(target_port)
        return ingress

    def set_registry_password(self, app: dict, server: str, user: str, password: str) -> None:
        """update_containerapp_logic / create_containerapp: the password stored as an app secret
        (store_as_secret_and_return_secret_ref), the registry entry pointing at it."""
        from azure.cli.command_modules.containerapp._utils import store_as_secret_and_return_secret_ref

        configuration = app["properties"]["configuration"]
        secrets = configuration.setdefault("secrets", [])
        secret_name = store_as_secret_and_return_secret_ref(secrets, user, server, password,
                                                            update_existing_secret=True, disable_warnings=True)
        for entry in configuration["registries"]:
            if entry["server"].lower() == server.lower():
                entry["username"], entry["passwordSecretRef"] = user, secret_name  # identity left as it was
                break
        else:
            configuration["registries"].append({"server": server, "username": user, "passwordSecretRef": secret_name})

    def handle_containerapp__up(self, parsed):
        # custom.containerapp_up, step by step.
        from azure.cli.command_modules.containerapp._up_utils import (
            _get_dockerfile_content_local, _get_ingress_and_target_port, _has_dockerfile)
        from azure.cli.command_modules.containerapp._utils import parse_env_var_flags

        from azure.cli.command_modules.containerapp._utils import validate_container_app_name

        try:
            validate_container_app_name(parsed["name"], "ContainerApp")
        except Exception as error:
            raise AzError(str(error))
        group, name, source = self.group_of(parsed), parsed["name"], parsed["source"]
        ingress, target_port = parsed["ingress"], parsed["target_port"]
        if source and _has_dockerfile(str(self.path(source)), "Dockerfile"):
            ingress, target_port = _get_ingress_and_target_port(
                ingress, target_port, _get_dockerfile_content_local(str(self.path(source)), "Dockerfile"))
        if not parsed["managed_env"]:
            raise AzError("stand-in: up without --environment makes an environment of its own")
        env = self.environment(group, parsed["managed_env"])
        apps = self.resources("containerApps")
        app = apps.get(f"{group}/{name}")
        server, user, password = parsed["registry_server"], parsed["registry_user"], parsed["registry_pass"]
        image = parsed["image"]
        if source:
            if not server and app:  # _get_registry_from_app
                acr = [r["server"] for r in app["properties"]["configuration"]["registries"] if ".azurecr." in r["server"]]
                server = acr[0] if len(acr) == 1 else None
            if not server:  # _get_registry_details: the default registry, made with the admin user on
                digest = hashlib.sha256(f"{SUBSCRIPTION}/{env['id'].split('/')[4]}/{env['name']}".encode()).hexdigest()
                registry = f"ca{digest[:10]}acr"
                if not any(r["name"] == registry for r in self.resources("registries").values()):
                    # _utils.create_new_acr: Registry(admin_user_enabled=True)
                    self.resources("registries")[f"{group}/{registry}"] = {
                        "name": registry, "id": rid(group, "Microsoft.ContainerRegistry/registries", registry),
                        "loginServer": f"{registry}.azurecr.io", "adminUserEnabled": True,
                        "passwords": [self.new_password(registry, 1), self.new_password(registry, 2)]}
                server = f"{registry}.azurecr.io"
            if not (user and password):
                user, password = self.admin_credentials(server.split(".")[0])  # _set_acr_creds
            self.acr_build(str(self.path(source)))
            image = f"{server}/{(image or name).split('/')[-1].split(':')[0]}:{uuid.uuid4().hex[:12]}"
        elif image and "azurecr.io" in image and not (server and user and password):
            server = image.split("/")[0]  # _set_up_defaults → _get_acr_from_image
            user, password = self.admin_credentials(server.split(".")[0])
        env_vars = parse_env_var_flags(parsed["env_vars"]) if parsed["env_vars"] else None
        if app is None:  # create_containerapp
            app = self.new_app(group, name, env)
            app["properties"]["configuration"]["ingress"] = (
                {"external": ingress == "external", "targetPort": int(target_port)} if ingress else None)
            app["properties"]["template"]["containers"] = [{"name": name, "image": image, "env": env_vars or []}]
            apps[f"{group}/{name}"] = app
        else:  # update_containerapp_logic
            container = app["properties"]["template"]["containers"][0]
            container["image"] = image or container["image"]
            if env_vars is not None:
                container["env"] = env_vars
            configuration = app["properties"]["configuration"]
            configuration["ingress"] = self.ingress(None if ingress is None else ingress == "external",
                                                    target_port, configuration.get("ingress"))
        if server and user and password:
            self.set_registry_password(app, server, user, password)
        return None

    def acr_build(self, source: str) -> None:
        """What ACR gets from `up --source`: the upload azure-cli packs; a COPY source missing
        from it fails the build as ACR would."""
        from .az_upload import pack

        with tempfile.TemporaryDirectory() as work:
            tar_path = os.path.join(work, "upload.tar.gz")
            pack(source, tar_path)
            with tarfile.open(tar_path) as tar:
                members = tar.getmembers()
        files = {m.name for m in members if not m.isdir()}
        folders = {m.name for m in members if m.isdir()}
        missing = missing_sources(Path(source, "Dockerfile").read_text(), Path(source), files, folders)
        if missing:
            raise AzError(f"ACR build failed: COPY failed: {missing[0].split(' ')[0]}: no such file or "
                          "directory in the uploaded context")

    def handle_containerapp__create(self, parsed):
        # ContainerAppCreateDecorator: a registry with an identity is pulled with it; a registry
        # without one and without a password gets the admin password (_infer_acr_credentials).
        from azure.cli.command_modules.containerapp._utils import parse_env_var_flags

        from azure.cli.command_modules.containerapp._utils import validate_container_app_name
        from azure.cli.command_modules.containerapp._validators import validate_create

        if parsed["yaml"]:
            raise AzError("stand-in: create --yaml is not modelled")
        try:  # the checks ContainerAppCreateDecorator.validate_arguments makes before Azure
            validate_create(parsed["registry_identity"], parsed["registry_pass"], parsed["registry_user"],
                            parsed["registry_server"], parsed["no_wait"])
            validate_container_app_name(parsed["name"], "ContainerApp")
        except Exception as error:
            raise AzError(str(error))
        group, name = self.group_of(parsed), parsed["name"]
        env = self.environment(group, parsed["managed_env"])
        app = self.new_app(group, name, env)  # a PUT: an existing app is replaced
        configuration = app["properties"]["configuration"]
        if parsed["ingress"]:
            configuration["ingress"] = {"external": parsed["ingress"] == "external",
                                        "targetPort": int(parsed["target_port"] or 80)}
        if parsed["dapr_enabled"]:
            configuration["dapr"] = {"enabled": True, "appId": parsed["dapr_app_id"],
                                     "appPort": parsed["dapr_app_port"], "appProtocol": parsed["dapr_app_protocol"]}
        app["properties"]["template"]["containers"] = [{
            "name": parsed["container_name"] or name, "image": parsed["image"],
            "env": parse_env_var_flags(parsed["env_vars"]) if parsed["env_vars"] else [],
            "resources": {"cpu": parsed["cpu"], "memory": parsed["memory"]}}]
        for identity in parsed["user_assigned"] or []:
            app["identity"]["userAssignedIdentities"][identity] = {}
        server = parsed["registry_server"]
        if server and parsed["registry_identity"]:
            configuration["registries"] = [{"server": server, "identity": parsed["registry_identity"]}]
            if parsed["registry_identity"] != "system":
                app["identity"]["userAssignedIdentities"][parsed["registry_identity"]] = {}
        elif server:
            user, password = parsed["registry_user"], parsed["registry_pass"]
            if not (user and password):
                user, password = self.admin_credentials(server.split(".")[0])
            self.set_registry_password(app, server, user, password)
        self.resources("containerApps")[f"{group}/{name}"] = app
        return self.show_app(app)

    def handle_containerapp__update(self, parsed):
        app = self.app(parsed)
        if parsed["yaml"]:
            merge(app, self.yaml_patch(parsed["yaml"]))
            return self.show_app(app)
        from azure.cli.command_modules.containerapp._utils import parse_env_var_flags

        container = app["properties"]["template"]["containers"][0]
        if parsed["image"]:
            container["image"] = parsed["image"]
        if parsed["replace_env_vars"]:
            container["env"] = parse_env_var_flags(parsed["replace_env_vars"])
        for item in parse_env_var_flags(parsed["set_env_vars"]) if parsed["set_env_vars"] else []:
            container["env"] = [e for e in container.get("env") or [] if e["name"] != item["name"]] + [item]
        return self.show_app(app)

    def yaml_patch(self, name: str) -> dict:
        """custom.update_containerapp_yaml up to its PATCH: azure-cli's deserialization of the
        file, with what it drops recorded as a violation (az drops unknown keys silently)."""
        import yaml
        from azure.cli.command_modules.containerapp._utils import (
            _convert_object_from_snake_to_camel_case, _object_to_dict, _remove_additional_attributes,
            _remove_readonly_attributes, clean_null_values)
        from azure.cli.command_modules.containerapp.custom import (
            DeserializationError, create_deserializer, load_yaml_file, process_loaded_yaml)
        from .shipped import dropped_keys

        path = self.path(name)
        given = process_loaded_yaml(load_yaml_file(str(path)))
        try:
            model = create_deserializer()("ContainerApp", copy.deepcopy(given))
        except DeserializationError as error:
            self.violations.append(f"{path.name}: azure-cli refuses the YAML the script renders: {error}")
            raise AzError("Invalid YAML provided. Please see https://aka.ms/azure-container-apps-yaml "
                          "for a valid containerapps YAML spec.")
        sent = process_loaded_yaml(_convert_object_from_snake_to_camel_case(_object_to_dict(model)))
        _remove_additional_attributes(sent)
        _remove_readonly_attributes(sent)
        sent = clean_null_values(sent)
        for key in dropped_keys(yaml.safe_load(path.read_text()), sent):
            self.violations.append(f"az containerapp update --yaml drops `{key}` of {path.name} "
                                   "as the script renders it")
        sent.pop("name", None)
        sent.pop("type", None)
        return sent

    def handle_containerapp__identity__assign(self, parsed):
        app = self.app(parsed)
        for identity in parsed["user_assigned"] or []:
            app["identity"]["userAssignedIdentities"][identity] = {}
        return app["identity"]

    def handle_containerapp__dapr__enable(self, parsed):
        app = self.app(parsed)
        app["properties"]["configuration"]["dapr"] = {
            "enabled": True, "appId": parsed["dapr_app_id"], "appPort": parsed["dapr_app_port"],
            "appProtocol": parsed["dapr_app_protocol"]}
        return app["properties"]["configuration"]["dapr"]

    def handle_containerapp__ingress__update(self, parsed):
        app = self.app(parsed)
        configuration = app["properties"]["configuration"]
        if not configuration.get("ingress"):
            raise AzError("The containerapp '{}' does not have ingress enabled.".format(parsed["name"]))
        configuration["ingress"] = self.ingress(None if parsed["type"] is None else parsed["type"] == "external",
                                                parsed["target_port"], configuration["ingress"])
        return self.show_app(app)["properties"]["configuration"]["ingress"]

    def handle_containerapp__ingress__enable(self, parsed):
        app = self.app(parsed)
        app["properties"]["configuration"]["ingress"] = {"external": parsed["type"] == "external",
                                                         "targetPort": int(parsed["target_port"])}
        return self.show_app(app)["properties"]["configuration"]["ingress"]

    def handle_containerapp__ingress__show(self, parsed):
        return self.show_app(self.app(parsed))["properties"]["configuration"]["ingress"]

    def handle_containerapp__registry__set(self, parsed):
        # custom.set_registry: an identity replaces username and password; without either the
        # admin credentials are looked up (_get_acr_cred).
        app = self.app(parsed)
        server, identity = parsed["server"], parsed["identity"]
        entries = app["properties"]["configuration"]["registries"]
        if identity:
            entry = next((e for e in entries if e["server"].lower() == server.lower()), None)
            if entry is None:
                entries.append({"server": server, "identity": identity})
            else:
                entry.update(identity=identity, username=None, passwordSecretRef=None)
            if identity != "system":
                app["identity"]["userAssignedIdentities"][identity] = {}
        else:
            user, password = parsed["username"], parsed["password"]
            if not (user and password):
                user, password = self.admin_credentials(server.split(".")[0])
            self.set_registry_password(app, server, user, password)
            for entry in entries:
                if entry["server"].lower() == server.lower():
                    entry["identity"] = None
        return entries

    def handle_containerapp__registry__remove(self, parsed):
        app = self.app(parsed)
        configuration = app["properties"]["configuration"]
        configuration["registries"] = [e for e in configuration["registries"]
                                       if e["server"].lower() != parsed["server"].lower()]
        return configuration["registries"]

    def handle_containerapp__registry__list(self, parsed):
        return self.app(parsed)["properties"]["configuration"]["registries"]

    def handle_containerapp__secret__list(self, parsed):
        return [{"name": s["name"]} for s in self.app(parsed)["properties"]["configuration"]["secrets"]]

    def handle_containerapp__secret__set(self, parsed):
        # custom.set_secrets: NAME=VALUE pairs added or replaced.
        configuration = self.app(parsed)["properties"]["configuration"]
        for pair in parsed["secrets"] or []:
            name, _, value = pair.partition("=")
            configuration["secrets"] = [s for s in configuration["secrets"] if s["name"].lower() != name.lower()]
            configuration["secrets"].append({"name": name, "value": value})
        return [{"name": s["name"]} for s in configuration["secrets"]]

    def handle_containerapp__secret__remove(self, parsed):
        configuration = self.app(parsed)["properties"]["configuration"]
        for name in parsed["secret_names"]:
            if not any(s["name"].lower() == name.lower() for s in configuration["secrets"]):
                raise AzError(f"The containerapp {parsed['name']} does not have a secret assigned with name {name}.")
            configuration["secrets"] = [s for s in configuration["secrets"] if s["name"].lower() != name.lower()]
        return configuration["secrets"]

    # ------------------------------------------------------------------ built-in auth

    def handle_containerapp__auth__microsoft__update(self, parsed):
        # custom.update_aad_settings: the secret kept as app secret
        # microsoft-provider-authentication-secret, audiences split at commas.
        app = self.app(parsed)
        auth = app.setdefault("authConfig", {})
        aad = auth.setdefault("identityProviders", {}).setdefault("azureActiveDirectory", {})
        registration = aad.setdefault("registration", {})
        if parsed["client_id"]:
            registration["clientId"] = parsed["client_id"]
        if parsed["issuer"]:
            registration["openIdIssuer"] = parsed["issuer"]
        if parsed["client_secret"]:
            registration["clientSecretSettingName"] = "microsoft-provider-authentication-secret"
            secrets = app["properties"]["configuration"]["secrets"]
            secrets[:] = [s for s in secrets if s["name"] != "microsoft-provider-authentication-secret"]
            secrets.append({"name": "microsoft-provider-authentication-secret", "value": parsed["client_secret"]})
        if parsed["allowed_token_audiences"] is not None:
            aad.setdefault("validation", {})["allowedAudiences"] = parsed["allowed_token_audiences"].split(",")
        aad["enabled"] = True
        return auth

    def handle_containerapp__auth__update(self, parsed):
        # ContainerAppAuthDecorator: platform.enabled, globalValidation (excluded paths split at
        # commas), httpSettings.requireHttps.
        app = self.app(parsed)
        auth = app.setdefault("authConfig", {})
        if parsed["enabled"] is not None:
            auth.setdefault("platform", {})["enabled"] = parsed["enabled"] in (True, "true")
        validation = auth.setdefault("globalValidation", {})
        if parsed["unauthenticated_client_action"]:
            validation["unauthenticatedClientAction"] = parsed["unauthenticated_client_action"]
        if parsed["redirect_provider"]:
            validation["redirectToProvider"] = parsed["redirect_provider"]
        if parsed["excluded_paths"] is not None:
            validation["excludedPaths"] = parsed["excluded_paths"].split(",")
        if parsed["require_https"] is not None:
            auth.setdefault("httpSettings", {})["requireHttps"] = parsed["require_https"] in (True, "true")
        return auth

    def handle_containerapp__auth__show(self, parsed):
        return self.app(parsed).get("authConfig") or {}

    # ------------------------------------------------------------------ Entra ID

    def entra_apps(self) -> list:
        return self.world.setdefault("entraApps", [])

    def entra_app(self, identifier: str) -> dict:
        for app in self.entra_apps():
            if identifier in (app["appId"], app["id"]):
                return app
        raise AzError(f"Resource '{identifier}' does not exist or one of its queried reference-property "
                      "objects are not present.", 3)

    @staticmethod
    def shown_entra_app(app: dict) -> dict:
        shown = copy.deepcopy(app)
        for credential in shown["passwordCredentials"]:
            credential.pop("secret", None)  # Graph never returns a secret after it is made
        return shown

    def handle_ad__app__list(self, parsed):
        apps = self.entra_apps()
        if parsed["display_name"]:  # Graph: startswith(displayName, '...')
            apps = [a for a in apps if a["displayName"].startswith(parsed["display_name"])]
        if parsed["query_filter"]:
            import re

            exact = re.fullmatch(r"\s*displayName\s+eq\s+'(.*)'\s*", parsed["query_filter"])
            if not exact:
                raise AzError("stand-in: only the filter displayName eq '...' is modelled")
            apps = [a for a in apps if a["displayName"] == exact.group(1).replace("''", "'")]
        return [self.shown_entra_app(a) for a in apps]

    def handle_ad__app__create(self, parsed):
        app = {"appId": str(uuid.uuid4()), "id": str(uuid.uuid4()), "displayName": parsed["display_name"],
               "signInAudience": parsed["sign_in_audience"], "identifierUris": [], "passwordCredentials": [],
               "web": {"redirectUris": []}, "api": {"oauth2PermissionScopes": [], "preAuthorizedApplications": []}}
        self.entra_apps().append(app)
        return self.shown_entra_app(app)

    def handle_ad__app__show(self, parsed):
        return self.shown_entra_app(self.entra_app(parsed["identifier"]))

    def handle_ad__app__update(self, parsed):
        app = self.entra_app(parsed["identifier"])
        if parsed["identifier_uris"] is not None:
            app["identifierUris"] = parsed["identifier_uris"]
        if parsed["web_redirect_uris"] is not None:
            app["web"]["redirectUris"] = parsed["web_redirect_uris"]
        return None

    def handle_ad__app__credential__reset(self, parsed):
        # graph custom.reset_application_credential: without --append the new password
        # replaces every other password of the app.
        app = self.entra_app(parsed["identifier"])
        credential = {"keyId": str(uuid.uuid4()), "displayName": parsed["display_name"],
                      "secret": f"client-secret-{uuid.uuid4().hex[:8]}"}
        if not parsed["append"]:
            app["passwordCredentials"] = []
        app["passwordCredentials"].append(credential)
        return {"appId": app["appId"], "password": credential["secret"], "tenant": TENANT}

    def handle_ad__app__credential__list(self, parsed):
        return self.shown_entra_app(self.entra_app(parsed["identifier"]))["passwordCredentials"]

    def handle_ad__app__credential__delete(self, parsed):
        app = self.entra_app(parsed["identifier"])
        app["passwordCredentials"] = [c for c in app["passwordCredentials"] if c["keyId"] != parsed["key_id"]]
        return None

    def handle_ad__sp__show(self, parsed):
        if parsed["identifier"] not in self.world.setdefault("servicePrincipals", []):
            raise AzError(f"Service principal '{parsed['identifier']}' doesn't exist", 3)
        return {"appId": parsed["identifier"]}

    def handle_ad__sp__create(self, parsed):
        self.world.setdefault("servicePrincipals", []).append(parsed["identifier"])
        return {"appId": parsed["identifier"]}

    def handle_rest(self, parsed):
        import re

        component = re.fullmatch(r"(/subscriptions/[^?]+/managedEnvironments/[^/]+)/daprComponents/([^/?]+)"
                                 r"/listSecrets\?api-version=[0-9-]+", parsed["url"] or "")
        if component and (parsed["method"] or "").upper() == "POST":  # DaprComponents_ListSecrets
            env = next((e for e in self.resources("environments").values()
                        if e["id"].lower() == component.group(1).lower()), None)
            if env is None or component.group(2) not in env["daprComponents"]:
                raise not_found("dapr component", component.group(2))
            return {"value": [{"name": s["name"], "value": s.get("value")}
                              for s in env["daprComponents"][component.group(2)].get("secrets") or []]}
        match = re.fullmatch(r"https://graph\.microsoft\.com/v1\.0/applications\(appId='([^']+)'\)", parsed["url"] or "")
        if not match or (parsed["method"] or "").upper() != "PATCH":
            raise AzError(f"stand-in: az rest {parsed['method']} {parsed['url']} is not modelled")
        body = parsed["body"]
        if body and body.startswith("@"):
            body = self.path(body[1:]).read_text()
        merge(self.entra_app(match.group(1)), json.loads(body))
        return None

    # ------------------------------------------------------------------ the server

    def control(self, request: dict) -> dict:
        if request["control"] == "report":
            return {"events": self.events, "violations": self.violations, "world": self.world}
        if request["control"] == "add-credential":  # someone else's secret on an app registration
            self.entra_app(request["appId"])["passwordCredentials"].append(
                {"keyId": str(uuid.uuid4()), "displayName": request["displayName"], "secret": "not-ours"})
            return {}
        if request["control"] == "world":  # start again in a new world
            self.world, self.events, self.violations = request["world"], [], []
            return {}
        if request["control"] == "mark":
            self.events.append({"mark": request["mark"]})
            return {}
        raise ValueError(request)


def raw_options(argv: list[str]) -> dict[str, list[str]]:
    """--flag → the words after it, as typed (for az's global --query and --output)."""
    options: dict[str, list[str]] = {}
    current = None
    for word in argv:
        if word.startswith("-") and not word.lstrip("-")[:1].isdigit() and len(word) > 1:
            name, _, value = word.partition("=")
            current = options.setdefault(name, [])
            if value:
                current.append(value)
        elif current is not None:
            current.append(word)
    return options


def serve(port: str, world_path: str) -> None:
    fake = FakeAzure(json.loads(Path(world_path).read_text()))
    server = socket.create_server(("127.0.0.1", int(port)))
    print("ready", flush=True)
    sys.stdout = sys.stderr  # nobody reads stdout after this line
    while True:
        connection, _ = server.accept()
        try:
            answer_one(fake, connection)
        except StopIteration:
            return
        except Exception:  # a broken request or connection: log it, serve the next one
            import traceback

            traceback.print_exc()
        finally:
            connection.close()


def answer_one(fake: FakeAzure, connection: socket.socket) -> None:
    """A call from the `az` client (journey.AZ_CLIENT: count, working directory, arguments, each
    ended by NUL) or a control request from journey.py ("control", JSON)."""
    data = b""

    def fields() -> list[str]:
        return data.decode().split("\0")[:-1]

    while True:
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
        words = fields()
        if words[:1] == ["control"] and len(words) == 2:
            break
        if words and words[0].isdigit() and len(words) == int(words[0]) + 2:
            break
    words = fields()
    if words[0] == "control":
        request = json.loads(words[1])
        if request.get("control") == "stop":
            raise StopIteration
        connection.sendall(json.dumps(fake.control(request)).encode())
        return
    stdout, stderr, code = fake.call(words[2:], words[1])
    out = stdout.encode()
    connection.sendall(f"{code}\n{len(out)}\n".encode() + out + stderr.encode())


if __name__ == "__main__":
    serve(*sys.argv[1:3])
