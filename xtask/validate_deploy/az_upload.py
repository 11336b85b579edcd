"""What `az containerapp up --source DIR` uploads to Azure Container Registry for the build:
DIR packed by the pinned azure-cli's own code (containerapp/_archive_utils.py,
_pack_source_code, called as containerapp/_utils.py queue_acr_build calls it: the Dockerfile
added again under a random name, which is the one ACR builds with). Its .dockerignore matcher
is azure-cli's, not Docker's (a `!dir/` rule keeps its `/` and matches nothing), so this is the
only faithful way to know what the build gets.

Runs with azure-cli's Python, standalone (CI runs it to build the image from the same upload):

  python xtask/validate_deploy/az_upload.py --list DIR      JSON: the archive's members
  python xtask/validate_deploy/az_upload.py DIR OUT         unpacks the upload into OUT and
                                                            prints dockerfile=NAME, bytes=N
"""

from __future__ import annotations

import json
import os
import sys
import tarfile
import tempfile
import uuid


def pack(source: str, tar_path: str, dockerfile: str = "Dockerfile") -> str:
    """Packs source into tar_path as `az containerapp up` does; returns the name the Dockerfile
    has in the archive (the one ACR is told to build)."""
    from azure.cli.command_modules.containerapp._archive_utils import _pack_source_code

    docker_file_path = os.path.join(source, dockerfile)
    # queue_acr_build: docker_file_in_tar = '{}_{}'.format(uuid.uuid4().hex, original name)
    docker_file_in_tar = "{}_{}".format(uuid.uuid4().hex, os.path.basename(docker_file_path))
    _pack_source_code(source, tar_path, docker_file_path, docker_file_in_tar)
    return docker_file_in_tar


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--list":
        with tempfile.TemporaryDirectory() as work:
            tar_path = os.path.join(work, "upload.tar.gz")
            dockerfile = pack(os.path.abspath(argv[1]), tar_path)
            with tarfile.open(tar_path) as tar:
                members = [[member.name, member.isdir(), member.size] for member in tar.getmembers()]
            print(json.dumps({"dockerfile": dockerfile, "bytes": os.path.getsize(tar_path),
                              "members": members}))
        return 0
    if len(argv) == 2:
        source, out = os.path.abspath(argv[0]), os.path.abspath(argv[1])
        os.makedirs(out, exist_ok=True)
        with tempfile.TemporaryDirectory() as work:
            tar_path = os.path.join(work, "upload.tar.gz")
            dockerfile = pack(source, tar_path)
            with tarfile.open(tar_path) as tar:
                tar.extractall(out, filter="data")
            print(f"dockerfile={dockerfile}")
            print(f"bytes={os.path.getsize(tar_path)}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
