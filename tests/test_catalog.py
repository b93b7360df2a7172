"""The dataset catalog: versions registered with acks, read over both APIs, with lineage
across pipelines, and samples and profiles computed by a real dataset worker."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import lance
import pyarrow as pa
import pytest

from controlplane.api.app import create_internal_app
from controlplane.engine.access.applications import create_application
from controlplane.engine.upkeep import retention
from tests.dashboard import Dashboard, add_member, logged_in, services_for
from tests.system import URL, System, running, sdk_worker
from tests.test_templates_dataset import RULES, write_orders
from worker_sdk import AsyncClient


def written(uri: str, version: int, rows: int, **extra: Any) -> dict[str, Any]:
    schema = [{"name": "id", "type": "int64"}, {"name": "amount", "type": "double"}]
    return {"uri": uri, "version": version, "rows": rows, "schema": schema, **extra}


async def finish(system: System, handler: str, *datasets: dict[str, Any], **result: Any) -> str:
    """Pull the one job of ``handler`` and ack it completed, reporting ``datasets``."""
    [job] = await system.pull(handler)
    answer = await system.ack(
        {"jobId": job["jobId"], "status": "completed", "datasets": list(datasets), **result}
    )
    assert answer["accepted"] == [job["jobId"]], answer
    return str(job["jobId"])


async def dashboard_of(system: System, role: str = "operator") -> Dashboard:
    await add_member(system.pool, system.application.id, f"{role}@example.com", role)  # type: ignore[arg-type]
    app = create_internal_app(services_for(system.pool, system.services.broker))
    return Dashboard(await logged_in(app, f"{role}@example.com"))


async def test_an_ack_registers_each_version_once_with_its_writer_and_reads(
    system: System,
) -> None:
    system.start_builtin_worker()
    bronze, silver = "s3://lake/orders/bronze.lance", "s3://lake/orders/silver.lance"
    first = await system.submit(
        [{"name": "bronze", "handler": "ingest"}, {"name": "silver", "handler": "clean"}]
    )
    job = await finish(
        system,
        "ingest",
        written(bronze, 1, 1000, layer="bronze", bytes=4096, reads=[{"uri": "/in/orders.csv"}]),
    )
    # The same result again is refused as a duplicate, and registers nothing twice.
    again = await system.ack(
        {"jobId": job, "status": "completed", "datasets": [written(bronze, 1, 1000)]}
    )
    assert again["rejected"][0]["reason"] == "already_finished"
    await finish(
        system,
        "clean",
        written(silver, 3, 990, name="orders_silver", reads=[{"uri": bronze, "version": 1}]),
    )
    await system.wait_for_pipeline(first["id"], "completed")

    # A second pipeline rewrites bronze: a new version of the same dataset, not a new one.
    second = await system.submit([{"name": "bronze", "handler": "ingest"}])
    await finish(system, "ingest", written(bronze, 2, 1500))
    await system.wait_for_pipeline(second["id"], "completed")

    listing = (await system.client.get("/datasets")).json()
    by_name = {item["name"]: item for item in listing["items"]}
    assert set(by_name) == {"bronze", "orders_silver"}
    assert by_name["bronze"]["versions"] == 2
    assert by_name["bronze"]["version"] == 2
    assert by_name["bronze"]["rows"] == 1500
    # A layer left out keeps the one the dataset had.
    assert by_name["bronze"]["layer"] == "bronze"
    assert by_name["bronze"]["pipelineId"] == second["id"]
    assert by_name["orders_silver"]["stageName"] == "silver"
    assert by_name["orders_silver"]["layer"] is None

    detail = (await system.client.get(f"/datasets/{by_name['bronze']['id']}")).json()
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    assert detail["versions"][1]["bytes"] == 4096
    assert detail["versions"][1]["reads"] == [{"uri": "/in/orders.csv", "version": None}]
    assert detail["schema"] == [
        {"name": "id", "type": "int64"},
        {"name": "amount", "type": "double"},
    ]
    assert [d["name"] for d in detail["downstream"]] == ["orders_silver"]
    assert detail["upstream"] == []

    silver_detail = (await system.client.get(f"/datasets/{by_name['orders_silver']['id']}")).json()
    assert [(d["name"], d["depth"]) for d in silver_detail["upstream"]] == [("bronze", 1)]
    assert silver_detail["edges"] == [{"from": by_name["bronze"]["id"], "to": silver_detail["id"]}]


async def test_a_failed_result_registers_what_it_wrote_and_a_refused_one_nothing(
    system: System,
) -> None:
    await system.submit([{"name": "checked", "handler": "quality"}])
    [job] = await system.pull("quality")
    quarantine = written("/lake/p/checked_quarantine.lance", 1, 7, layer="quarantine")
    await system.ack(
        {
            "jobId": job["jobId"],
            "status": "failed",
            "error": {"message": "too many bad rows", "code": "quality_failed", "retryable": False},
            "datasets": [quarantine],
        }
    )
    # A result for a job that is not running registers nothing.
    stale = await system.ack(
        {"jobId": job["jobId"], "status": "completed", "datasets": [written("/lake/x.lance", 1, 1)]}
    )
    assert stale["accepted"] == []
    items = (await system.client.get("/datasets")).json()["items"]
    assert [(i["name"], i["layer"], i["rows"]) for i in items] == [
        ("checked_quarantine", "quarantine", 7)
    ]


@pytest.mark.parametrize(
    "dataset",
    [
        {"uri": "", "version": 1, "rows": 1},
        {"uri": "/x.lance", "version": -1, "rows": 1},
        {"uri": "/x.lance", "version": 1, "rows": 2**60},
        {"uri": "/x.lance", "version": 1, "rows": 1, "layer": "platinum"},
        {"uri": "/x.lance", "version": 1, "rows": 1, "name": "a\u202eb"},
        {"uri": "\U0001f600" * 601, "version": 1, "rows": 1},
        {"uri": "/x.lance", "version": 1, "rows": 1, "owner": "me"},
    ],
)
async def test_a_malformed_dataset_report_is_refused_whole(
    system: System, dataset: dict[str, Any]
) -> None:
    await system.submit([{"name": "s", "handler": "h"}])
    [job] = await system.pull("h")
    response = await system.client.post(
        "/jobs/ack",
        json={"results": [{"jobId": job["jobId"], "status": "completed", "datasets": [dataset]}]},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert (await system.pipeline(job["pipelineId"]))["stages"][0]["status"] == "running"
    assert (await system.client.get("/datasets")).json()["items"] == []


async def test_what_arrow_allows_is_registered_at_the_bounds(system: System) -> None:
    # A column without a name, a nested type's long name, the longest URI (of 4-byte
    # characters, which the unique index must still hold).
    uri = "\U0001f600" * 600
    schema = [{"name": "", "type": "struct<" + "a: int64, " * 200 + ">"}]
    await system.submit([{"name": "s", "handler": "h"}])
    await finish(system, "h", {"uri": uri, "version": 1, "rows": 1, "schema": schema})
    [item] = (await system.client.get("/datasets")).json()["items"]
    assert item["uri"] == uri
    assert len(item["name"]) == 200
    detail = (await system.client.get(f"/datasets/{item['id']}")).json()
    assert detail["schema"] == schema


async def test_the_catalog_is_filtered_paged_and_kept_to_each_caller_s_applications(
    system: System,
) -> None:
    system.start_builtin_worker()
    stages = [{"name": n, "handler": n, "dependsOn": []} for n in ("a", "b", "c")]
    pipeline = await system.submit(stages)
    await finish(system, "a", written("/lake/bronze/orders.lance", 1, 10, layer="bronze"))
    await finish(system, "b", written("/lake/silver/orders.lance", 1, 9, layer="silver"))
    await finish(system, "c", written("/lake/misc/notes.lance", 1, 3, name="Notes"))
    await system.wait_for_pipeline(pipeline["id"], "completed")

    async def names(query: str) -> list[str]:
        response = await system.client.get(f"/datasets?{query}")
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["items"]]

    assert await names("layer=silver") == ["orders"]
    assert await names("layer=none") == ["Notes"]
    assert sorted(await names("search=ORDERS")) == ["orders", "orders"]
    assert await names("search=misc") == ["Notes"]  # in the URI
    page = (await system.client.get("/datasets?limit=2")).json()
    assert len(page["items"]) == 2
    assert page["hasMore"] is True
    rest = (await system.client.get("/datasets?limit=2&offset=2")).json()
    assert len(rest["items"]) == 1
    assert rest["hasMore"] is False
    bad = await system.client.get("/datasets?layer=platinum")
    assert bad.status_code == 422

    # Another application sees none of them, by listing or by id.
    _, other_key = await create_application(system.pool, "elsewhere")
    theirs = {"X-API-Key": other_key}
    assert (await system.client.get("/datasets", headers=theirs)).json()["items"] == []
    some_id = page["items"][0]["id"]
    hidden = await system.client.get(f"/datasets/{some_id}", headers=theirs)
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "dataset_not_found"

    # On the dashboard: a member sees them, with the application's name; an outsider not.
    operator = await dashboard_of(system)
    listed = await operator.get("/api/datasets?layer=bronze")
    assert [i["applicationName"] for i in listed.json()["items"]] == [system.application.name]
    assert (await operator.get(f"/api/datasets/{some_id}")).status_code == 200
    await add_member(
        system.pool,
        (await create_application(system.pool, "x"))[0].id,
        "outsider@example.com",
        "operator",
    )
    app = create_internal_app(services_for(system.pool, system.services.broker))
    outsider = Dashboard(await logged_in(app, "outsider@example.com"))
    assert (await outsider.get("/api/datasets")).json()["items"] == []
    assert (await outsider.get(f"/api/datasets/{some_id}")).status_code == 404
    assert (await outsider.get(f"/api/datasets/{some_id}/sample")).status_code == 404


async def test_the_templates_fill_the_catalog_and_a_worker_samples_and_profiles_it(
    system: System, tmp_path: Path, lake: Path
) -> None:
    system.start_builtin_worker()
    worker = sdk_worker(system)
    worker.use_templates("dataset")
    orders = write_orders(tmp_path / "orders.csv", bad=True)
    stages = [
        {"name": "bronze", "handler": "dataset.ingest", "input": {"source": str(orders)}},
        {
            "name": "silver",
            "handler": "dataset.clean",
            "input": {"trim": True, "dedupe": ["order_id"], "output": "silver/orders"},
        },
        {
            "name": "checked",
            "handler": "dataset.quality",
            "input": {"rules": RULES, "failAbove": 0.05},
        },
        {
            "name": "revenue",
            "handler": "dataset.aggregate",
            "input": {
                "groupBy": ["country"],
                "aggregations": [{"fn": "sum", "column": "amount"}],
                "output": "gold/revenue",
            },
        },
    ]
    operator = await dashboard_of(system)
    async with AsyncClient(URL, system.api_key, transport=system.transport) as client:
        async with running(worker):
            finished = await client.wait(
                (await client.create_pipeline({"name": "medallion", "stages": stages})).id,
                timeout=60,
            )
        assert finished.status == "completed", [s.error for s in finished.stages]
        items = (await operator.get("/api/datasets")).json()["items"]
        layers = {item["name"]: item["layer"] for item in items}
        assert layers == {
            "bronze": "bronze",
            "silver/orders": "silver",
            "checked": None,
            "checked_quarantine": "quarantine",
            "gold/revenue": "gold",
        }
        ids = {item["name"]: item["id"] for item in items}
        assert all(item["bytes"] > 0 for item in items)
        revenue = (await operator.get(f"/api/datasets/{ids['gold/revenue']}")).json()
        assert [(d["name"], d["depth"]) for d in revenue["upstream"]] == [
            ("checked", 1),
            ("silver/orders", 2),
            ("bronze", 3),
        ]
        # No worker serves the sample now: refused, rather than left waiting for nobody.
        await system.pool.execute("UPDATE workers SET state = 'stopped'")
        offline = await operator.get(f"/api/datasets/{ids['checked']}/sample")
        assert offline.status_code == 409
        assert offline.json()["code"] == "no_dataset_worker"

        async with running(worker):
            await system.served("dataset.sample")
            sample = await operator.get(f"/api/datasets/{ids['silver/orders']}/sample?limit=5")
            assert sample.status_code == 200, sample.text
            body = sample.json()
            silver = lance.dataset(str(lake / "silver/orders.lance"))
            # JSON's values: dates as ISO text.
            expected = [
                {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in row.items()}
                for row in silver.head(5).to_pylist()
            ]
            assert body["rows"] == expected
            assert [c["name"] for c in body["columns"]] == silver.schema.names

            profile = await system.client.get(f"/datasets/{ids['gold/revenue']}/profile")
            assert profile.status_code == 200, profile.text
            columns = {c["name"]: c for c in profile.json()["columns"]}
            revenue_table = lance.dataset(str(lake / "gold/revenue.lance")).to_table()
            amounts = revenue_table.column("amount_sum").to_pylist()
            assert columns["amount_sum"]["min"] == min(amounts)
            assert columns["amount_sum"]["max"] == max(amounts)
            assert sum(b["count"] for b in columns["amount_sum"]["histogram"]) == len(amounts)
            assert columns["country"]["distinct"] == 3
            assert {t["value"] for t in columns["country"]["top"]} == {"DE", "FR", "NL"}

            # Asked again: the same computation, not another job.
            before = await system.pool.fetchval("SELECT count(*) FROM pipelines")
            again = await operator.get(f"/api/datasets/{ids['silver/orders']}/sample?limit=2")
            assert again.json()["rows"] == body["rows"][:2]
            assert await system.pool.fetchval("SELECT count(*) FROM pipelines") == before

            # A version whose files are gone: answered 410 with a stable code.
            quarantine = ids["checked_quarantine"]
            uris = {item["name"]: item["uri"] for item in items}
            shutil.rmtree(uris["checked_quarantine"])
            gone = await operator.get(f"/api/datasets/{quarantine}/sample")
            assert gone.status_code == 410, gone.text
            assert gone.json()["code"] == "dataset_files_missing"
            missing = await operator.get(f"/api/datasets/{quarantine}/sample?version=99")
            assert missing.status_code == 404
            assert missing.json()["code"] == "version_not_found"


async def test_a_sample_is_pending_while_a_worker_computes_it_and_bad_output_is_a_conflict(
    system: System,
) -> None:
    system.start_builtin_worker()
    pipeline = await system.submit([{"name": "bronze", "handler": "ingest"}])
    await finish(system, "ingest", written("/lake/raw.lance", 1, 10))
    await system.wait_for_pipeline(pipeline["id"], "completed")
    [dataset] = (await system.client.get("/datasets")).json()["items"]
    # A worker of the application's own code says it serves the template.
    booted = await system.client.post(
        "/workers/bootstrap",
        json={"workerName": "mine", "metadata": {"templates": {"dataset.sample": "9"}}},
    )
    assert booted.status_code == 200, booted.text

    pending = await system.client.get(f"/datasets/{dataset['id']}/sample?wait=0")
    assert pending.status_code == 202, pending.text
    assert pending.headers["retry-after"] == "1"
    computing = await system.pipeline(pending.json()["pipelineId"])
    assert computing["keywords"] == ["catalog"]
    # The worker goes away before taking it: said so, rather than pending for ever.
    await system.pool.execute("UPDATE workers SET state = 'stopped'")
    gone = await system.client.get(f"/datasets/{dataset['id']}/sample?wait=0")
    assert gone.status_code == 409
    assert gone.json()["code"] == "no_dataset_worker"
    await system.pool.execute("UPDATE workers SET state = 'online'")
    [job] = await system.pull("dataset.sample")
    assert job["input"] == {"source": {"uri": "/lake/raw.lance", "version": 1}, "limit": 1000}
    # Asked again while it runs: the same job, not a second one.
    again = await system.client.get(f"/datasets/{dataset['id']}/sample?wait=0")
    assert again.json()["pipelineId"] == pending.json()["pipelineId"]

    await system.ack({"jobId": job["jobId"], "status": "completed", "output": {"rows": "no"}})
    refused = await system.client.get(f"/datasets/{dataset['id']}/sample")
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "computation_failed"


async def removed_from_lake(system: System) -> int:
    """A retention round's lake step; how many versions it recorded removed."""
    removed = retention.Tally()
    policy = retention.Retention.of(system.services.settings)
    assert await retention.remove_dataset_versions(system.pool, policy, removed) == []
    return removed.count


async def test_retention_removes_old_versions_from_the_lake_and_records_them(
    system: System, tmp_path: Path
) -> None:
    system.start_builtin_worker()
    uri = str(tmp_path / "orders.lance")
    writers = []
    for version in range(1, 6):
        table = pa.table({"n": list(range(version))})
        lance.write_dataset(table, uri, mode="overwrite" if version > 1 else "create")
        pipeline = await system.submit([{"name": "bronze", "handler": "ingest"}])
        await finish(system, "ingest", written(uri, version, version))
        writers.append(pipeline["id"])
    # A report that read version 2, by a pipeline that is kept.
    reader = await system.submit([{"name": "report", "handler": "report"}])
    read = [{"uri": uri, "version": 2}]
    await finish(system, "report", written(str(tmp_path / "report.lance"), 1, 1, reads=read))
    await system.wait_for_pipeline(reader["id"], "completed")
    # An export that read version 3 to write a file, by a pipeline that is kept too.
    exporter = await system.submit([{"name": "export", "handler": "export"}])
    [job] = await system.pull("export")
    lineage = {"reads": [{"uri": uri, "version": 3}], "writes": [{"uri": "/out/x.csv"}]}
    await system.ack({"jobId": job["jobId"], "status": "completed", "output": {"lineage": lineage}})
    await system.wait_for_pipeline(exporter["id"], "completed")
    for pipeline_id in writers:
        await system.wait_for_pipeline(pipeline_id, "completed")
    # The pipelines that wrote versions 1 to 4 are gone, as retention of pipelines does.
    await system.pool.execute("DELETE FROM pipelines WHERE id = ANY($1::uuid[])", writers[:4])

    admin = await dashboard_of(system, "admin")
    setting = f"/api/applications/{system.application.id}/dataset-retention"
    assert (await admin.get(setting)).json()["keepVersions"] is None
    # Nothing is due while the application keeps every version.
    assert await removed_from_lake(system) == 0
    changed = await admin.send("PUT", setting, {"keepVersions": 2})
    assert changed.status_code == 200, changed.text
    assert changed.json()["keepVersions"] == 2
    refused = await admin.send("PUT", setting, {"keepVersions": 0})
    assert refused.status_code == 422

    # The newest two stay, and versions 2 and 3, which kept pipelines read.
    assert await removed_from_lake(system) == 1
    assert [v["version"] for v in lance.dataset(uri).versions()] == [2, 3, 4, 5]
    assert lance.dataset(uri, version=2).count_rows() == 2
    [orders] = [
        item
        for item in (await system.client.get("/datasets")).json()["items"]
        if item["uri"] == uri
    ]
    assert orders["versions"] == 4
    detail = (await system.client.get(f"/datasets/{orders['id']}")).json()
    removed = {v["version"]: v["removedAt"] is not None for v in detail["versions"]}
    assert removed == {5: False, 4: False, 3: False, 2: False, 1: True}
    gone = await system.client.get(f"/datasets/{orders['id']}/sample?version=1")
    assert gone.status_code == 410
    assert gone.json()["code"] == "version_removed"
    # Done once: the next round finds nothing more.
    assert await removed_from_lake(system) == 0
    audit = await system.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'application.dataset_retention'"
    )
    assert audit == 1  # the refused change left none
