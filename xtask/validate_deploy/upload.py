"""upload: what `az containerapp up --source .` sends to the registry for the build, packed by
the pinned azure-cli's own code (az_upload.py), holds every file the Dockerfile copies and
nothing git ignores (build output, local state, dependencies: the repository's own
.gitignore, asked through git); and the workflow builds the image from that same upload on
pull requests."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from .dockerfile import copy_sources, missing_sources
from .report import fail
from .tools import AZ, REPO

AZ_UPLOAD = REPO / "xtask/validate_deploy/az_upload.py"


def git_ignored(repo: Path) -> list[str]:
    """What git ignores in the working tree (a folder ends with /): the repository's own rules."""
    run = subprocess.run(["git", "ls-files", "--others", "--ignored", "--exclude-standard", "--directory"],
                         capture_output=True, text=True, cwd=repo)
    if run.returncode != 0:
        fail(f"git ls-files failed: {run.stderr.strip()}")
        return []
    return [line for line in run.stdout.splitlines() if line]


def packed(repo: Path) -> dict | None:
    run = subprocess.run([str(Path(AZ).parent / "python"), str(AZ_UPLOAD), "--list", str(repo)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        fail(f"azure-cli's packer failed: {run.stderr.strip().splitlines()[-3:]}")
        return None
    return json.loads(run.stdout)


def check_upload() -> None:
    print("upload: the build context `az containerapp up --source .` sends, packed by azure-cli's "
          "_pack_source_code, against the Dockerfile's COPY sources and .gitignore")
    upload = packed(REPO)
    if upload is None:
        return
    files = {name for name, is_dir, _ in upload["members"] if not is_dir}
    folders = {name for name, is_dir, _ in upload["members"] if is_dir}
    sources = copy_sources((REPO / "Dockerfile").read_text())
    missing = missing_sources((REPO / "Dockerfile").read_text(), REPO, files, folders)
    for source in missing:
        fail(f"upload lacks COPY source {source}: ACR's build fails there "
             f"(.dockerignore as azure-cli's matcher reads it)")
    ignored = git_ignored(REPO)
    leaked = sorted({rule for rule in ignored for name in files | folders
                     if name == rule.rstrip("/") or name.startswith(rule if rule.endswith("/") else rule + "/")})
    for rule in leaked:
        fail(f"upload holds {rule}, which git ignores (build output or local state)")
    if not missing and not leaked:
        print(f"  ok   {len(files)} files, {upload['bytes'] / 1024:.0f} KiB: all {len(sources)} COPY "
              f"sources, none of {', '.join(ignored) or 'the ignored paths'}")
    check_workflow_builds_upload()


def check_workflow_builds_upload() -> None:
    """A job of the workflows packs the upload with az_upload.py and builds that folder on pull
    requests, so a broken Dockerfile or .dockerignore shows before the merge."""
    for path in sorted((REPO / ".github/workflows").glob("*.y*ml")):
        workflow = yaml.safe_load(path.read_text())
        triggers = workflow.get("on", workflow.get(True)) or {}
        if "pull_request" not in (triggers if isinstance(triggers, (dict, list)) else [triggers]):
            continue
        for name, job in (workflow.get("jobs") or {}).items():
            condition = str(job.get("if", ""))
            if re.search(r"event_name\s*==\s*'(?!pull_request)", condition):
                continue  # not run on pull requests
            steps = job.get("steps") or []
            packs = [i for i, step in enumerate(steps) if "az_upload.py" in str(step.get("run", ""))]
            builds = [i for i, step in enumerate(steps)
                      if "docker/build-push-action" in str(step.get("uses", ""))
                      or re.search(r"\bdocker (buildx )?build\b", str(step.get("run", "")))]
            if packs and any(i > packs[0] for i in builds):
                print(f"  ok   {path.relative_to(REPO)} job {name} builds the image from that upload "
                      "on pull requests")
                return
    fail("no workflow job builds the image on pull requests from the upload az containerapp up "
         "would send (pack with xtask/validate_deploy/az_upload.py, then build that folder)")
