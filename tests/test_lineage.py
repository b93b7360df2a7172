"""GET /api/pipelines/{id}/lineage: the graph of datasets and stages, from the stages' outputs."""

from __future__ import annotations

from typing import Any

from controlplane.api.app import create_internal_app
from controlplane.engine.access.applications import create_application
from tests.dashboard import add_member, logged_in, services_for
from tests.system import System


def written(uri: str, version: int, rows: int) -> dict[str, Any]:
    return {"uri": uri, "version": version, "rows": rows, "schema": []}


async def run_stage(system: System, handler: str, output: Any) -> None:
    [job] = await system.pull(handler)
    result = await system.ack({"jobId": job["jobId"], "status": "completed", "output": output})
    assert result["accepted"] == [job["jobId"]]


async def test_lineage_links_the_dataset_versions_each_stage_read_and_wrote(
    system: System,
) -> None:
    system.start_builtin_worker()
    stages = [
        {"name": "bronze", "handler": "ingest"},
        {"name": "silver", "handler": "clean"},
        {"name": "notify", "handler": "email"},
        {"name": "export", "handler": "export", "dependsOn": ["silver"]},
    ]
    pipeline = await system.submit(stages)
    bronze, silver = "s3://lake/p/bronze.lance", "s3://lake/p/silver.lance"
    await run_stage(
        system,
        "ingest",
        {
            "dataset": written(bronze, 1, 1000),
            "lineage": {
                "reads": [{"uri": "/data/orders.csv"}],
                "writes": [{"uri": bronze, "version": 1}],
            },
        },
    )
    await run_stage(
        system,
        "clean",
        {
            "dataset": written(silver, 4, 990),
            "lineage": {
                # Malformed entries are left out, not refused: outputs are the workers' JSON.
                "reads": [{"uri": bronze, "version": 1}, {"version": 2}, "junk"],
                "writes": [{"uri": silver, "version": 4}],
            },
        },
    )
    await run_stage(system, "email", {"sent": True})  # no lineage: not in the graph
    await run_stage(
        system,
        "export",
        {"lineage": {"reads": [{"uri": silver, "version": 4}], "writes": [{"uri": "/out/x.csv"}]}},
    )
    await system.wait_for_pipeline(pipeline["id"], "completed")

    await add_member(system.pool, system.application.id, "op@example.com", "operator")
    app = create_internal_app(services_for(system.pool, system.services.broker))
    operator = await logged_in(app, "op@example.com")
    try:
        response = await operator.get(f"/api/pipelines/{pipeline['id']}/lineage")
        assert response.status_code == 200, response.text
        graph = response.json()

        _, other_key = await create_application(system.pool, "elsewhere")
        theirs = await system.client.post(
            "/pipelines",
            json={"name": "x", "stages": [{"name": "s", "handler": "h"}]},
            headers={"X-API-Key": other_key},
        )
        hidden = await operator.get(f"/api/pipelines/{theirs.json()['id']}/lineage")
        assert (hidden.status_code, hidden.json()["code"]) == (404, "pipeline_not_found")
    finally:
        await operator.aclose()

    ids = {s["name"]: s["id"] for s in pipeline["stages"]}
    assert graph["pipelineId"] == pipeline["id"]
    assert [s["name"] for s in graph["stages"]] == ["bronze", "silver", "export"]
    assert graph["stages"][0] == {
        "id": ids["bronze"],
        "name": "bronze",
        "handler": "ingest",
        "status": "completed",
    }
    assert graph["datasets"] == [
        {
            "id": "/data/orders.csv",
            "uri": "/data/orders.csv",
            "version": None,
            "name": "orders.csv",
            "kind": "file",
            "rows": None,
        },
        {
            "id": f"{bronze}@1",
            "uri": bronze,
            "version": 1,
            "name": "bronze",
            "kind": "dataset",
            "rows": 1000,
        },
        {
            "id": f"{silver}@4",
            "uri": silver,
            "version": 4,
            "name": "silver",
            "kind": "dataset",
            "rows": 990,
        },
        {
            "id": "/out/x.csv",
            "uri": "/out/x.csv",
            "version": None,
            "name": "x.csv",
            "kind": "file",
            "rows": None,
        },
    ]
    assert graph["edges"] == [
        {"from": "/data/orders.csv", "to": ids["bronze"], "kind": "read"},
        {"from": ids["bronze"], "to": f"{bronze}@1", "kind": "write"},
        {"from": f"{bronze}@1", "to": ids["silver"], "kind": "read"},
        {"from": ids["silver"], "to": f"{silver}@4", "kind": "write"},
        {"from": f"{silver}@4", "to": ids["export"], "kind": "read"},
        {"from": ids["export"], "to": "/out/x.csv", "kind": "write"},
    ]


async def test_counts_and_versions_a_worker_wrote_wrongly_are_left_out(system: System) -> None:
    # A worker's output is its own JSON: a bool or a number past int64 where a count or a
    # version goes is no count or version, and the graph is still drawn.
    pipeline = await system.submit([{"name": "odd", "handler": "odd"}])
    uri = "s3://lake/odd.lance"
    output = {
        "dataset": {"uri": uri, "version": 1, "rows": True},
        "huge": {"uri": uri, "version": 2**70, "rows": 2**70},
        "lineage": {"writes": [{"uri": uri, "version": 1}, {"uri": uri, "version": 2**70}]},
    }
    await run_stage(system, "odd", output)
    await add_member(system.pool, system.application.id, "op@example.com", "operator")
    app = create_internal_app(services_for(system.pool, system.services.broker))
    operator = await logged_in(app, "op@example.com")
    try:
        response = await operator.get(f"/api/pipelines/{pipeline['id']}/lineage")
    finally:
        await operator.aclose()
    assert response.status_code == 200, response.text
    nodes = {(d["version"], d["rows"]) for d in response.json()["datasets"]}
    assert nodes == {(1, None), (None, None)}
