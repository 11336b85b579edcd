"""az: every `az` command and flag in the deploy scripts, the README and the workflows exists
in the pinned azure-cli (`az <command> --help` works without a network)."""

from __future__ import annotations

import concurrent.futures
import os
import re
import subprocess

from .report import fail
from .shell_commands import az_invocations, markdown_code
from .tools import AZ, REPO

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
