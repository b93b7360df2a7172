"""Uploads over both APIs: a real file streamed to the lake and ingested by a real dataset
worker into a bronze dataset, and every way an upload is refused."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from controlplane.api.app import create_internal_app
from controlplane.broker import Broker
from controlplane.engine.access.applications import create_application
from tests.dashboard import Dashboard, add_member, logged_in, services_for
from tests.system import URL, System, running, running_system, sdk_worker
from worker_sdk import AsyncClient


@pytest.fixture
async def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    lake = tmp_path / "lake"
    monkeypatch.setenv("PIPELOGIQ_LAKE", str(lake))
    monkeypatch.setenv("PIPELOGIQ_DATA_ROOTS", str(lake))
    return lake


@pytest.fixture
async def plane(pool: asyncpg.Pool, broker: Broker, lake: Path) -> AsyncIterator[System]:
    async with running_system(pool, broker, lake=str(lake), max_upload_bytes=200_000) as system:
        system.start_builtin_worker()
        yield system


def orders_csv(rows: int, *, extra: bool = False) -> bytes:
    header = "order_id,country,amount" + (",note" if extra else "")
    lines = [f"{n},{['DE', 'FR'][n % 2]},{n * 1.5}" + (",x" if extra else "") for n in range(rows)]
    return ("\n".join([header, *lines]) + "\n").encode()


def landed(uri: str, lake: Path) -> bytes:
    """The bytes of a file that landed under the lake's uploads."""
    assert Path(uri).is_relative_to(lake / "uploads")
    return Path(uri).read_bytes()


def uploaded_files(lake: Path) -> list[Path]:
    return sorted(p for p in (lake / "uploads").rglob("*") if p.is_file())


async def send(system: System, content: bytes, file_name: str, **fields: str) -> Any:
    return await system.client.post(
        "/datasets/uploads", files={"file": (file_name, content)}, data=fields
    )


async def test_an_upload_lands_in_the_lake_and_becomes_bronze_versions(
    plane: System, lake: Path
) -> None:
    worker = sdk_worker(plane)
    worker.use_templates("dataset")
    async with running(worker), AsyncClient(URL, plane.api_key, transport=plane.transport) as c:
        await plane.served("dataset.ingest")
        answer = await send(plane, orders_csv(500), "Orders 2026.csv")
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert body["name"] == "Orders_2026"
        # Under the application's name: one lake may hold several applications' datasets.
        assert body["dataset"] == f"{plane.application.name}/bronze/Orders_2026"
        assert body["format"] == "csv"
        assert body["bytes"] == len(orders_csv(500))
        assert body["schema"] == [
            {"name": "order_id", "type": "int64"},
            {"name": "country", "type": "string"},
            {"name": "amount", "type": "double"},
        ]
        # The file as sent, in the lake.
        assert landed(body["uri"], lake) == orders_csv(500)
        first = await c.wait(body["pipelineId"], timeout=60)
        assert first.status == "completed", [s.error for s in first.stages]

        # Again, under the same name: appended, a second version.
        again = await send(plane, orders_csv(300), "more.csv", name="Orders_2026")
        assert again.status_code == 201, again.text
        assert (await c.wait(again.json()["pipelineId"], timeout=60)).status == "completed"

        # Columns that differ from the dataset's: refused, and nothing is left behind.
        before = uploaded_files(lake)
        changed = await send(plane, orders_csv(10, extra=True), "x.csv", name="Orders_2026")
        assert changed.status_code == 409, changed.text
        assert changed.json()["code"] == "schema_mismatch"
        assert uploaded_files(lake) == before
        # Unless it replaces it.
        replaced = await send(
            plane, orders_csv(10, extra=True), "x.csv", name="Orders_2026", mode="overwrite"
        )
        assert replaced.status_code == 201, replaced.text
        assert (await c.wait(replaced.json()["pipelineId"], timeout=60)).status == "completed"

        # JSON lines and Parquet, told by their extensions.
        jsonl = b"".join(json.dumps({"k": n, "v": f"n{n}"}).encode() + b"\n" for n in range(20))
        lines = await send(plane, jsonl, "events.jsonl")
        assert lines.status_code == 201, lines.text
        assert lines.json()["schema"] == [
            {"name": "k", "type": "int64"},
            {"name": "v", "type": "string"},
        ]
        buffer = io.BytesIO()
        pq.write_table(pa.table({"day": pa.array([1, 2], pa.int32()), "x": [0.5, 1.5]}), buffer)
        parquet = await send(plane, buffer.getvalue(), "facts.parquet")
        assert parquet.status_code == 201, parquet.text
        assert parquet.json()["schema"][0] == {"name": "day", "type": "int32"}
        # Tab-separated, with a column empty all through: read as the ingest reads it.
        tsv = b"day\tvisits\tnote\n" + b"".join(
            b"2026-01-%02d\t%d\t\n" % (n, n) for n in range(1, 9)
        )
        tabbed = await send(plane, tsv, "visits.tsv")
        assert tabbed.status_code == 201, tabbed.text
        assert [c["name"] for c in tabbed.json()["schema"]] == ["day", "visits", "note"]
        assert tabbed.json()["schema"][2]["type"] == "string"
        for done in (lines, parquet, tabbed):
            assert (await c.wait(done.json()["pipelineId"], timeout=60)).status == "completed"

    listing = (await plane.client.get("/datasets?layer=bronze")).json()["items"]
    by_name = {item["name"].split("/", 1)[1]: item for item in listing}
    assert set(by_name) == {"bronze/Orders_2026", "bronze/events", "bronze/facts", "bronze/visits"}
    orders = (await plane.client.get(f"/datasets/{by_name['bronze/Orders_2026']['id']}")).json()
    assert [v["rows"] for v in orders["versions"]] == [10, 800, 500]
    assert orders["schema"][-1] == {"name": "note", "type": "string"}


@pytest.mark.parametrize(
    ("content", "file_name", "fields", "status", "code"),
    [
        (b"a,b\n1,2\n3,4,5\n", "bad.csv", {}, 422, "invalid_data"),
        (b"not parquet at all", "bad.parquet", {}, 422, "invalid_data"),
        (b"", "empty.csv", {}, 422, "invalid_data"),
        (b"a\n1\n", "notes.txt", {}, 422, "invalid_upload"),
        (b"a\n1\n", "a.csv", {"name": "../../etc"}, 422, "invalid_upload"),
        (b"a\n1\n", "a.csv", {"mode": "merge"}, 422, "invalid_upload"),
        (
            b"a\n1\n",
            "a.csv",
            {"applicationId": "00000000-0000-0000-0000-000000000000"},
            422,
            "invalid_upload",
        ),
        (b"a,b\n" + b"1,2\n" * 60_000, "big.csv", {}, 413, "upload_too_large"),
    ],
)
async def test_a_bad_upload_is_refused_and_leaves_nothing(
    plane: System,
    lake: Path,
    content: bytes,
    file_name: str,
    fields: dict[str, str],
    status: int,
    code: str,
) -> None:
    await plane.client.post(
        "/workers/bootstrap",
        json={"workerName": "data", "metadata": {"templates": {"dataset.ingest": "1"}}},
    )
    answer = await send(plane, content, file_name, **fields)
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code
    assert uploaded_files(lake) == [] if (lake / "uploads").exists() else True
    assert await plane.pool.fetchval("SELECT count(*) FROM pipelines") == 0


async def test_an_upload_is_refused_before_it_is_stored(plane: System, lake: Path) -> None:
    # No worker would ingest it.
    answer = await send(plane, orders_csv(5), "o.csv")
    assert answer.status_code == 409
    assert answer.json()["code"] == "no_dataset_worker"
    # Not a form.
    raw = await plane.client.post(
        "/datasets/uploads", content=orders_csv(5), headers={"content-type": "text/csv"}
    )
    assert raw.status_code == 415
    await plane.client.post(
        "/workers/bootstrap",
        json={"workerName": "data", "metadata": {"templates": {"dataset.ingest": "1"}}},
    )
    broken = await plane.client.post(
        "/datasets/uploads",
        content=b"--xyz\r\nContent-Disposition: form-data; "
        b'name="file"; filename="a.csv"\r\n\r\na,b',
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert broken.status_code == 422, broken.text
    assert broken.json()["code"] == "invalid_upload"
    assert not (lake / "uploads").exists() or uploaded_files(lake) == []


async def test_the_dashboard_uploads_to_an_application_the_user_sees(
    plane: System, lake: Path
) -> None:
    await plane.client.post(
        "/workers/bootstrap",
        json={"workerName": "data", "metadata": {"templates": {"dataset.ingest": "1"}}},
    )
    app = create_internal_app(
        services_for(plane.pool, plane.services.broker, lake=str(lake), max_upload_bytes=200_000)
    )
    await add_member(plane.pool, plane.application.id, "dev@example.com", "developer")
    await add_member(plane.pool, plane.application.id, "op@example.com", "operator")
    developer = Dashboard(await logged_in(app, "dev@example.com"))
    operator = Dashboard(await logged_in(app, "op@example.com"))
    elsewhere, _ = await create_application(plane.pool, "elsewhere")

    async def upload(who: Dashboard, application_id: object) -> Any:
        return await who.client.post(
            "/api/datasets/uploads",
            files={"file": ("o.csv", orders_csv(5))},
            data={"applicationId": str(application_id)},
            headers={"X-CSRF-Token": who.client.cookies["plq_csrf"]},
        )

    mine = await upload(developer, plane.application.id)
    assert mine.status_code == 201, mine.text
    assert mine.json()["applicationId"] == str(plane.application.id)
    theirs = await upload(developer, elsewhere.id)
    assert theirs.status_code == 404
    assert theirs.json()["code"] == "application_not_found"
    assert (await upload(operator, plane.application.id)).status_code == 403
    assert len(uploaded_files(lake)) == 1
