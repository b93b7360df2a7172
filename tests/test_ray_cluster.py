"""With RAY_ADDRESS set, the dataset templates run on that Ray cluster, not a local Ray.

A one-node cluster started with `ray start --head` stands in for a real one: the worker's
process joins it as a client, and the tasks run in the cluster's worker processes.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.processes import free_port

pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).parent / "ray")

# Run in a process of its own: a process joins one Ray, once.
SCRIPT = """
import json, os, sys
import ray
from worker_sdk.templates.dataset.ingest import ingest
from worker_sdk.testing import JobEnvironment

outcome = JobEnvironment().run(ingest, {"source": sys.argv[1]})
assert outcome.status == "completed", outcome.error
print(json.dumps({
    "rows": outcome.output["dataset"]["rows"],
    "gcs": ray.get_runtime_context().gcs_address,
}))
"""


def test_the_templates_join_the_cluster_at_ray_address(tmp_path: Path) -> None:
    port = free_port()
    # A short path of its own: Ray's sockets live under it, and their paths have a length limit.
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    # The cluster's shared secret, as a platform team hands it to what joins the cluster.
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    head = subprocess.Popen(
        [
            RAY,
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            f"--temp-dir={temp}",
            "--disable-usage-stats",
            "--block",
        ],
        env={**os.environ, **auth},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        csv = tmp_path / "rows.csv"
        csv.write_text("id,name\n" + "".join(f"{n},n{n}\n" for n in range(1000)))
        env = {
            **os.environ,
            **auth,
            "RAY_ADDRESS": f"127.0.0.1:{port}",
            "PIPELOGIQ_LAKE": str(tmp_path / "lake"),
            "PIPELOGIQ_DATA_ROOTS": str(tmp_path),
        }
        deadline = time.monotonic() + 120
        while True:
            done = subprocess.run(
                [sys.executable, "-c", SCRIPT, str(csv)],
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
            )
            if done.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(2)  # the head may still be starting
        assert done.returncode == 0, done.stderr[-3000:]
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        assert answer["rows"] == 1000
        # The cluster's own address: a local Ray started by the worker would have another port.
        assert answer["gcs"].endswith(f":{port}")
    finally:
        head.terminate()  # `ray start --block` stops the node's processes on SIGTERM
        head.wait(timeout=60)
        shutil.rmtree(temp, ignore_errors=True)
