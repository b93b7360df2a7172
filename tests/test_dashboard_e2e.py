"""The dashboard in a real browser (Debian's Chromium, driven by playwright-core) against a
real control plane: log in, see a pipeline arrive and its stage complete, live."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from controlplane.api.internal.dashboard import DIST
from tests.processes import create_app, environment, process, run

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "a password for the browser"


def test_a_pipeline_completes_on_screen_without_a_reload(database_url: str, tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), "browser tests need Debian's chromium: apt-get install chromium"
    assert (DIST / "index.html").is_file(), "build the dashboard first: just dashboard"
    env = environment(DATABASE_URL=database_url)
    created = run("create-admin", "--email", "ui@example.com", "--password", PASSWORD, env=env)
    assert created.returncode == 0, created.stderr
    internal = f"http://127.0.0.1:{env['PIPELOGIQ_INTERNAL_PORT']}"
    external = f"http://127.0.0.1:{env['PIPELOGIQ_EXTERNAL_PORT']}"
    with process("dev", env=env, ready=f"{external}/readyz"):
        key = create_app(env)
        screenshots = Path(os.environ.get("PIPELOGIQ_SCREENSHOTS", tmp_path)).resolve()
        done = subprocess.run(
            [shutil.which("node") or "node", "e2e/live.mjs"],
            cwd=ROOT / "dashboard",
            env={
                **os.environ,
                "CHROMIUM": CHROMIUM,
                "PLQ_INTERNAL": internal,
                "PLQ_EXTERNAL": external,
                "PLQ_KEY": key,
                "PLQ_EMAIL": "ui@example.com",
                "PLQ_PASSWORD": PASSWORD,
                "PLQ_SCREENSHOTS": str(screenshots),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
    print(done.stdout)  # what it measured, for `pytest -s`
    assert done.returncode == 0, done.stdout + done.stderr
    assert "e2e: ok" in done.stdout
    assert (screenshots / "pipeline.png").stat().st_size > 10_000
