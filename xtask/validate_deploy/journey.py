"""journey: deploy/aca/deploy.sh, as a user runs it, against a recording az stand-in
(fake_azure.py: azure-cli's parser on every call, a world of canned resources that the calls
change as azure-cli 2.91's code would). It runs twice on the same world, the second time as a
re-run finds things (existing resources, plus someone else's credential on the sign-in app).
The world starts with what a real subscription has besides this project: another Cosmos DB
account and another Log Analytics workspace in the group, and an app registration whose name
starts with the one the script uses.

Judged from the record:
- every call succeeds (the script runs to its end);
- at no call is the frontend reachable from the internet (external ingress) while its built-in
  auth is off (ingress internal until auth is on);
- afterwards no app holds a registry password (no registry entry with a username or password
  secret, no secret holding an admin password the registry ever issued), every registry is
  pulled with a managed identity and has its admin user off;
- what az would drop or refuse of the YAML the script renders (app and Dapr component) fails;
- the second run creates nothing (no new workspace, registry, identity, app registration,
  role assignment), changes nothing that is not the project's (the other account, workspace
  and app registration exactly as before) and keeps the other credential."""

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
                 "while its built-in auth is off")
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


def sign_in_app(world: dict) -> dict | None:
    """The app registration the frontend's built-in auth signs in with."""
    frontend = world.get("containerApps", {}).get(f"{GROUP}/frontend") or {}
    registration = ((((frontend.get("authConfig") or {}).get("identityProviders") or {})
                     .get("azureActiveDirectory") or {}).get("registration") or {})
    return next((a for a in world.get("entraApps", []) if a["appId"] == registration.get("clientId")), None)


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
          "world, against a recording az stand-in (azure-cli's parser and code on every call)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="journey-") as work:
        stand_in = None
        try:
            stand_in = Stand_in(Path(work))
            for journey in (build_and_rerun, prebuilt_image):
                stand_in.control({"control": "world", "world": new_world()})
                journey(stand_in)
        except RuntimeError as error:
            fail(str(error))
        finally:
            if stand_in:
                stand_in.stop()
    print(f"  done in {time.monotonic() - started:.1f} s")


def build_and_rerun(stand_in: Stand_in) -> None:
    """The image built by `az containerapp up --source`, then the same command again."""
    seen: set[str] = set()
    stand_in.control({"control": "mark", "mark": "first run"})
    first = stand_in.run_script("--resource-group", GROUP, "--location", LOCATION)
    report = stand_in.control({"control": "report"})
    judge_run("first run", first, report, seen)
    world_first = copy.deepcopy(report["world"])
    judge_foreign("first run", world_first)
    if first.returncode != 0:
        return
    judge_registry_passwords("first run", world_first)
    signs_in = sign_in_app(world_first)
    if signs_in:  # a credential someone else made, which a re-run must keep
        stand_in.control({"control": "add-credential", "appId": signs_in["appId"], "displayName": "someone-else"})
        signs_in["passwordCredentials"].append({"displayName": "someone-else"})
    stand_in.control({"control": "mark", "mark": "rerun"})
    second = stand_in.run_script("--resource-group", GROUP, "--location", LOCATION)
    report = stand_in.control({"control": "report"})
    judge_run("rerun", second, report, seen)
    judge_foreign("rerun", report["world"])
    judge_registry_passwords("rerun", report["world"])
    judge_rerun(world_first, report["world"])


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
        builds = [event for event in calls if event.get("command") == "containerapp up"]
        if builds:
            fail("--image run: still builds with az containerapp up (ACR Tasks)")
