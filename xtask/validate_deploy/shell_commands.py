"""The `az ...` command lines in shell text: the deploy scripts, the workflows (their `run:`
scripts are scanned as they stand in the YAML) and the code in the README and docs/. A small
scanner, not a shell parser: it follows what finding commands needs (command substitutions,
quotes, comments, line continuations, expansions, redirections) and no more. Pure functions,
tested in tests/."""

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


FENCE = r"^[ \t]*```[a-z]*\n(.*?)^[ \t]*```"


def markdown_blocks_and_spans(text: str) -> tuple[list[str], list[str]]:
    """The fenced code blocks of a Markdown file (what a reader runs) and its inline code spans
    (often a command named with only the flag the sentence is about)."""
    blocks = re.findall(FENCE, text, re.M | re.S)
    spans = re.findall(r"`([^`\n]+)`", re.sub(FENCE, "", text, flags=re.M | re.S))
    return blocks, spans


def markdown_code(text: str) -> str:
    """The code of a Markdown file: fenced blocks and inline code spans, one per line."""
    blocks, spans = markdown_blocks_and_spans(text)
    return "\n".join(blocks + spans)


def stand_in(expansion: str) -> str:
    """The word a parameter expansion (`$x`, `${x}`, `${x:-y}`, `${arr[@]}`, `$1`) stands for
    when a command line is checked without running the script: a value named after it."""
    name = re.match(r"\$\{?#?!?([A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])", expansion)
    return f"stand-in-{name.group(1) if name else 'value'}"


def _expansion_end(text: str, i: int) -> int:
    """The end of the parameter expansion starting at text[i] == '$' (i + 1 if there is none)."""
    if text.startswith("${", i):
        depth, j = 0, i + 1
        while j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                return j + 1
            j += 1
        return len(text)
    name = re.match(r"[A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-]", text[i + 1:])
    return i + 1 + (name.end() if name else 0)


def shell_words(text: str) -> list[str]:
    """The words of the simple command at the start of text, as the shell would pass them:
    quotes removed, backslash escapes and line continuations followed, every parameter
    expansion replaced by its stand_in (one word), redirections (`2>/dev/null`, `>&2`, `<f`)
    dropped; it ends at an unquoted newline, `;`, `&`, `|` or `)`."""
    words: list[str] = []
    word: list[str] | None = None
    quote = None
    i = 0

    def end_word() -> None:
        nonlocal word
        if word is not None:
            words.append("".join(word))
        word = None

    while i < len(text):
        char = text[i]
        if quote == "'":
            if char == "'":
                quote = None
            else:
                word.append(char)
            i += 1
        elif char == "$" and _expansion_end(text, i) > i + 1:
            end = _expansion_end(text, i)
            word = (word if word is not None else []) + [stand_in(text[i:end])]
            i = end
        elif quote == '"':
            if char == '"':
                quote = None
            elif char == "\\" and text[i + 1:i + 2] in ('$', '`', '"', "\\", "\n"):
                if text[i + 1] != "\n":
                    word.append(text[i + 1])
                i += 1
            else:
                word.append(char)
            i += 1
        elif char == "\\":
            if text[i + 1:i + 2] != "\n":
                word = (word if word is not None else []) + [text[i + 1:i + 2]]
            i += 2
        elif char in "'\"":
            quote = char
            word = word if word is not None else []
            i += 1
        elif char in " \t":
            end_word()
            i += 1
        elif char in "\n;&|)":
            break
        elif char in "<>":
            if word is not None and "".join(word).isdigit():
                word = None  # the file descriptor of `2>...`
            end_word()
            operator = re.match(r"[<>]+&?-?[0-9]*", text[i:]).group(0)
            i += len(operator)
            if not re.match(r"[<>]+&", operator):  # `>&2` has its target already
                while i < len(text) and text[i] in " \t":
                    i += 1
                target = shell_words(text[i:])[:1]  # the file name, one word
                i += _word_length(text[i:]) if target else 0
        else:
            word = (word if word is not None else []) + [char]
            i += 1
    end_word()
    return words


def _word_length(text: str) -> int:
    """How many characters of text the shell word at its start takes (quotes included)."""
    quote, i = None, 0
    while i < len(text):
        char = text[i]
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "\\":
            i += 1
        elif char in " \t\n;&|)<>":
            break
        i += 1
    return i


def az_command_lines(text: str) -> list[list[str]]:
    """The argument lists (after `az`) of every `az ...` command in shell text, as the shell
    would pass them (shell_words): command substitutions are the word `W`, expansions their
    stand_in. As in az_invocations, a command needs a flag (or is `az login`) to count."""
    found = []
    for segment in shell_segments(text):
        for match in re.finditer(r"(?:^|[\s;|&`(])az\s+(?=[a-z])", segment):
            words = shell_words(segment[match.end():])
            command = [word for word in words if not word.startswith("-")][:1]
            if any(word.startswith("--") for word in words) or words == ["login"]:
                if command and re.fullmatch(r"[a-z][a-z0-9-]*", command[0]):
                    found.append(words)
    return found
