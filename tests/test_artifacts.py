"""Artifacts: files a running job attaches, their limits, and signed download links."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import boto3
import httpx
import pytest

from controlplane.api.app import create_internal_app
from controlplane.engine.jobpath.artifacts import link
from controlplane.settings import Settings
from tests.dashboard import BASE, Dashboard, add_member, logged_in, services_for
from tests.processes import TEST_JWT_SECRET, free_port
from tests.system import URL, System, running_system
from worker_sdk import JobContext
from worker_sdk.testing import JobEnvironment
from worker_sdk.transport import AsyncTransport

LIMIT = 64 * 1024


@pytest.fixture
async def system(pool: asyncpg.Pool, rabbitmq: Any, tmp_path: Path) -> AsyncIterator[System]:
    async with running_system(
        pool, rabbitmq, data_dir=tmp_path, max_artifact_bytes=LIMIT, jwt_secret=TEST_JWT_SECRET
    ) as system:
        yield system


async def running_job(system: System, handler: str = "report") -> dict[str, Any]:
    await system.submit([{"name": "render", "handler": handler}])
    [job] = await system.pull(handler, wait=5)
    return job


async def attach(
    system: System, job_id: str, name: str, content: bytes, **headers: str
) -> httpx.Response:
    return await system.client.post(
        f"/jobs/{job_id}/artifacts",
        params={"name": name},
        content=content,
        headers={"Content-Type": "text/csv", **headers},
    )


async def test_a_running_job_attaches_files_once_each(system: System) -> None:
    job = await running_job(system)
    body = b"day,orders\n2026-12-01,42\n"
    first = await attach(system, job["jobId"], "orders.csv", body)
    assert first.status_code == 201, first.text
    artifact = first.json()
    assert (artifact["name"], artifact["size"], artifact["contentType"]) == (
        "orders.csv",
        len(body),
        "text/csv",
    )
    assert artifact["sha256"] == hashlib.sha256(body).hexdigest()
    assert (artifact["stageName"], artifact["attempt"]) == ("render", 1)
    # Sent again (an answer lost on the way): the same artifact, and one copy stored.
    again = await attach(system, job["jobId"], "orders.csv", body)
    assert (again.status_code, again.json()["id"]) == (200, artifact["id"])
    stored = list((system.services.settings.data_dir / "artifacts").rglob("*"))
    assert len([p for p in stored if p.is_file()]) == 1
    # Another file under the same name is refused.
    other = await attach(system, job["jobId"], "orders.csv", b"something else")
    assert (other.status_code, other.json()["code"]) == (409, "artifact_exists")
    listed = await system.client.get(f"/pipelines/{job['pipelineId']}/artifacts")
    assert [a["name"] for a in listed.json()] == ["orders.csv"]


async def test_a_file_after_the_result_or_over_the_limit_is_refused(system: System) -> None:
    job = await running_job(system)
    too_big = await attach(system, job["jobId"], "big.bin", b"x" * (LIMIT + 1))
    assert (too_big.status_code, too_big.json()["code"]) == (413, "artifact_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(LIMIT // 1024 + 1):
            yield b"y" * 1024

    streamed = await system.client.post(
        f"/jobs/{job['jobId']}/artifacts", params={"name": "big.bin"}, content=chunks()
    )
    assert (streamed.status_code, streamed.json()["code"]) == (413, "artifact_too_large")
    bad_name = await attach(system, job["jobId"], "../../etc/passwd", b"x")
    assert bad_name.status_code == 422
    await system.ack({"jobId": job["jobId"], "status": "completed"})
    late = await attach(system, job["jobId"], "late.txt", b"x")
    assert (late.status_code, late.json()["code"]) == (409, "job_not_running")
    unknown = await attach(system, str(uuid.uuid4()), "x.txt", b"x")
    assert unknown.json()["code"] == "job_not_running"
    # Nothing was recorded, and no partial file was left behind.
    assert await system.pool.fetchval("SELECT count(*) FROM artifacts") == 0
    root = system.services.settings.data_dir / "artifacts"
    assert not [p for p in root.rglob("*") if p.is_file()]


# -- links ----------------------------------------------------------------------------------------


@pytest.fixture
async def dev(system: System) -> AsyncIterator[Dashboard]:
    await add_member(system.pool, system.application.id, "dev@example.com", "developer")
    services = services_for(
        system.pool, system.services.broker, data_dir=system.services.settings.data_dir
    )
    client = await logged_in(create_internal_app(services), "dev@example.com")
    yield Dashboard(client)
    await client.aclose()


async def an_artifact(
    system: System, content: bytes = b"<script>alert(1)</script>"
) -> dict[str, Any]:
    job = await running_job(system)
    response = await attach(
        system, job["jobId"], "page.html", content, **{"Content-Type": "text/html"}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_a_signed_link_downloads_the_file_without_a_session(
    system: System, dev: Dashboard
) -> None:
    artifact = await an_artifact(system)
    listed = await dev.get(f"/api/pipelines/{artifact['pipelineId']}/artifacts")
    assert [a["id"] for a in listed.json()] == [artifact["id"]]
    made = await dev.send("POST", f"/api/artifacts/{artifact['id']}/link")
    assert made.status_code == 200, made.text
    url = made.json()["url"]
    # No cookies: the link is all it takes.
    app = dev.client._transport  # the same app, a client with no session
    async with httpx.AsyncClient(transport=app, base_url=BASE) as anonymous:
        download = await anonymous.get(url)
    assert download.status_code == 200, download.text
    assert download.content == b"<script>alert(1)</script>"
    # Never shown as a page on the dashboard's origin.
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-security-policy"] == "sandbox"


async def test_a_changed_or_expired_link_is_refused(system: System, dev: Dashboard) -> None:
    artifact = await an_artifact(system)
    other = await an_artifact(system, b"another")
    url = (await dev.send("POST", f"/api/artifacts/{artifact['id']}/link")).json()["url"]
    query = parse_qs(urlsplit(url).query)
    expires, signature = int(query["expires"][0]), query["signature"][0]

    async def fetch(artifact_id: str, expires: int, signature: str) -> httpx.Response:
        return await dev.get(
            f"/api/downloads/{artifact_id}?expires={expires}&signature={signature}"
        )

    assert (await fetch(artifact["id"], expires, signature)).status_code == 200
    tampered = [
        (other["id"], expires, signature),  # another file with this link's signature
        (artifact["id"], expires + 3600, signature),  # a later expiry
        (artifact["id"], expires, signature[:-1] + ("0" if signature[-1] != "0" else "1")),
    ]
    for case in tampered:
        refused = await fetch(*case)
        assert (refused.status_code, refused.json()["code"]) == (403, "invalid_link"), case
    # A correctly signed link whose time has passed.
    old, _ = link(TEST_JWT_SECRET, uuid.UUID(artifact["id"]), -1)
    expired = await dev.get(old)
    assert (expired.status_code, expired.json()["code"]) == (403, "link_expired")
    # Signed with another installation's secret.
    foreign, _ = link("another secret " * 4, uuid.UUID(artifact["id"]), 60)
    assert (await dev.get(foreign)).json()["code"] == "invalid_link"
    assert int(time.time()) < expires <= int(time.time()) + Settings().artifact_link_seconds


async def test_a_link_is_only_for_those_who_see_the_pipeline(system: System) -> None:
    artifact = await an_artifact(system)
    other = await system.pool.fetchval(
        "INSERT INTO applications (name) VALUES ('other') RETURNING id"
    )
    await add_member(system.pool, other, "eve@example.com", "developer")
    client = await logged_in(create_internal_app(services_for(system.pool)), "eve@example.com")
    try:
        eve = Dashboard(client)
        refused = await eve.send("POST", f"/api/artifacts/{artifact['id']}/link")
        assert (refused.status_code, refused.json()["code"]) == (404, "artifact_not_found")
        assert (
            await eve.get(f"/api/pipelines/{artifact['pipelineId']}/artifacts")
        ).status_code == 404
    finally:
        await client.aclose()


# -- the SDK --------------------------------------------------------------------------------------


async def test_a_handler_attaches_files_through_the_sdk(system: System, tmp_path: Path) -> None:
    job = await running_job(system)
    report = tmp_path / "report.json"
    report.write_text('{"orders": 42}')
    control_plane = AsyncTransport(URL, system.api_key, transport=system.transport)
    try:
        ctx = JobContext(
            job_id=job["jobId"],
            stage_id=job["stageId"],
            pipeline_id=job["pipelineId"],
            handler="report",
            stage_name="render",
            attempt=1,
            control_plane=control_plane,
        )
        from_path = await ctx.attach("report.json", report)
        from_bytes = await ctx.attach("notes.txt", b"all good")
    finally:
        await control_plane.close()
    assert (from_path.content_type, from_path.size) == ("application/json", 14)
    assert from_bytes.content_type == "text/plain"
    names = await system.pool.fetch("SELECT name FROM artifacts ORDER BY name")
    assert [r["name"] for r in names] == ["notes.txt", "report.json"]


def test_a_handler_under_test_keeps_what_it_attaches() -> None:
    async def render(ctx: JobContext, _: Any) -> str:
        await ctx.attach("chart.png", b"\x89PNG...")
        return "done"

    outcome = JobEnvironment().run(render)
    assert outcome.attached == {"chart.png": ("image/png", b"\x89PNG...")}


# -- an S3-compatible store ----------------------------------------------------------------------


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 server on a local port: the S3 HTTP API, without AWS."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name, value in [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ]:
        monkeypatch.setenv(name, value)
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="plq-artifacts")
    yield endpoint
    server.stop()


async def test_artifacts_in_a_bucket_are_downloaded_from_it(
    pool: asyncpg.Pool, rabbitmq: Any, tmp_path: Path, s3_endpoint: str
) -> None:
    settings = {
        "data_dir": tmp_path,
        "max_artifact_bytes": LIMIT,
        "jwt_secret": TEST_JWT_SECRET,
        "artifact_store": "s3://plq-artifacts/runs",
        "s3_endpoint_url": s3_endpoint,
    }
    async with running_system(pool, rabbitmq, **settings) as system:
        job = await running_job(system)
        body = b"day,orders\n2026-12-01,42\n"
        made = await attach(system, job["jobId"], "orders.csv", body)
        assert made.status_code == 201, made.text
        too_big = await attach(system, job["jobId"], "big.bin", b"x" * (LIMIT + 1))
        assert too_big.status_code == 413
        bucket = boto3.client("s3", endpoint_url=s3_endpoint)
        [stored] = bucket.list_objects_v2(Bucket="plq-artifacts")["Contents"]
        assert stored["Key"].startswith(f"runs/{system.application.id}/")
        head = bucket.head_object(Bucket="plq-artifacts", Key=stored["Key"])
        assert (head["ContentLength"], head["ContentType"]) == (len(body), "text/csv")
        assert not (tmp_path / "artifacts").exists()  # nothing kept locally

        await add_member(system.pool, system.application.id, "dev@example.com", "developer")
        internal = create_internal_app(services_for(system.pool, **settings))
        client = await logged_in(internal, "dev@example.com")
        try:
            url = await Dashboard(client).send("POST", f"/api/artifacts/{made.json()['id']}/link")
            download = await client.get(url.json()["url"])
        finally:
            await client.aclose()
        # Sent on to the bucket, which serves it as an attachment from its own origin.
        assert download.status_code == 302, download.text
        async with httpx.AsyncClient() as outside:
            fetched = await outside.get(download.headers["location"])
        assert fetched.status_code == 200
        assert fetched.content == body
        assert fetched.headers["content-disposition"].startswith("attachment")
