"""journey: deploy/aca/deploy.sh, as a user runs it, against a recording az stand-in
(fake_azure.py: azure-cli's parser on every call, a world of canned resources that the calls
change as azure-cli 2.91's code would). It runs twice on the same world, the second time as a
re-run finds things (existing resources, plus someone else's credential on the sign-in app).
The world starts with what a real subscription has besides this project: another Cosmos DB
account and another Log Analytics workspace in the group, and an app registration whose name
starts with the one the script uses.

Judged from the record:
- every call succeeds (the script runs to its end);
- at no call is the frontend reachable from the internet (external ingress) while nothing
  guards it: neither built-in auth nor, with --login session, the app's own sign-in with every
  setting it needs (ingress internal until then);
- afterwards no app holds a registry password (no registry entry with a username or password
  secret, no secret holding an admin password the registry ever issued), every registry is
  pulled with a managed identity and has its admin user off;
- what az would drop or refuse of the YAML the script renders (app and Dapr component) fails;
- the second run creates nothing (no new workspace, registry, identity, app registration,
  role assignment), changes nothing that is not the project's (the other account, workspace
  and app registration exactly as before) and keeps the other credential;
- with --login session (run twice too): no built-in auth; the redirect URL the app sends is its
  address's /auth/callback and registered on the sign-in app; the revision that runs holds a
  client secret the sign-in app still has; the component sessionstore is scoped to the
  frontend, reads a container with TTL on as an identity the frontend holds, whose Cosmos DB
  roles are all scoped to that container (deploy/aca/sessionstore.yaml's), and encrypts with a
  hex AES key that the re-run keeps; and the same after a switch from built-in auth, with the
  frontend never unguarded on the way."""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .report import fail
from .rollout import aca_problems, budget_summary
from .session_login import metadata_value, sessions_scope
from .tools import AZ, REPO

GROUP, LOCATION = "dapr-pair-rg", "westeurope"
APP_REGISTRATION = f"dapr-pair-{GROUP}"  # deploy.sh's default

# The `az` the script finds on PATH: bash (quick to start, unlike Python), over loopback TCP.
# It sends the number of its arguments, the working directory and the arguments, each ended by
# a NUL; the stand-in answers the exit code and the length of stdout on a line each, then
# stdout, then stderr until it closes.
AZ_CLIENT = """#!/usr/bin/env bash
exec 3<>"/dev/tcp/127.0.0.1/$FAKE_AZURE_PORT"
printf '%d\\0%s\\0' "$#" "$PWD" >&3
[ $# -eq 0 ] || printf '%s\\0' "$@" >&3
read -r code <&3
read -r length <&3
head -c "$length" <&3
cat <&3 >&2
exit "$code"
"""

SUBSCRIPTION_RG = f"/subscriptions/00000000-0000-0000-0000-00000000c0de/resourceGroups/{GROUP}"

# What the subscription holds besides the project; must be the same after both runs.
FOREIGN = {
    "cosmosAccounts": {f"{GROUP}/aaa-analytics": {
        "name": "aaa-analytics", "id": f"{SUBSCRIPTION_RG}/providers/Microsoft.DocumentDB/databaseAccounts/aaa-analytics",
        "documentEndpoint": "https://aaa-analytics.documents.azure.com:443/", "databases": {},
        "sqlRoleAssignments": [], "tags": {}}},
    "workspaces": {f"{GROUP}/ops-logs": {
        "name": "ops-logs", "id": f"{SUBSCRIPTION_RG}/providers/Microsoft.OperationalInsights/workspaces/ops-logs",
        "customerId": "99999999-9999-9999-9999-999999999999", "location": LOCATION, "sharedKey": "ops"}},
    "entraApps": [{
        "appId": "88888888-8888-8888-8888-888888888888", "id": "88888888-0000-0000-0000-000000000000",
        "displayName": f"{APP_REGISTRATION}-staging", "signInAudience": "AzureADMyOrg",
        "identifierUris": ["api://88888888-8888-8888-8888-888888888888"],
        "web": {"redirectUris": ["https://staging.example.com/.auth/login/aad/callback"]},
        "api": {"oauth2PermissionScopes": [], "preAuthorizedApplications": []},
        "passwordCredentials": [{"keyId": "77777777-0000-0000-0000-000000000000", "displayName": "staging"}]}],
}


def new_world() -> dict:
    return {"groups": {GROUP: {"location": LOCATION}}, **copy.deepcopy(FOREIGN)}


class Stand_in:
    """The fake Azure server (azure-cli's Python) and the `az` client folder for the script."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.port = free_port()
        (work / "world.json").write_text(json.dumps(new_world()))
        bin_dir = work / "bin"
        bin_dir.mkdir()
        (bin_dir / "az").write_text(AZ_CLIENT)
        (bin_dir / "az").chmod(0o755)
        self.path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
        from .az import azure_cli_environment

        self.log = work / "stand-in.log"
        config = work / "az-config"
        config.mkdir()
        with open(self.log, "w") as log:
            self.server = subprocess.Popen(
                [str(Path(AZ).parent / "python"), "-m", "validate_deploy.fake_azure", str(self.port),
                 str(work / "world.json")],
                cwd=REPO / "xtask", env=azure_cli_environment(str(config)), stdout=subprocess.PIPE, stderr=log,
                text=True)
        ready = self.server.stdout.readline()
        if ready.strip() != "ready":
            raise RuntimeError(f"the az stand-in did not start: {self.log_tail()}")

    def log_tail(self) -> str:
        return " | ".join(self.log.read_text().strip().splitlines()[-6:])

    def control(self, request: dict) -> dict:
        if self.server.poll() is not None and request["control"] != "stop":
            raise RuntimeError(f"the az stand-in died: {self.log_tail()}")
        with socket.create_connection(("127.0.0.1", self.port)) as connection:
            connection.sendall(b"control\0" + json.dumps(request).encode() + b"\0")
            if request["control"] == "stop":
                return {}
            data = b"".join(iter(lambda: connection.recv(1 << 20), b""))
        return json.loads(data)

    def run_script(self, *args: str) -> subprocess.CompletedProcess:
        home = self.work / "home"
        home.mkdir(exist_ok=True)
        env = {"PATH": self.path, "HOME": str(home), "FAKE_AZURE_PORT": str(self.port),
               "LANG": "C.UTF-8", "TMPDIR": str(self.work)}
        return subprocess.run(["bash", str(REPO / "deploy/aca/deploy.sh"), *args], capture_output=True,
                              text=True, env=env, cwd=REPO, timeout=600)

    def stop(self) -> None:
        try:
            self.control({"control": "stop"})
            self.server.wait(timeout=10)
        except Exception:
            self.server.kill()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def calls_of(events: list[dict], run: str) -> list[dict]:
    """The calls made after the mark of that run."""
    found, inside = [], False
    for event in events:
        if "mark" in event:
            inside = event["mark"] == run
        elif inside:
            found.append(event)
    return found


def line(event: dict) -> str:
    text = "az " + " ".join(event["argv"])
    return text if len(text) < 220 else text[:217] + "..."


def judge_run(run: str, result: subprocess.CompletedProcess, report: dict, seen: set[str]) -> list[dict]:
    calls = calls_of(report["events"], run)
    print(f"  {run}: {len(calls)} az calls, exit {result.returncode}")
    if result.returncode != 0:
        failed = [event for event in calls if event.get("code")]
        last = failed[-1] if failed else None
        fail(f"{run}: deploy.sh exits {result.returncode}"
             + (f" at `{line(last)}`: {last.get('error', '').splitlines()[0] if last.get('error') else ''}" if last else "")
             + f"\n         its last words: {' | '.join(result.stderr.strip().splitlines()[-2:])}")
    for number, event in enumerate(calls, 1):
        state = event.get("frontend") or {}
        if state.get("external") and not state.get("auth"):
            fail(f"{run}: call {number} `{line(event)}` leaves the frontend reachable from the internet "
                 "while nothing guards it (neither built-in auth nor the app's own sign-in, complete)")
            break
    for violation in report["violations"]:
        if violation not in seen:
            seen.add(violation)
            fail(f"{run}: {violation}")
    return calls


def judge_registry_passwords(run: str, world: dict) -> None:
    issued = set(world.get("issuedRegistryPasswords", []))
    for key, app in sorted(world.get("containerApps", {}).items()):
        configuration = app["properties"]["configuration"]
        for entry in configuration.get("registries") or []:
            if entry.get("passwordSecretRef") or entry.get("username") or not entry.get("identity"):
                fail(f"{run}: app {app['name']} pulls from {entry['server']} with a password "
                     f"(secret {entry.get('passwordSecretRef')}), not a managed identity")
        for secret in configuration.get("secrets") or []:
            if secret.get("value") in issued:
                fail(f"{run}: app {app['name']} keeps the registry admin password in secret {secret['name']}")
    for key, registry in sorted(world.get("registries", {}).items()):
        if registry["adminUserEnabled"]:
            fail(f"{run}: registry {registry['name']} has its admin user on")


def frontend_env(world: dict) -> dict[str, dict]:
    frontend = world.get("containerApps", {}).get(f"{GROUP}/frontend") or {}
    containers = ((frontend.get("properties") or {}).get("template") or {}).get("containers") or [{}]
    return {item["name"]: item for item in containers[0].get("env") or []}


def sign_in_app(world: dict) -> dict | None:
    """The app registration the frontend signs in with: its built-in auth's, or the app's own
    (OIDC_CLIENT_ID, AUTH_MODE=session)."""
    frontend = world.get("containerApps", {}).get(f"{GROUP}/frontend") or {}
    registration = ((((frontend.get("authConfig") or {}).get("identityProviders") or {})
                     .get("azureActiveDirectory") or {}).get("registration") or {})
    client_id = registration.get("clientId") or (frontend_env(world).get("OIDC_CLIENT_ID") or {}).get("value")
    return next((a for a in world.get("entraApps", []) if a["appId"] == client_id), None)


def session_encryption_key(world: dict) -> str | None:
    env = next(iter(world.get("environments", {}).values()), {})
    component = (env.get("daprComponents") or {}).get("sessionstore") or {}
    ref = next((item.get("secretRef") for item in component.get("metadata") or []
                if item.get("name") == "primaryEncryptionKey"), None)
    return next((s.get("value") for s in component.get("secrets") or [] if s.get("name") == ref), None)


def judge_session(run: str, world: dict) -> None:
    """The frontend signs browsers in itself, with what Azure must hold for that."""
    import re

    frontend = world.get("containerApps", {}).get(f"{GROUP}/frontend")
    if not frontend:
        fail(f"{run}: no frontend")
        return
    if ((frontend.get("authConfig") or {}).get("platform") or {}).get("enabled"):
        fail(f"{run}: built-in auth is still on in front of the app's own sign-in")
    env = frontend_env(world)
    ingress = frontend["properties"]["configuration"].get("ingress") or {}
    domain = next(iter(world.get("environments", {}).values()))["properties"]["defaultDomain"]
    redirect = (env.get("OIDC_REDIRECT_URL") or {}).get("value")
    if not ingress.get("external") or redirect != f"https://frontend.{domain}/auth/callback":
        fail(f"{run}: OIDC_REDIRECT_URL {redirect} is not the external address's /auth/callback")
    signs_in = sign_in_app(world)
    if signs_in is None:
        fail(f"{run}: OIDC_CLIENT_ID names no app registration")
        return
    if redirect not in signs_in["web"]["redirectUris"]:
        fail(f"{run}: {redirect} is not a redirect URI of {signs_in['displayName']} "
             f"({', '.join(signs_in['web']['redirectUris'])}): Entra refuses the sign-in")
    secret_ref = (env.get("OIDC_CLIENT_SECRET") or {}).get("secretRef")
    held = (frontend.get("revisionSecrets") or {}).get(secret_ref)
    if held not in {c.get("secret") for c in signs_in["passwordCredentials"]}:
        fail(f"{run}: the running revision's OIDC_CLIENT_SECRET (secret {secret_ref}) is no credential "
             f"of {signs_in['displayName']} any more: the sign-in fails")
    env_resource = next(iter(world.get("environments", {}).values()))
    component = (env_resource.get("daprComponents") or {}).get("sessionstore")
    if component is None:
        fail(f"{run}: no Dapr component sessionstore in the environment")
        return
    if component.get("scopes") != ["frontend"]:
        fail(f"{run}: sessionstore is scoped to {component.get('scopes')}, not the frontend alone")
    account = next((a for a in world.get("cosmosAccounts", {}).values()
                    if a["documentEndpoint"] == metadata_value(component, "url")), None)
    database = (account or {}).get("databases", {}).get(metadata_value(component, "database")) or {}
    container = database.get("containers", {}).get(metadata_value(component, "collection"))
    if container is None:
        fail(f"{run}: sessionstore's container {metadata_value(component, 'collection')} does not exist")
    elif container.get("defaultTtl") is None:
        fail(f"{run}: container {metadata_value(component, 'collection')} has TTL off: ttlInSeconds is ignored "
             "and expired sessions stay")
    identity = next((i for i in world.get("identities", {}).values()
                     if i["clientId"] == metadata_value(component, "azureClientId")), None)
    if identity is None or identity["id"] not in frontend["identity"]["userAssignedIdentities"]:
        fail(f"{run}: sessionstore's azureClientId is no identity the frontend holds")
    else:
        scope = sessions_scope(component)
        roles = [a for a in (account or {}).get("sqlRoleAssignments", []) if a["principalId"] == identity["principalId"]]
        if not roles:
            fail(f"{run}: identity {identity['name']} has no Cosmos DB data role")
        for role in roles:
            if not role["scope"].endswith(scope):
                fail(f"{run}: identity {identity['name']}'s Cosmos DB role is scoped to {role['scope']}, "
                     f"wider than the sessions container ({scope})")
    key = session_encryption_key(world)
    if not re.fullmatch(r"[0-9a-f]{32}|[0-9a-f]{48}|[0-9a-f]{64}", key or ""):
        fail(f"{run}: sessionstore's primaryEncryptionKey is not a hex AES key")


def judge_rollout(run: str, world: dict) -> None:
    """Each app as deploy.sh leaves it rolls without dropping requests, as far as Container Apps
    lets it be said (rollout.py): its template's minReplicas, probes, grace period, the app's
    SHUTDOWN_DELAY, and Dapr's app health check (if on) on the liveness path."""
    for name in ("backend", "frontend"):
        app = world.get("containerApps", {}).get(f"{GROUP}/{name}")
        if not app:
            fail(f"{run}: no app {name}")
            continue
        properties = app["properties"]
        template = properties.get("template") or {}
        containers = template.get("containers") or [{}]
        env = {item["name"]: item.get("value") for item in containers[0].get("env") or []}
        problems, shutdown = aca_problems((template.get("scale") or {}).get("minReplicas"),
                                          containers[0].get("probes") or [], env,
                                          template.get("terminationGracePeriodSeconds"),
                                          (properties.get("configuration") or {}).get("dapr"))
        for problem in problems:
            fail(f"{run}: app {name}: {problem}")
        if not problems:
            print(f"  ok   {run}: app {name}: minReplicas {template['scale']['minReplicas']}, probes "
                  f"{shutdown.readiness} / {shutdown.liveness}, {budget_summary(shutdown)}")


def judge_rerun(first: dict, second: dict) -> None:
    """The second run makes nothing new and changes nothing that is not the project's."""
    for kind in ("cosmosAccounts", "workspaces", "registries", "identities", "environments", "containerApps"):
        made = sorted(set(second.get(kind, {})) - set(first.get(kind, {})))
        if made:
            fail(f"rerun: makes another {kind[:-1]}: {', '.join(made)}")
    for kind in ("roleAssignments", "servicePrincipals"):
        if len(second.get(kind, [])) != len(first.get(kind, [])):
            fail(f"rerun: makes another of {kind}")
    if len(second.get("entraApps", [])) != len(first.get("entraApps", [])):
        fail("rerun: makes another app registration")
    before, after = sign_in_app(first), sign_in_app(second)
    if before and after:
        names = [c["displayName"] for c in after["passwordCredentials"]]
        if "someone-else" not in names:
            fail(f"rerun: wipes the other credentials of app registration {after['displayName']} "
                 "(az ad app credential reset without --append)")
        if len(names) > len(before["passwordCredentials"]):
            fail(f"rerun: credentials of {after['displayName']} pile up "
                 f"({len(before['passwordCredentials'])} → {len(names)})")


def judge_foreign(run: str, world: dict) -> None:
    for kind, items in FOREIGN.items():
        if isinstance(items, dict):
            for key, foreign in items.items():
                if world.get(kind, {}).get(key) != foreign:
                    fail(f"{run}: changes {foreign['name']}, which is not the project's ({kind})")
        else:
            for foreign in items:
                now = next((a for a in world.get(kind, []) if a.get("appId") == foreign["appId"]), None)
                if now != foreign:
                    fail(f"{run}: changes app registration {foreign['displayName']}, which is not the project's")


def check_journey() -> None:
    print(f"journey: deploy/aca/deploy.sh -g {GROUP} -l {LOCATION} twice, then with --image in a new "
          "world, then --login session twice in another and after built-in auth in a fourth, against a recording az stand-in (azure-cli's "
          "parser and code on every call)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="journey-") as work:
        stand_in = None
        try:
            stand_in = Stand_in(Path(work))
            for journey in (build_and_rerun, prebuilt_image, session_login, builtin_to_session):
                stand_in.control({"control": "world", "world": new_world()})
                journey(stand_in)
        except RuntimeError as error:
            fail(str(error))
        finally:
            if stand_in:
                stand_in.stop()
    print(f"  done in {time.monotonic() - started:.1f} s")


def build_and_rerun(stand_in: Stand_in, *options: str, label: str = "") -> tuple[dict, dict] | None:
    """The image built by `az containerapp up --source`, then the same command again: the
    worlds after each run, None if the first failed."""
    seen: set[str] = set()
    first_run, rerun = f"first run{label}", f"rerun{label}"
    stand_in.control({"control": "mark", "mark": first_run})
    first = stand_in.run_script("--resource-group", GROUP, "--location", LOCATION, *options)
    report = stand_in.control({"control": "report"})
    judge_run(first_run, first, report, seen)
    world_first = copy.deepcopy(report["world"])
    judge_foreign(first_run, world_first)
    if first.returncode != 0:
        return None
    judge_registry_passwords(first_run, world_first)
    judge_rollout(first_run, world_first)
    signs_in = sign_in_app(world_first)
    if signs_in:  # a credential someone else made, which a re-run must keep
        stand_in.control({"control": "add-credential", "appId": signs_in["appId"], "displayName": "someone-else"})
        signs_in["passwordCredentials"].append({"displayName": "someone-else"})
    stand_in.control({"control": "mark", "mark": rerun})
    second = stand_in.run_script("--resource-group", GROUP, "--location", LOCATION, *options)
    report = stand_in.control({"control": "report"})
    judge_run(rerun, second, report, seen)
    judge_foreign(rerun, report["world"])
    judge_registry_passwords(rerun, report["world"])
    judge_rollout(rerun, report["world"])
    judge_rerun(world_first, report["world"])
    return world_first, report["world"]


def session_login(stand_in: Stand_in) -> None:
    """--login session: the frontend signs browsers in itself, twice on the same world, with an
    image built beforehand (--image): the re-run then changes no image, so only what the script
    itself changes starts a new revision (the one that reads the new client secret)."""
    registry = "daprpairprebuilt"
    worlds = build_and_rerun(stand_in, "--login", "session", "--registry", registry,
                             "--image", f"{registry}.azurecr.io/dapr-pair:1.0.0", label=" --login session")
    if worlds is None:
        return
    for run, world in zip(("first run --login session", "rerun --login session"), worlds):
        judge_session(run, world)
    if session_encryption_key(worlds[0]) != session_encryption_key(worlds[1]):
        fail("rerun --login session: makes a new session encryption key: every session becomes unreadable")


def prebuilt_image(stand_in: Stand_in) -> None:
    """No ACR Tasks (free-trial subscriptions): an image already in the registry, --image."""
    stand_in.control({"control": "mark", "mark": "--image run"})
    registry = "daprpairprebuilt"
    run = stand_in.run_script("--resource-group", GROUP, "--location", LOCATION, "--registry", registry,
                              "--image", f"{registry}.azurecr.io/dapr-pair:1.0.0")
    report = stand_in.control({"control": "report"})
    if run.returncode == 2 and not calls_of(report["events"], "--image run"):
        fail("--image run: deploy.sh refuses --image: without ACR Tasks (free-trial subscriptions refuse "
             "them, TasksOperationsNotAllowed) there is no way to deploy")
        return
    calls = judge_run("--image run", run, report, set())
    judge_foreign("--image run", report["world"])
    if run.returncode == 0:
        judge_registry_passwords("--image run", report["world"])
        judge_rollout("--image run", report["world"])
        builds = [event for event in calls if event.get("command") == "containerapp up"]
        if builds:
            fail("--image run: still builds with az containerapp up (ACR Tasks)")


def builtin_to_session(stand_in: Stand_in) -> None:
    """A deployment with built-in auth switched to --login session: built-in auth goes off, the
    app's own sign-in takes over, and nothing is exposed on the way."""
    registry = "daprpairprebuilt"
    image = ("--registry", registry, "--image", f"{registry}.azurecr.io/dapr-pair:1.0.0")
    for run, options in (("builtin before the switch", ()), ("switch to --login session", ("--login", "session"))):
        stand_in.control({"control": "mark", "mark": run})
        result = stand_in.run_script("--resource-group", GROUP, "--location", LOCATION, *image, *options)
        report = stand_in.control({"control": "report"})
        judge_run(run, result, report, set())
        if result.returncode != 0:
            return
    judge_session("switch to --login session", report["world"])
    judge_rollout("switch to --login session", report["world"])
