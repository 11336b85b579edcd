"""What a Dockerfile reads from its build context: its instructions and the sources of its
COPY and ADD lines. Pure functions (used with the tools' Python and with azure-cli's)."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile: continuations joined, comments dropped."""
    instructions, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if current and line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        keyword, _, rest = current.strip().partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        current = ""
    return instructions


def copy_sources(text: str) -> list[str]:
    """The build-context paths every COPY and ADD reads (not those copying from a stage or an
    image with --from, nor ADD's URLs)."""
    sources = []
    for keyword, arguments in dockerfile_instructions(text):
        if keyword not in ("COPY", "ADD"):
            continue
        if arguments.startswith("["):
            words = json.loads(arguments)
        else:
            words = arguments.split()
        options = [word for word in words if word.startswith("--")]
        paths = [word for word in words if not word.startswith("--")]
        if any(option.startswith("--from") for option in options):
            continue
        sources += [path for path in paths[:-1] if not re.match(r"https?://|git@", path)]
    return sources


def missing_sources(dockerfile: str, repo: Path, files: set[str], folders: set[str]) -> list[str]:
    """The COPY/ADD sources of the Dockerfile text that a build context (its files and folders,
    relative paths) lacks; a folder source lacks what it has on disk in repo but not there."""
    missing = []
    for source in copy_sources(dockerfile):
        path = source.rstrip("/").removeprefix("./")
        if any(char in path for char in "*?["):
            if not any(fnmatch.fnmatchcase(name, path) for name in files | folders):
                missing.append(source)
        elif (repo / path).is_dir():
            on_disk = {str(file.relative_to(repo)) for file in (repo / path).rglob("*") if file.is_file()}
            lost = sorted(on_disk - files)
            if lost or path not in folders:
                missing.append(f"{source} ({len(lost)} of its {len(on_disk)} files, e.g. "
                               f"{', '.join(lost[:3])})")
        elif path not in files:
            missing.append(source)
    return missing
