"""The SDK is installed into users' services: it must import with only its own dependencies."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Run in a fresh interpreter where every server-side package fails to import, as it would
# where only `pip install pipelogiq` (without the [server] extra) was done.
_PROBE = """
import importlib.abc, sys
blocked = set(sys.argv[1].split(","))

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None

sys.meta_path.insert(0, Block())
import worker_sdk
"""


def server_packages() -> set[str]:
    """Import names of the [server] extra's distributions (and the server's own packages)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = set()
    for requirement in project["optional-dependencies"]["server"]:
        distribution = requirement.split(">")[0].split("=")[0].split("[")[0].strip()
        names.add(distribution.replace("-", "_").lower())
    return names | {"controlplane", "database", "builtin_worker"}


def test_server_packages_are_found_from_the_server_extra() -> None:
    assert {"litestar", "asyncpg", "aio_pika", "granian", "controlplane"} <= server_packages()


def test_the_sdk_imports_without_server_dependencies() -> None:
    blocked = server_packages()
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, ",".join(sorted(blocked))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
