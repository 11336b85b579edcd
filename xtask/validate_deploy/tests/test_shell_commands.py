"""The scanner that finds `az ...` command lines for the az check (shell_commands.py): what it
finds, and what it must not take for a command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from validate_deploy.shell_commands import az_invocations, markdown_code, shell_segments

REPO = Path(__file__).resolve().parents[3]


def commands(text: str) -> list[tuple[str, list[str]]]:
    """az_invocations as ("words", [flags]) for short assertions."""
    return [(" ".join(words), flags) for words, flags in az_invocations(text)]


# ------------------------------------------------------------------------- command and flags


def test_words_up_to_the_first_flag_are_the_command_and_flags_are_collected():
    assert commands("az ad app list --display-name dapr-pair --query '[0].appId' --output tsv") == [
        ("ad app list", ["--display-name", "--query", "--output"])]


def test_a_flag_written_with_equals_counts_and_short_flags_do_not():
    assert commands("az group create --name=dapr-pair -l westeurope --tags a=b") == [
        ("group create", ["--name", "--tags"])]


def test_variables_as_flag_values_are_skipped_and_the_flags_after_them_kept():
    assert commands('az containerapp show --name "$app" --resource-group ${rg} --query "$q" --output tsv') == [
        ("containerapp show", ["--name", "--resource-group", "--query", "--output"])]


def test_a_variable_in_the_command_position_is_not_a_command():
    assert commands('az "$subcommand" --name x') == []
    assert commands("az $subcommand --name x") == []


def test_az_must_be_a_word_of_its_own():
    assert commands("echo baz group --x; azure group --y; lazy --z") == []


@pytest.mark.parametrize("sentence", [
    "then run az containerapp up to deploy it",
    "az group list",
])
def test_a_command_without_flags_is_prose_not_a_command(sentence):
    assert commands(sentence) == []


def test_az_login_is_the_one_command_known_without_flags():
    assert commands("az login") == [("login", [])]
    assert commands("Needs: az (logged in: `az login`)") == [("login", [])]


# ------------------------------------------------------------------------ lines and commands


def test_a_backslash_newline_continues_the_command():
    text = ('az containerapp env create --name "$environment" --resource-group "$resource_group" \\\n'
            '  --location "$location" --output none\n')
    assert commands(text) == [
        ("containerapp env create", ["--name", "--resource-group", "--location", "--output"])]


def test_a_newline_without_a_backslash_ends_the_command():
    assert commands("az group create --name x\n  --location y\n") == [("group create", ["--name"])]


def test_commands_separated_by_pipes_semicolons_and_ands_are_apart():
    assert commands("az a b --c | jq . && az d e --f; az g h --i || az j k --l & az m n --o") == [
        ("a b", ["--c"]), ("d e", ["--f"]), ("g h", ["--i"]), ("j k", ["--l"]), ("m n", ["--o"])]


def test_one_command_per_line():
    text = "az group create --name x --location y\naz group delete --name x --yes\n"
    assert commands(text) == [("group create", ["--name", "--location"]),
                              ("group delete", ["--name", "--yes"])]


def test_indented_commands_such_as_workflow_run_steps_are_found():
    workflow = ("      - name: Log in\n"
                "        run: az account show --output none\n"
                "      - run: |\n"
                "          az group create --name ci \\\n"
                "            --location westeurope\n")
    assert commands(workflow) == [("account show", ["--output"]),
                                  ("group create", ["--name", "--location"])]


def test_a_heredoc_body_is_scanned_like_any_line():
    # Not parsed as a heredoc: its lines are scanned as shell, which finds the commands a
    # script prints for the reader to run (deploy/aca/deploy.sh does).
    text = "cat <<DONE\nLogs: az containerapp logs show --name frontend --follow\nDONE\n"
    assert commands(text) == [("containerapp logs show", ["--name", "--follow"])]


# ------------------------------------------------------------------------------------ comments


def test_a_whole_line_comment_is_dropped():
    assert commands("# az group delete --name x --yes\naz group show --name x\n") == [
        ("group show", ["--name"])]


def test_a_comment_after_a_command_ends_it():
    assert commands("az group create --name x  # --location comes from the defaults\n") == [
        ("group create", ["--name"])]


def test_a_comment_runs_to_the_end_of_its_line_only():
    assert commands("# setup\naz group list --output table") == [("group list", ["--output"])]


def test_a_hash_inside_a_word_is_not_a_comment():
    assert commands("az group create --name ${name#prefix-} --location y") == [
        ("group create", ["--name", "--location"])]


@pytest.mark.parametrize("quoted", ['"a #b"', "'a #b'"])
def test_a_hash_inside_quotes_is_not_a_comment(quoted):
    assert commands(f"az group create --tags {quoted} --location y") == [
        ("group create", ["--tags", "--location"])]


# ------------------------------------------------------------------- command substitutions


def test_a_substitution_is_a_segment_of_its_own_and_a_word_in_its_place():
    assert shell_segments('az a --x "$(az b --y)"') == ["az b --y", 'az a --x "W"']


def test_commands_inside_and_around_a_substitution_are_both_found():
    text = ('image="$(az containerapp show --name backend --resource-group "$rg" \\\n'
            '  --query "properties.template.containers[0].image" --output tsv)"\n'
            'az containerapp up --image "$image" --ingress external\n')
    assert commands(text) == [
        ("containerapp show", ["--name", "--resource-group", "--query", "--output"]),
        ("containerapp up", ["--image", "--ingress"])]


def test_the_flags_of_an_inner_command_are_not_the_outer_ones():
    found = dict(commands('az ad app credential reset --id "$(az ad app list --display-name x --query y)" --years 1'))
    assert found == {"ad app list": ["--display-name", "--query"],
                     "ad app credential reset": ["--id", "--years"]}


def test_nested_substitutions_each_get_a_segment():
    assert shell_segments("a $(b $(c) d) e") == ["c", "b W d", "a W e"]


def test_backticks_are_found_as_a_command_boundary():
    assert commands("x=`az account show --query id`") == [("account show", ["--query"])]


def test_a_parenthesis_inside_a_substitution_does_not_end_it():
    assert shell_segments("$(f (x) y) z") == ["f (x) y", "W z"]


def test_a_parenthesis_inside_quotes_in_a_substitution_does_not_end_it():
    text = """n="$(az vm list --query "length([?name==')'])" --output tsv)\""""
    assert commands(text) == [("vm list", ["--query", "--output"])]


def test_single_quotes_keep_a_dollar_parenthesis_literal():
    assert shell_segments("echo '$(not a substitution)' done") == ["echo '$(not a substitution)' done"]


def test_double_quotes_do_not_keep_a_substitution_literal():
    assert shell_segments('echo "$(az a --b)"') == ["az a --b", 'echo "W"']


def test_arithmetic_is_not_a_substitution():
    assert shell_segments("echo $((1 + 2)) $(az a --b)") == ["az a --b", "echo $((1 + 2)) W"]


def test_an_unclosed_substitution_is_kept_as_text():
    assert shell_segments("a $(b") == ["a ", "b"]


# ---------------------------------------------------------------------------------- markdown


def test_markdown_code_is_fenced_blocks_then_inline_spans():
    text = ("Run `az group list --output table` first, then az account show --output json.\n\n"
            "```bash\naz group create --name x \\\n  --location y\n```\n\n"
            "   ```\n   az group delete --name x --yes\n   ```\n")
    code = markdown_code(text)
    assert code == ("az group create --name x \\\n  --location y\n"
                    "\n   az group delete --name x --yes\n"
                    "\naz group list --output table")
    assert commands(code) == [("group create", ["--name", "--location"]),
                              ("group delete", ["--name", "--yes"]),
                              ("group list", ["--output"])]


def test_markdown_prose_is_not_code():
    assert markdown_code("Use az group create --name x to make one.\n") == ""


def test_backticks_inside_a_fenced_block_are_not_spans():
    text = "```sh\nx=`az account show --query id`\n```\n"
    assert markdown_code(text) == "x=`az account show --query id`\n"


# ----------------------------------------------------------------------- the repository's own

AZ_LINE = re.compile(r"^\s*(?:[a-z_]+=\"\$\()?az((?:\s+[a-z][a-z0-9-]*)+)\s+--")


def az_lines(text: str) -> list[str]:
    return sorted(" ".join(m.group(1).split()) for line in text.splitlines() if (m := AZ_LINE.match(line)))


DEPLOY_SCRIPTS = sorted(str(p.relative_to(REPO)) for p in (REPO / "deploy").rglob("*.sh")
                        if az_lines(p.read_text()))


def test_the_deploy_scripts_have_az_lines_to_compare():
    assert len(DEPLOY_SCRIPTS) >= 2, DEPLOY_SCRIPTS


@pytest.mark.parametrize("script", DEPLOY_SCRIPTS)
def test_every_az_line_of_a_deploy_script_is_found(script):
    """Each line of the deploy scripts that starts an az command (alone or as `x="$(az ...`)
    is one the scanner finds, with the same command words."""
    text = (REPO / script).read_text()
    found = {" ".join(words) for words, _ in az_invocations(text)}
    assert [words for words in az_lines(text) if words not in found] == []
