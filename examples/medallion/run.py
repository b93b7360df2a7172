"""The medallion pipeline, in one command: python examples/medallion/run.py [ROWS]

Generates a dirty orders CSV (a million rows by default; kept for the next run), starts a
worker in this process serving the dataset templates, and submits

    bronze (dataset.ingest) → silver (dataset.clean)
        → checked (dataset.quality) → gold (dataset.aggregate)

then prints the quality report and the revenue per day and country. Needs a running control
plane (`just run`), PIPELOGIQ_API_KEY, and `pip install 'pipelogiq[data]'`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

# This script's folder is on the path when it is run.
from orders import generate
from pipeline import medallion

from worker_sdk import AsyncClient, Worker
from worker_sdk.templates.dataset.roots import lake

URL = os.environ.get("PIPELOGIQ_URL", "http://127.0.0.1:8081")


async def main(rows: int) -> None:
    # In the lake, where the templates may read by default (PIPELOGIQ_DATA_ROOTS).
    source = Path(lake()) / "landing" / f"orders-{rows}.csv"
    if not source.exists():
        print(f"generating {rows:,} orders in {source}")
        generate(source, rows)
    key = os.environ["PIPELOGIQ_API_KEY"]
    worker = Worker(URL, key, name="medallion", concurrency=1)
    worker.use_templates("dataset")
    running = asyncio.create_task(worker.run_async(handle_signals=False))
    try:
        async with AsyncClient(URL, key) as client:
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
    print(
        f"bronze {pipeline.stage('bronze').output['dataset']['rows']:,} rows → silver "
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
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
