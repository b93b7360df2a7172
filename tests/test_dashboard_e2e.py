"""The dashboard in a real browser (Debian's Chromium, driven by playwright-core) against a
real control plane: log in, see a pipeline arrive and its stage complete, live; see an alert
open, acknowledge and resolve it, its notifications signed at a receiver the script runs."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg
import lance
import pyarrow as pa
import pytest

from controlplane.api.internal.dashboard import DIST
from tests.processes import create_app, environment, process, run
from worker_sdk import Client
from worker_sdk.wire import Pipeline

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_WORKER = [sys.executable, "-m", "worker_sdk.cli"]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "a password for the browser"


def test_a_pipeline_completes_on_screen_without_a_reload(database_url: str, tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), "browser tests need Debian's chromium: apt-get install chromium"
    assert (DIST / "index.html").is_file(), "build the dashboard first: just dashboard"
    # The control plane writes uploads where the dataset worker reads: one lake.
    env = environment(
        DATABASE_URL=database_url,
        PIPELOGIQ_LAKE=str(tmp_path / "lake"),
        # The connection the browser adds is to this machine's PostgreSQL.
        PIPELOGIQ_CONNECTIONS_ALLOW="127.0.0.0/8",
        # The webhook receiver the script runs listens on loopback.
        PIPELOGIQ_ALERTS_ALLOW="127.0.0.0/8",
    )
    created = run("create-admin", "--email", "ui@example.com", "--password", PASSWORD, env=env)
    assert created.returncode == 0, created.stderr
    internal = f"http://127.0.0.1:{env['PIPELOGIQ_INTERNAL_PORT']}"
    external = f"http://127.0.0.1:{env['PIPELOGIQ_EXTERNAL_PORT']}"
    # Notifications link to the alert's page on this dashboard.
    env["PIPELOGIQ_PUBLIC_URL"] = internal
    dataset = write_orders(tmp_path / "lake")
    with process("dev", env=env, ready=f"{external}/readyz"):
        key = create_app(env)
        # A real dataset worker, for the Datasets pages' sample and profile.
        worker_env = {
            **env,
            "PIPELOGIQ_URL": external,
            "PIPELOGIQ_API_KEY": key,
            "PIPELOGIQ_LAKE": str(tmp_path / "lake"),
        }
        templates = ["--templates", "dataset", "--name", "e2e-data"]
        worker = process(*templates, env=worker_env, command=TEMPLATES_WORKER)
        screenshots = Path(os.environ.get("PIPELOGIQ_SCREENSHOTS", tmp_path)).resolve()
        with worker:
            # The medallion example's pipeline, for the catalog's pages and the quarantine
            # review: bronze → silver → checked (and its quarantine) → gold by SQL.
            medallion = run_medallion(external, key, tmp_path / "lake")
            assert medallion.status == "completed", [s.error for s in medallion.stages]
            asyncio.run(age_some_history(database_url))
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
                    "PLQ_DATASET": dataset,
                    "PLQ_DATABASE": database_url.rsplit("/", 1)[1],
                },
                capture_output=True,
                text=True,
                timeout=240,
            )
    print(done.stdout)  # what it measured, for `pytest -s`
    assert done.returncode == 0, done.stdout + done.stderr
    assert "e2e: ok" in done.stdout
    assert (screenshots / "pipeline.png").stat().st_size > 10_000
    assert (screenshots / "dataset.png").stat().st_size > 10_000
    assert (screenshots / "alerts.png").stat().st_size > 10_000


async def age_some_history(database_url: str) -> None:
    """Something for the Housekeeping page to find due: audit entries past their year, and a
    session a day past its expiry."""
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "INSERT INTO audit_log (at, actor, action, target_type)"
            " SELECT now() - interval '400 days', 'cli', 'e2e.long_ago', 'x'"
            " FROM generate_series(1, 3)"
        )
        await connection.execute(
            "INSERT INTO sessions (id, user_id, refresh_hash, expires_at)"
            " SELECT gen_random_uuid(), id, '\\x00', now() - interval '2 days' FROM users"
        )
    finally:
        await connection.close()


def run_medallion(url: str, key: str, lake: Path) -> Pipeline:
    examples = str(ROOT / "examples" / "medallion")
    sys.path.insert(0, examples)
    try:
        from orders import generate
        from pipeline import medallion
    finally:
        sys.path.remove(examples)
    source = generate(lake / "landing" / "orders.csv", 20_000)
    with Client(url, key) as client:
        return client.wait(client.create_pipeline(medallion(source)).id, timeout=120)


def write_orders(lake: Path) -> str:
    """A small orders dataset in the lake, as a template would have written it; its URI."""
    table = pa.table(
        {
            "order_id": list(range(60)),
            "country": [["DE", "FR", "NL"][n % 3] for n in range(60)],
            "amount": [float(n % 25) * 2.5 for n in range(60)],
        }
    )
    return str(lance.write_dataset(table, str(lake / "e2e" / "orders.lance")).uri)
