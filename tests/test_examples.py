"""Every example runs as its README says, against a real control plane (pipelogiq dev)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import create_app, environment, process

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    # One embedded control plane for all the examples, as a new user would run it.
    env = environment(
        PIPELOGIQ_DATA_DIR=str(tmp_path_factory.mktemp("data")),
        PIPELOGIQ_LAKE=str(tmp_path_factory.mktemp("lake")),
    )
    base = f"http://127.0.0.1:{env['PIPELOGIQ_EXTERNAL_PORT']}"
    with process("dev", env=env, ready=f"{base}/readyz"):
        yield {**env, "PIPELOGIQ_URL": base, "PIPELOGIQ_API_KEY": create_app(env)}


@pytest.mark.parametrize(
    ("example", "arguments", "expected"),
    [
        ("hello", ["Ada"], ["completed Bonjour, Ada!"]),
        ("dag", [], ["completed {'sum': 385, 'count': 10}"]),
        (
            "retries",
            [],
            [
                "flaky: completed after 3 attempt(s): succeeded on attempt 3",
                "invalid: failed after 1 attempt(s): INVALID",
                "slow: failed after 1 attempt(s): timeout",
            ],
        ),
    ],
)
def test_example(
    plane: dict[str, str], example: str, arguments: list[str], expected: list[str]
) -> None:
    folder = ROOT / "examples" / example
    with process(str(folder / "worker.py"), env=plane, command=[sys.executable]):
        done = subprocess.run(
            [sys.executable, str(folder / "submit.py"), *arguments],
            env=plane,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines() == expected


@pytest.mark.parametrize("upload", [False, True], ids=["file", "upload"])
def test_the_medallion_example_runs_in_one_command(
    plane: dict[str, str], tmp_path: Path, upload: bool
) -> None:
    # Uploaded, the file goes to the control plane's lake: the worker must share it.
    lake = plane["PIPELOGIQ_LAKE"] if upload else str(tmp_path / "lake")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "medallion" / "run.py"),
            "20000",
            *(["--upload"] if upload else []),
        ],
        env={**plane, "PIPELOGIQ_LAKE": lake},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    # The generated file has about 1% duplicates and 1% bad rows: some of each are caught.
    summary = next(line for line in lines if line.startswith("bronze 20,000 rows → silver"))
    assert "duplicates removed" in summary
    assert "quarantined" in summary
    assert "warned" in summary
    assert any(
        line.strip().startswith(
            "reconciled: every bronze row accounted for: 20,000 = 20,000, holds"
        )
        for line in lines
    )
    assert any(line.startswith("gold: 240 rows of revenue per day and country") for line in lines)
    assert (Path(lake) / "landing" / "orders-20000.csv").exists()
    if upload:
        assert any(line.endswith("/bronze/orders; ingesting it") for line in lines), lines
