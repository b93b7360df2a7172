"""``dataset.sql``: SQL models over named input datasets, run by Daft, written to Lance, with
the versions read in the lineage and the catalog; bad queries fail for good."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import lance
import pyarrow as pa
import pytest

from worker_sdk.templates.dataset.sql import RUNNER_ENV, sql
from worker_sdk.testing import JobEnvironment, TestOutcome


@pytest.fixture(autouse=True)
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PIPELOGIQ_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("PIPELOGIQ_DATA_ROOTS", str(tmp_path))
    return tmp_path / "lake"


def dataset(path: Path, **columns: list[Any]) -> dict[str, Any]:
    written = lance.write_dataset(pa.table(columns), str(path), mode="overwrite")
    return {"dataset": {"uri": written.uri, "version": written.version}}


def model(spec: dict[str, Any], **deps: Any) -> TestOutcome:
    return JobEnvironment(stage_name="gold", dependencies=deps).run(sql, spec)


def test_a_model_joins_its_dependencies_by_their_stage_names(lake: Path) -> None:
    orders = dataset(
        lake / "orders.lance",
        customer=[1, 1, 2, 3],
        amount=[10.0, 5.5, 7.0, 1.0],
    )
    customers = dataset(lake / "customers.lance", id=[1, 2, 3], country=["DE", "FR", "DE"])
    outcome = model(
        {
            "query": "SELECT c.country, sum(o.amount) AS revenue, count(*) AS orders "
            "FROM orders o JOIN customers c ON o.customer = c.id "
            "GROUP BY c.country ORDER BY c.country",
            "output": "gold/by_country",
        },
        orders=orders,
        customers=customers,
    )
    assert outcome.status == "completed", outcome.error
    table = lance.dataset(str(lake / "gold/by_country.lance")).to_table()
    assert table.to_pylist() == [
        {"country": "DE", "revenue": 16.5, "orders": 3},
        {"country": "FR", "revenue": 7.0, "orders": 1},
    ]
    assert outcome.output["inputs"] == ["customers", "orders"]
    assert outcome.output["dataset"]["rows"] == 2
    reads = {(r["uri"], r["version"]) for r in outcome.output["lineage"]["reads"]}
    assert reads == {
        (orders["dataset"]["uri"], 1),
        (customers["dataset"]["uri"], 1),
    }
    [registered] = outcome.datasets
    assert (registered.name, registered.layer, registered.rows) == ("gold/by_country", "gold", 2)
    assert {r.uri for r in registered.reads} == reads_uris(reads)


def reads_uris(reads: set[tuple[str, int]]) -> set[str]:
    return {uri for uri, _ in reads}


def test_a_named_input_reads_the_version_it_names(lake: Path) -> None:
    path = lake / "events.lance"
    dataset(path, n=[1, 2, 3])
    lance.write_dataset(pa.table({"n": [100]}), str(path), mode="append")
    pinned = model(
        {
            "query": "SELECT sum(n) AS total FROM events",
            "inputs": {"events": {"uri": str(path), "version": 1}},
        }
    )
    assert pinned.status == "completed", pinned.error
    written = pinned.output["dataset"]
    total = lance.dataset(written["uri"], version=written["version"]).to_table()
    assert total.column("total").to_pylist() == [6]


@pytest.mark.parametrize(
    "query",
    [
        "SELECT nope FROM orders",
        "SELEC amount FROM orders",
        "DROP TABLE orders",
        # Nothing of the worker's process is a table: only the inputs are.
        "SELECT * FROM lance",
        "SELECT * FROM sys",
    ],
)
def test_a_query_that_does_not_run_fails_for_good_and_writes_nothing(
    lake: Path, query: str
) -> None:
    orders = dataset(lake / "orders.lance", amount=[1.0])
    outcome = model({"query": query, "output": "gold/x"}, orders=orders)
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.code == "invalid_query"
    assert not outcome.error.retryable
    assert not (lake / "gold" / "x.lance").exists()


def test_an_append_of_other_columns_is_refused(lake: Path) -> None:
    orders = dataset(lake / "orders.lance", amount=[1.0, 2.0])
    first = model({"query": "SELECT amount FROM orders", "output": "gold/a"}, orders=orders)
    assert first.status == "completed", first.error
    again = model(
        {"query": "SELECT amount * 2 AS doubled FROM orders", "output": "gold/a", "mode": "append"},
        orders=orders,
    )
    assert again.status == "failed"
    assert again.error is not None
    assert again.error.code == "schema_mismatch"
    assert lance.dataset(str(lake / "gold/a.lance")).count_rows() == 2


def test_a_model_needs_inputs_and_a_known_runner(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = model({"query": "SELECT 1 AS one"})
    assert alone.status == "failed"
    assert alone.error is not None
    assert alone.error.code == "unknown_source"
    monkeypatch.setenv(RUNNER_ENV, "spark")
    orders = dataset(lake / "orders.lance", amount=[1.0])
    wrong = model({"query": "SELECT * FROM orders"}, orders=orders)
    assert wrong.status == "failed"
    assert wrong.error is not None
    assert wrong.error.code == "invalid_setup"


def test_the_same_model_runs_on_ray(tmp_path: Path, lake: Path) -> None:
    # Daft takes its runner once per process: this one runs in a process of its own.
    orders = dataset(lake / "orders.lance", country=["DE", "FR", "DE"], amount=[1.0, 2.0, 3.5])
    script = textwrap.dedent(
        f"""
        import daft
        from worker_sdk.templates.dataset.sql import sql
        from worker_sdk.testing import JobEnvironment
        env = JobEnvironment(stage_name="gold", dependencies={{"orders": {orders!r}}})
        outcome = env.run(sql, {{"query": "SELECT country, sum(amount) AS revenue FROM orders "
                                          "GROUP BY country ORDER BY country",
                                 "output": "gold/on_ray"}})
        assert outcome.status == "completed", outcome.error
        print(daft.get_or_infer_runner_type())
        """
    )
    environment = {**os.environ, RUNNER_ENV: "ray", "RAY_ADDRESS": ""}
    ran = subprocess.run(
        [sys.executable, "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.strip().splitlines()[-1] == "ray"
    table = lance.dataset(str(lake / "gold/on_ray.lance")).to_table()
    assert table.to_pylist() == [
        {"country": "DE", "revenue": 4.5},
        {"country": "FR", "revenue": 2.0},
    ]
