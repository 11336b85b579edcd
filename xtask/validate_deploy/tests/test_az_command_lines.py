"""The az command lines as the shell would pass them (shell_commands.shell_words and
az_command_lines), which the az check hands to azure-cli's parser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from validate_deploy.shell_commands import az_command_lines, markdown_blocks_and_spans, shell_words

REPO = Path(__file__).resolve().parents[3]


# ------------------------------------------------------------------------------- shell words


def test_quotes_are_removed_and_keep_spaces_in_one_word():
    assert shell_words("""a "b c" 'd e' f""") == ["a", "b c", "d e", "f"]


def test_an_empty_quoted_word_is_a_word():
    assert shell_words('a "" b') == ["a", "", "b"]


def test_each_expansion_is_one_stand_in_word_named_after_its_variable():
    assert shell_words('a "$x" ${y} "${arr[@]}" "$1" ${z:-default}') == [
        "a", "stand-in-x", "stand-in-y", "stand-in-arr", "stand-in-1", "stand-in-z"]


def test_an_expansion_inside_a_word_keeps_the_rest_of_the_word():
    assert shell_words('--uri "https://$host/x" api://$client_id') == [
        "--uri", "https://stand-in-host/x", "api://stand-in-client_id"]


def test_two_quoted_expansions_are_two_words_as_the_shell_passes_them():
    # The defect az's parser catches: `--allowed-audiences` takes one value.
    assert shell_words('--allowed-audiences "$id" "api://$id"') == [
        "--allowed-audiences", "stand-in-id", "api://stand-in-id"]
    assert shell_words('--allowed-audiences "$id,api://$id"') == [
        "--allowed-audiences", "stand-in-id,api://stand-in-id"]


def test_single_quotes_keep_a_dollar_literal():
    assert shell_words("""--query '[?name==`$x`]'""") == ["--query", "[?name==`$x`]"]


def test_escapes_are_followed():
    assert shell_words(r'a \$x "b \"c\" \$d"') == ["a", "$x", 'b "c" $d']


def test_a_line_continuation_joins_the_lines():
    assert shell_words("a --b \\\n  --c d") == ["a", "--b", "--c", "d"]


@pytest.mark.parametrize("redirection", ["2>/dev/null", "> out.txt", ">&2", "2>&1", "< in", ">>log"])
def test_redirections_are_not_arguments(redirection):
    assert shell_words(f"a --b c {redirection} --d") == ["a", "--b", "c", "--d"]


@pytest.mark.parametrize("end", ["\n", ";", "&&", "||", "|", ")"])
def test_the_command_ends_at_an_operator(end):
    assert shell_words(f"a --b c{end} d --e") == ["a", "--b", "c"]


# ------------------------------------------------------------------------- az command lines


def test_az_lines_inside_and_around_substitutions_are_found_with_their_words():
    text = ('id="$(az ad app list --filter "displayName eq \'$name\'" --query "[].appId" --output tsv)"\n'
            'az ad app update --id "$id" --web-redirect-uris "$uri" 2>/dev/null\n')
    assert az_command_lines(text) == [
        ["ad", "app", "list", "--filter", "displayName eq 'stand-in-name'", "--query", "[].appId", "--output", "tsv"],
        ["ad", "app", "update", "--id", "stand-in-id", "--web-redirect-uris", "stand-in-uri"]]


def test_a_substitution_is_the_word_W_in_the_outer_line():
    assert az_command_lines('az group show --name "$(az account show --query name)"') == [
        ["account", "show", "--query", "name"], ["group", "show", "--name", "W"]]


def test_prose_and_variables_in_the_command_position_are_not_commands():
    assert az_command_lines("then run az containerapp up to deploy\naz $sub --x y\n") == []
    assert az_command_lines("az login") == [["login"]]


def test_markdown_blocks_are_apart_from_inline_spans():
    blocks, spans = markdown_blocks_and_spans("Use `az group show --name`.\n\n```sh\naz group create --name x\n```\n")
    assert blocks == ["az group create --name x\n"]
    assert spans == ["az group show --name"]


AZ_LINE = re.compile(r"^\s*(?:[a-z_]+=\"\$\()?az((?:\s+[a-z][a-z0-9-]*)+)\s+--")
SCRIPTS = sorted(p for p in (REPO / "deploy").rglob("*.sh") if "az " in p.read_text())


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_az_line_of_a_deploy_script_is_found_with_its_words(script):
    text = script.read_text()
    found = {" ".join(w for w in line if not w.startswith("-")).split(" --")[0] for line in az_command_lines(text)}
    words = [" ".join(m.group(1).split()) for line in text.splitlines() if (m := AZ_LINE.match(line))]
    assert [w for w in words if not any(f.startswith(w) for f in found)] == []
