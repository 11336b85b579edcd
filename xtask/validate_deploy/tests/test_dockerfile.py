"""What a Dockerfile reads from its build context (dockerfile.py), which the upload check
compares with what `az containerapp up` packs."""

from __future__ import annotations

from pathlib import Path

from validate_deploy.dockerfile import copy_sources, dockerfile_instructions, missing_sources

REPO = Path(__file__).resolve().parents[3]

DOCKERFILE = """\
# syntax=docker/dockerfile:1
FROM rust AS build
COPY Cargo.toml Cargo.lock ./
# a comment
COPY --chown=1:1 a/src \\
     a/src
ADD ["b/x y", "/dest/"]
ADD https://example.com/f.tar /f.tar
COPY --from=build /out /out
FROM scratch
COPY --from=build /etc/ssl /etc/ssl
"""


def test_instructions_join_continuations_and_drop_comments():
    keyword, arguments = dockerfile_instructions(DOCKERFILE)[2]
    assert (keyword, arguments.split()) == ("COPY", ["--chown=1:1", "a/src", "a/src"])


def test_copy_sources_are_the_context_paths_only():
    assert copy_sources(DOCKERFILE) == ["Cargo.toml", "Cargo.lock", "a/src", "b/x y"]


def test_a_folder_source_lacks_the_files_the_context_does_not_have(tmp_path):
    (tmp_path / "a/src").mkdir(parents=True)
    (tmp_path / "a/src/lib.rs").write_text("")
    (tmp_path / "a/src/main.rs").write_text("")
    dockerfile = "COPY a/src a/src\nCOPY Cargo.toml ./\n"
    assert missing_sources(dockerfile, tmp_path, {"a/src/lib.rs", "a/src/main.rs", "Cargo.toml"}, {"a/src"}) == []
    lacking = missing_sources(dockerfile, tmp_path, {"a/src/lib.rs"}, {"a/src"})
    assert lacking == ["a/src (1 of its 2 files, e.g. a/src/main.rs)", "Cargo.toml"]


def test_the_repositorys_dockerfile_copies_every_workspace_member_manifest():
    # cargo loads the whole workspace, so `cargo build -p ...` in the image needs every
    # member's Cargo.toml (the Dockerfile's first stage).
    import tomllib

    members = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["members"]
    sources = copy_sources((REPO / "Dockerfile").read_text())
    assert [m for m in members if f"{m}/Cargo.toml" not in sources] == []
