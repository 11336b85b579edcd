"""bicep: deploy/aca/main.bicep parses, declares no name that hides a function it calls, and
its parameters file names only declared parameters and gives every one without a default."""

from __future__ import annotations

import json
import re

from .report import fail
from .tools import REPO


def check_bicep() -> None:
    from pycep import BicepParser

    print("bicep: deploy/aca/main.bicep parses; parameters file matches")
    bicep = REPO / "deploy/aca/main.bicep"
    try:
        parsed = BicepParser().parse(text=bicep.read_text())
    except Exception as error:  # pycep raises lark errors of several kinds
        fail(f"{bicep.relative_to(REPO)} does not parse: {error}")
        return
    # pycep checks syntax only. One mistake it lets through that the Bicep compiler rejects
    # ("... is not a function"): a parameter, variable, resource or output named like a
    # function the file calls, e.g. `resource environment` hides `environment()`.
    symbols = {name for section in ("parameters", "variables", "resources", "outputs")
               for name in parsed.get(section, {})}
    for name in sorted(symbols):
        if re.search(rf"(?<![.\w]){re.escape(name)}\(", bicep.read_text()):
            fail(f"{bicep.relative_to(REPO)}: `{name}` is declared and also called as a function; "
                 f"Bicep resolves the name to the declaration (rename it, or call sys.{name}())")
    declared = parsed.get("parameters", {})
    parameters_file = REPO / "deploy/aca/main.parameters.json"
    given = json.loads(parameters_file.read_text())["parameters"]
    for name in given:
        if name not in declared:
            fail(f"{parameters_file.name} sets {name}, which main.bicep does not declare")
    for name, declaration in declared.items():
        secure = "secure" in json.dumps(declaration.get("decorators", []))  # passed at deploy time
        if declaration.get("default") is None and name not in given and not secure:
            fail(f"main.bicep parameter {name} has no default and {parameters_file.name} does not set it")
    print(f"  ok   {len(parsed.get('resources', {}))} resources, {len(declared)} parameters, "
          f"{len(parsed.get('outputs', {}))} outputs")
