"""azure-cli's own command-line parser, driven in-process: runs with the pinned azure-cli's
Python (never the tools' venv), with an empty AZURE_CONFIG_DIR and no network. One process
parses every command line in well under a second after azure-cli's start (about a second), where
`az ... --help` costs one to two seconds per command.

`parse(args)` does what `az ARGS` does up to the point where it would need a login: it loads
the command table for ARGS and runs the CLI's argparse parser on them (which exits 2 on an
unknown or missing argument or an invalid choice, as `az` would). It then runs the checks
azure-cli makes on the arguments themselves before talking to Azure where they exist:
`az containerapp up`'s _validate_up_args (it refuses --output).

As a program (`python -m validate_deploy.az_cli`): a JSON list of argument lists on stdin,
one JSON result per list on stdout ({"code", "message", "arguments"})."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile

if "AZURE_CONFIG_DIR" not in os.environ:  # run on its own: a fresh, empty one
    os.environ["AZURE_CONFIG_DIR"] = tempfile.mkdtemp(prefix="az-config-")
os.environ["AZURE_CORE_COLLECT_TELEMETRY"] = "false"
os.environ["AZURE_CORE_NO_COLOR"] = "true"
os.environ["AZURE_CORE_ONLY_SHOW_ERRORS"] = "false"

from azure.cli.core import get_default_cli  # noqa: E402  (the environment above first)
from knack.events import EVENT_INVOKER_POST_PARSE_ARGS  # noqa: E402


class _Parsed(Exception):
    def __init__(self, namespace) -> None:
        super().__init__("parsed")
        self.namespace = namespace


class Parsed:
    """One command line as azure-cli parsed it: its command name (`containerapp up`) and its
    arguments with azure-cli's defaults filled in (the namespace the command would get)."""

    def __init__(self, command: str, arguments: dict) -> None:
        self.command = command
        self.arguments = arguments

    def __getitem__(self, name: str):
        return self.arguments.get(name)


class AzParser:
    def __init__(self) -> None:
        self.cli = get_default_cli()

        def stop(_cli_ctx, **kwargs):
            raise _Parsed(kwargs["args"])

        self.cli.register_event(EVENT_INVOKER_POST_PARSE_ARGS, stop)
        # command words -> the invocation whose parser has that command loaded: a command parsed
        # once is parsed again by that same parser (what `az` would do on each run, without
        # loading its command table again; ~50 ms saved per line)
        self.loaded: dict[str, object] = {}

    def parse(self, args: list[str]) -> tuple[int, Parsed | None, str]:
        """(exit code, the parsed command or None, what az printed): 0 when azure-cli's parser
        and its argument checks accept the line, else az's exit code (2 for a parse error)."""
        cli = self.cli
        cli.invocation = cli.invocation_cls(cli_ctx=cli, parser_cls=cli.parser_cls,
                                            commands_loader_cls=cli.commands_loader_cls,
                                            help_cls=cli.help_cls, initial_data={})
        printed = io.StringIO()
        words = " ".join(arg.lower() for arg in args[:next((i for i, a in enumerate(args) if a.startswith("-")), len(args))])
        try:
            with contextlib.redirect_stderr(printed), contextlib.redirect_stdout(printed):
                if words in self.loaded:
                    cli.invocation = self.loaded[words]
                    raise _Parsed(cli.invocation.parser.parse_args(list(args)))
                cli.invocation.execute(list(args))
        except _Parsed as parsed:
            namespace = parsed.namespace
            if namespace.command == words:
                self.loaded.setdefault(words, cli.invocation)
        except SystemExit as exit_:
            return (exit_.code if isinstance(exit_.code, int) else 1), None, printed.getvalue()
        except Exception as error:  # azure-cli's own errors before parsing (e.g. `az` alone)
            return 1, None, f"{printed.getvalue()}{type(error).__name__}: {error}"
        else:
            return 1, None, printed.getvalue() + "az ran no command (help or a group?)"
        command = namespace.command
        arguments = {name: plain(value) for name, value in vars(namespace).items()
                     if not name.startswith("_") and name not in ("func", "command", "cmd")}
        refused = self._before_azure(command, args, arguments)
        if refused:
            return 1, None, refused
        return 0, Parsed(command, arguments), printed.getvalue()

    def _before_azure(self, command: str, args: list[str], arguments: dict) -> str | None:
        """azure-cli's checks on the arguments alone that its commands make before any call to
        Azure (only those that need nothing but the command line)."""
        if command == "containerapp up":
            from azure.cli.command_modules.containerapp._up_utils import _validate_up_args
            from azure.cli.core.commands import AzCliCommandInvoker

            class Context:
                data = {"safe_params": AzCliCommandInvoker._extract_parameter_names(args)}

            class Command:
                cli_ctx = Context()

            try:
                _validate_up_args(Command(), arguments.get("source"), arguments.get("image"),
                                  arguments.get("repo"), arguments.get("registry_server"))
            except Exception as error:  # azure-cli's ValidationError and friends
                return f"ERROR: {error}"
        return None


def plain(value):
    """A namespace value as JSON can carry it. The arguments of azure-cli's generated (AAZ)
    commands are lists of operations until the command runs: their last whole value is used."""
    from azure.cli.core.aaz._arg_action import AAZArgActionOperations
    from azure.cli.core.aaz._base import AAZUndefined

    if value is AAZUndefined or type(value).__name__ == "AAZUndefined":
        return None
    if isinstance(value, AAZArgActionOperations):
        whole = [data for keys, data in value._ops if not keys]
        return plain(whole[-1]) if whole else str(value._ops)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    return str(value)


def main() -> int:
    if sys.argv[1:] == ["--version"]:
        from azure.cli.core import __version__
        print(__version__)
        return 0
    parser = AzParser()
    for args in json.load(sys.stdin):
        code, parsed, message = parser.parse(args)
        print(json.dumps({"code": code, "message": message.strip(),
                          "command": parsed.command if parsed else None,
                          "arguments": plain(parsed.arguments) if parsed else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
