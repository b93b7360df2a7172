"""The medallion pipeline, in one command: python examples/medallion/run.py [ROWS] [--upload]

Generates a dirty orders CSV (a million rows by default; kept for the next run), starts a
worker in this process serving the dataset templates, and submits

    bronze (dataset.ingest) → silver (dataset.clean)
        → checked (dataset.quality, with reconciliation) → gold (dataset.sql, a SQL model)

then prints the quality report and the revenue per day and country. With ``--upload`` the CSV
is uploaded over the HTTP API instead (``POST /datasets/uploads``), which makes the bronze
dataset ``<application>/bronze/orders``, and the pipeline starts from that version. Needs a
running control plane (`just run`), PIPELOGIQ_API_KEY, and `pip install 'pipelogiq[data]'`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import httpx

# This script's folder is on the path when it is run.
from orders import generate
from pipeline import medallion

from worker_sdk import AsyncClient, Worker
from worker_sdk.templates.dataset.roots import lake

URL = os.environ.get("PIPELOGIQ_URL", "http://127.0.0.1:8081")


async def uploaded(client: AsyncClient, key: str, csv: Path) -> dict[str, Any]:
    """The CSV uploaded over the HTTP API, as the bronze dataset version its ingest wrote."""
    async with httpx.AsyncClient(base_url=URL, timeout=600) as http:
        with csv.open("rb") as file:
            answer = await http.post(
                "/datasets/uploads",
                headers={"Authorization": f"Bearer {key}"},
                files={"file": (csv.name, file, "text/csv")},
                data={"name": "orders"},
            )
    if answer.status_code != 201:
        raise SystemExit(f"the upload was refused: {answer.status_code} {answer.text}")
    upload = answer.json()
    print(f"uploaded {upload['bytes']:,} bytes as {upload['dataset']}; ingesting it")
    ingest = await client.wait(upload["pipelineId"], timeout=900)
    if ingest.status != "completed":
        raise SystemExit(f"the upload's ingest {ingest.status}: {ingest.stages[0].error}")
    bronze = ingest.stages[0].output["dataset"]
    return {"uri": bronze["uri"], "version": bronze["version"]}


async def main(rows: int, upload: bool) -> None:
    # In the lake, where the templates may read by default (PIPELOGIQ_DATA_ROOTS).
    csv = Path(lake()) / "landing" / f"orders-{rows}.csv"
    if not csv.exists():
        print(f"generating {rows:,} orders in {csv}")
        generate(csv, rows)
    key = os.environ["PIPELOGIQ_API_KEY"]
    worker = Worker(URL, key, name="medallion", concurrency=1)
    worker.use_templates("dataset")
    running = asyncio.create_task(worker.run_async(handle_signals=False))
    try:
        async with AsyncClient(URL, key) as client:
            if upload:
                # An upload is refused while no worker serves its ingest: wait for ours.
                while worker.worker_id is None and not running.done():  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            source = await uploaded(client, key, csv) if upload else csv
            submitted = await client.create_pipeline(medallion(source))
            print(f"pipeline {submitted.id}: see it in the dashboard, Lineage tab included")
            pipeline = await client.wait(submitted.id, timeout=900)
    finally:
        worker.stop()
        await running
    if pipeline.status != "completed":
        failed = [(s.name, s.error) for s in pipeline.stages if s.status == "failed"]
        raise SystemExit(f"the pipeline {pipeline.status}: {failed}")
    report = pipeline.stage("checked").output["report"]
    silver = pipeline.stage("silver").output
    bronze_rows = silver["dataset"]["rows"] + silver["removed"]["duplicates"]
    bronze_rows += silver["removed"]["nulls"]
    print(
        f"bronze {bronze_rows:,} rows → silver "
        f"{silver['dataset']['rows']:,} ({silver['removed']['duplicates']:,} duplicates removed)"
        f" → checked {report['passed']:,} passed, {report['quarantined']:,} quarantined "
        f"({report['failureRate']:.2%}, {report['status']})"
    )
    for rule in report["rules"]:
        print(f"  {rule['rule']}: {rule['failed']:,} rows")
    for check in report.get("reconciliation", []):
        verdict = "holds" if check["passed"] else "DOES NOT HOLD"
        sides = f"{check['left']:,.0f} = {check['right']:,.0f}"
        print(f"  reconciled: {check['name']}: {sides}, {verdict}")
    import lance  # after the templates, which quieten its logging

    gold = pipeline.stage("gold").output["dataset"]
    table = lance.dataset(gold["uri"], version=gold["version"]).to_table()
    print(f"gold: {table.num_rows} rows of revenue per day and country, the first five:")
    for row in table.slice(0, 5).to_pylist():
        print(
            f"  {row['day']} {row['country']}  revenue {row['revenue']:>10,.2f}  "
            f"orders {row['orders']:>5,}  average {row['average_order']:.2f}"
        )


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--upload"]
    asyncio.run(main(int(arguments[0]) if arguments else 1_000_000, "--upload" in sys.argv))
