"""The `az ...` command lines in shell text: the deploy scripts, the workflows (their `run:`
scripts are scanned as they stand in the YAML) and the code in the README. A small scanner,
not a shell parser: it follows what finding commands needs (command substitutions, quotes,
comments, line continuations) and no more. Pure functions, tested in tests/."""

from __future__ import annotations

import re


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
