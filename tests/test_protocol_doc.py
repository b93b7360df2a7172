"""docs/protocol.md is the contract for raw-HTTP workers, docs/internal-api.md the one for
operators: each must match its running API."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Literal

import httpx
import pytest

from controlplane.api.app import openapi_document
from tests.processes import create_app, environment, process

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "protocol.md").read_text()
INTERNAL_DOC = (ROOT / "docs" / "internal-api.md").read_text()
ENDPOINT = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`")


def normalised(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.split("?")[0].rstrip("/") or "/")


def documented(doc: str = DOC) -> set[tuple[str, str]]:
    return {(method, normalised(path)) for method, path in ENDPOINT.findall(doc)}


def in_openapi(api: Literal["external", "internal"] = "external") -> set[tuple[str, str]]:
    schema = openapi_document(api)
    return {
        (method.upper(), normalised(path))
        for path, operations in schema["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }


def test_every_documented_endpoint_is_in_the_openapi_document_and_no_other() -> None:
    assert documented() == in_openapi() - {("GET", "/schema/openapi.json")}


def test_the_internal_api_doc_names_every_endpoint_under_api_and_no_other() -> None:
    api = {(m, p) for m, p in in_openapi("internal") if p.startswith("/api")}
    # The page also names endpoints of the external API; and the WebSocket is no HTTP
    # endpoint, so OpenAPI does not list it.
    named = {(m, p) for m, p in documented(INTERNAL_DOC) if p.startswith("/api")}
    assert named - {("GET", "/api/ws")} == api


def curl_worker() -> str:
    return DOC.split("## A complete worker in curl")[1].split("```bash\n")[1].split("```")[0]


def test_the_example_script_is_the_documented_one() -> None:
    assert (ROOT / "examples" / "raw-http" / "worker.sh").read_text() == curl_worker()


@pytest.mark.slow
def test_the_documented_curl_worker_runs_a_pipeline(database_url: str, tmp_path: Path) -> None:
    env = environment(DATABASE_URL=database_url)
    base = f"http://127.0.0.1:{env['PIPELOGIQ_EXTERNAL_PORT']}"
    script = tmp_path / "worker.sh"
    script.write_text(curl_worker())
    with process("dev", env=env, ready=f"{base}/readyz"):
        key = create_app(env)
        headers = {"X-API-Key": key}
        stages = [{"name": f"s{i}", "handler": "shell.echo", "input": {"n": i}} for i in range(2)]
        submitted = httpx.post(
            f"{base}/pipelines", json={"name": "echo", "stages": stages}, headers=headers
        )
        assert submitted.status_code == 201, submitted.text
        done = subprocess.run(
            ["bash", str(script)],
            env={**os.environ, "PIPELOGIQ_URL": base, "PIPELOGIQ_API_KEY": key, "MAX_JOBS": "2"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "done: 2 jobs" in done.stdout
        pipeline = httpx.get(f"{base}/pipelines/{submitted.json()['id']}", headers=headers).json()
    assert pipeline["status"] == "completed"
    assert [s["output"] for s in pipeline["stages"]] == [{"n": 0}, {"n": 1}]
