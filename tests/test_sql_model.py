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

# Every test here writes and reads a lake of its own (conftest.lake).
pytestmark = pytest.mark.usefixtures("lake")


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
        "SELECT 1 AS one; SELECT * FROM orders",
        # Nothing of the worker's process is a table: only the inputs are.
        "SELECT * FROM lance",
        "SELECT * FROM sys",
        "SELECT * FROM other.orders",
        # Nor is any file, nor any URL: Daft's SQL would read and write them.
        "SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM read_csv('{secret}', delimiter => ',', has_headers => false)",
        "SELECT * FROM read_parquet('{secret}')",
        "SELECT * FROM read_json('{secret}')",
        "SELECT * FROM '{secret}'",
        'SELECT * FROM "{secret}"',
        "SELECT * FROM orders o JOIN read_csv('{secret}') s ON true",
        "WITH s AS (SELECT * FROM read_csv('{secret}')) SELECT * FROM s",
        "SELECT url_download('file://{secret}') AS x FROM orders",
        "SELECT \"url_download\"('file://{secret}') AS x FROM orders",
        "SELECT URL_DOWNLOAD('file://{secret}') AS x FROM orders",
        "SELECT url_upload(CAST('pwned' AS BINARY), '{secret}.out') AS x FROM orders",
        "SELECT file('{secret}') AS x FROM orders",
    ],
)
def test_a_query_that_does_not_run_fails_for_good_and_writes_nothing(
    lake: Path, tmp_path: Path, query: str
) -> None:
    # Outside the data roots: no query may read it, or write beside it.
    secret = tmp_path.parent / f"{tmp_path.name}-secret.csv"
    secret.write_text("k,v\napi_key,hunter2\n")
    orders = dataset(lake / "orders.lance", amount=[1.0])
    outcome = model({"query": query.format(secret=secret), "output": "gold/x"}, orders=orders)
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.code == "invalid_query"
    assert not outcome.error.retryable
    assert "hunter2" not in outcome.error.message
    assert not (lake / "gold" / "x.lance").exists()
    assert not Path(f"{secret}.out").exists()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "WITH big AS (SELECT * FROM orders WHERE amount > 1) "
            "SELECT country, count(*) AS n FROM big GROUP BY country ORDER BY country",
            [{"country": "DE", "n": 2}],
        ),
        (
            "SELECT country, CASE WHEN amount > 2 THEN 'big' ELSE 'small' END AS size, "
            "CAST(amount AS BIGINT) AS whole, upper(country) AS up "
            "FROM orders -- the largest first\nORDER BY amount DESC LIMIT 1",
            [{"country": "DE", "size": "big", "whole": 3, "up": "DE"}],
        ),
        (
            "SELECT country, amount, "
            "row_number() OVER (PARTITION BY country ORDER BY amount) AS n FROM orders",
            [
                {"country": "DE", "amount": 2.0, "n": 1},
                {"country": "DE", "amount": 3.5, "n": 2},
                {"country": "FR", "amount": 1.0, "n": 1},
            ],
        ),
        (
            "SELECT coalesce(country, '?') AS c, round(sum(amount), 1) AS total "
            "FROM orders WHERE country IN ('DE', 'FR') AND amount BETWEEN 0 AND 10 "
            "GROUP BY c HAVING sum(amount) > 2 ORDER BY c",
            [{"c": "DE", "total": 5.5}],
        ),
        # Comments are dropped before the query runs, whatever they say.
        (
            "SELECT country /* a comment */ FROM orders /* url_download('x') */ LIMIT 1",
            [{"country": "DE"}],
        ),
        # Nested, as PostgreSQL nests them: the call inside is a comment too.
        (
            "SELECT country /* /* */ , url_download('file:///etc/hostname') */ FROM orders LIMIT 1",
            [{"country": "DE"}],
        ),
    ],
)
def test_the_sql_of_a_model_runs_as_written(
    lake: Path, query: str, expected: list[dict[str, Any]]
) -> None:
    orders = dataset(lake / "orders.lance", country=["DE", "FR", "DE"], amount=[2.0, 1.0, 3.5])
    outcome = model({"query": query}, orders=orders)
    assert outcome.status == "completed", outcome.error
    written = outcome.output["dataset"]
    rows = lance.dataset(written["uri"], version=written["version"]).to_table().to_pylist()
    assert sorted(rows, key=str) == sorted(expected, key=str)


def test_a_query_that_fails_on_the_data_fails_for_good(lake: Path) -> None:
    # Daft 0.7 plans this GROUP BY by position, and fails to run it.
    orders = dataset(lake / "orders.lance", country=["DE", "FR"], amount=[2.0, 1.0])
    outcome = model(
        {
            "query": "SELECT coalesce(country, '?') AS c, round(sum(amount), 1) AS total "
            "FROM orders WHERE country IN ('DE', 'FR') AND amount BETWEEN 0 AND 10 "
            "GROUP BY 1 HAVING sum(amount) > 2 ORDER BY c",
            "output": "gold/w",
        },
        orders=orders,
    )
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.code == "query_failed"
    assert not outcome.error.retryable


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
