"""az: the Container Apps journey against the pinned azure-cli's own code, offline.

1. Every `az` command line in the deploy scripts, the Bicep files' comments, the README,
   docs/*.md and the workflows, as the shell would pass it (expansions replaced by stand-ins),
   goes through azure-cli's real argument parser in one process with an empty config dir and no
   network (az_cli.py): a line az would refuse before any login (exit 2: "unrecognized
   arguments", "the following arguments are required", an invalid choice; `up --output`)
   fails. Inline code spans in Markdown name commands by the flag a sentence is about, so a
   missing required argument is allowed there and only there.
2. What `az containerapp up --source .` uploads: the build context packed by azure-cli's own
   code, against what the Dockerfile copies (upload.py).
3. The Dapr components for Azure name the Entra ID auth methods Dapr should use and wait long
   enough at start (azure_auth.py).
4. deploy/aca/deploy.sh run twice against a recording az stand-in that parses each call with
   the same parser (journey.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

from .azure_auth import check_azure_auth
from .journey import check_journey
from .report import fail
from .shell_commands import az_command_lines, markdown_blocks_and_spans
from .tools import AZ, REPO
from .upload import check_upload

AZ_PYTHON = str(Path(AZ).parent / "python")


def run_in_azure_cli(module: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`python -m validate_deploy.MODULE ARGS` with the pinned azure-cli's Python."""
    with tempfile.TemporaryDirectory(prefix="az-config-") as config:
        return subprocess.run([AZ_PYTHON, "-m", f"validate_deploy.{module}", *args], input=stdin,
                              capture_output=True, text=True, cwd=REPO / "xtask",
                              env=azure_cli_environment(config))


def run_code_in_azure_cli(code: str, *args: str) -> subprocess.CompletedProcess:
    """`python -c CODE ARGS` with the pinned azure-cli's Python (the package importable)."""
    with tempfile.TemporaryDirectory(prefix="az-config-") as config:
        return subprocess.run([AZ_PYTHON, "-c", code, *args], capture_output=True, text=True,
                              cwd=REPO / "xtask", env=azure_cli_environment(config))


def azure_cli_environment(config_dir: str) -> dict[str, str]:
    """azure-cli's Python with this package importable and an empty configuration folder (no
    login, no defaults: what a fresh machine's az parses)."""
    return {**os.environ, "PYTHONPATH": str(REPO / "xtask"), "PYTHONDONTWRITEBYTECODE": "1",
            "AZURE_CONFIG_DIR": config_dir}


def azure_cli_version() -> str:
    return run_in_azure_cli("az_cli", "--version").stdout.strip()


def command_sources() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")),
            *sorted((REPO / "deploy").rglob("*.sh")), *sorted((REPO / "deploy").rglob("*.bicep")),
            *sorted((REPO / ".github").rglob("*.yml"))]


def command_lines(path: Path) -> list[tuple[list[str], bool]]:
    """(arguments after `az`, whether the line must be complete) of every az command in a file."""
    text = path.read_text()
    if path.suffix == ".md":
        blocks, spans = markdown_blocks_and_spans(text)
        return ([(line, True) for block in blocks for line in az_command_lines(block)]
                + [(line, False) for span in spans for line in az_command_lines(span)])
    if path.suffix == ".bicep":  # the deploy commands in its header comments
        text = "\n".join(line.strip()[2:] for line in text.splitlines() if line.strip().startswith("//"))
    return [(line, True) for line in az_command_lines(text)]


def check_command_lines() -> None:
    found: dict[tuple[str, ...], tuple[str, bool]] = {}
    for path in command_sources():
        for line, complete in command_lines(path):
            where, was_complete = found.get(tuple(line), (str(path.relative_to(REPO)), False))
            found[tuple(line)] = (where, was_complete or complete)
    print(f"az: {len(found)} az command lines in the scripts, Bicep comments, README, docs and "
          f"workflows through the parser of azure-cli {azure_cli_version()}")
    if not found:
        fail("no az command lines found: the extractor is broken")
        return
    lines = list(found)
    run = run_in_azure_cli("az_cli", stdin=json.dumps([list(line) for line in lines]))
    if run.returncode != 0:
        fail(f"azure-cli's parser did not run: {run.stderr.strip().splitlines()[-3:]}")
        return
    results = [json.loads(result) for result in run.stdout.splitlines()]
    accepted: dict[str, int] = {}
    for line, result in zip(lines, results):
        where, complete = found[line]
        message = result["message"].splitlines()[0] if result["message"] else ""
        if result["code"] == 0:
            accepted[result["command"]] = accepted.get(result["command"], 0) + 1
        elif not complete and (re.search(r"the following arguments are required|expected (at least )?one argument", message)):
            accepted["(inline) " + " ".join(line[:3])] = 1
        else:
            fail(f"{where}: az {' '.join(line)}\n         exits {result['code']}: {message}")
    for command, count in sorted(accepted.items()):
        print(f"  ok   az {command}" + (f" ({count} lines)" if count > 1 else ""))


def check_az() -> None:
    check_command_lines()
    check_upload()
    check_azure_auth()
    check_journey()
