"""The two distributions as users install them, each from its wheel into a fresh virtualenv:
`pipelogiq-sdk` in a service, and `pipelogiq` without its [server] extra."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from worker_sdk.templates import SHIPPED

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def project(pyproject: Path) -> dict[str, Any]:
    return dict(tomllib.loads(pyproject.read_text())["project"])


def test_the_sdk_distribution_declares_what_the_server_one_does_for_the_sdk() -> None:
    server, sdk = project(ROOT / "pyproject.toml"), project(ROOT / "worker_sdk/pyproject.toml")
    assert sdk["dependencies"] == server["dependencies"]
    for extra in ("metrics", "data", "video"):
        declared = [
            r.replace("pipelogiq-sdk[", "pipelogiq[") for r in sdk["optional-dependencies"][extra]
        ]
        assert declared == server["optional-dependencies"][extra], extra
    assert sdk["scripts"] == {"pipelogiq-worker": server["scripts"]["pipelogiq-worker"]}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both wheels, by the build backend `just build` uses (which goes through the sdists;
    CI runs it too)."""
    out = tmp_path_factory.mktemp("wheels")
    for source in (ROOT, ROOT / "worker_sdk"):
        pip("wheel", "--no-deps", "--wheel-dir", str(out), str(source))
    return out


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--quiet", *args], check=True, timeout=600)


def installed(venv: Path, wheel: Path) -> Path:
    """A fresh virtualenv with ``wheel`` and its dependencies (from the package index)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip("--python", str(venv / "bin" / "python"), "install", str(wheel))
    return venv / "bin"


def in_venv(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Nothing of this checkout may leak in: not through PYTHONPATH, nor the current directory.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_sdk_wheel_installs_the_sdk_alone(wheels: Path, tmp_path: Path) -> None:
    [wheel] = wheels.glob("pipelogiq_sdk-*.whl")
    scripts = installed(tmp_path / "venv", wheel)
    probe = in_venv(
        scripts / "python",
        "-c",
        "import importlib.util, worker_sdk; from worker_sdk import Worker; "
        "from worker_sdk.templates.catalog import shipped_catalog; "
        "print(worker_sdk.__version__, importlib.util.find_spec('controlplane'), "
        "len(shipped_catalog()))",
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    shipped = sum(len(names) for names in SHIPPED.values())  # the catalog came in the wheel
    assert probe.stdout.split() == [wheel.name.split("-")[1], "None", str(shipped)]
    helped = in_venv(scripts / "pipelogiq-worker", "--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "usage: pipelogiq-worker" in helped.stdout
    assert not (scripts / "pipelogiq").exists()  # the server's command is not in it


def test_the_server_commands_without_the_server_extra_say_what_to_install(
    wheels: Path, tmp_path: Path
) -> None:
    [wheel] = wheels.glob("pipelogiq-*.whl")
    scripts = installed(tmp_path / "venv", wheel)
    done = in_venv(scripts / "pipelogiq", "dev", cwd=tmp_path)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert re.fullmatch(
        r"pipelogiq: the server commands need the server extra: pip install 'pipelogiq\[server\]' "
        r"\(No module named '\w+'\)",
        line,
    ), line
    # The SDK it carries works as it is.
    assert in_venv(scripts / "pipelogiq-worker", "--help", cwd=tmp_path).returncode == 0
