"""``just bench`` (last part), ``just bench-data``: the dataset templates beside the tools a
data engineer would otherwise pick, on the same work, machine and run.

The medallion work (examples/medallion) on a generated orders CSV of N rows (5 million by
default): ingest → clean (trim, cast, dedupe keeping the first) → quality (five rules,
quarantine) → gold (revenue per day and country, a SQL model), each layer written to disk.
Done four ways:

- by the templates, as a worker runs them: Ray tasks over the datasets' fragments, on this
  machine's cores (local Ray, started before the clock starts), Lance datasets; gold by
  ``dataset.sql`` (Daft);
- in one process with plain pyarrow, whole tables at a time, Lance datasets;
- in DuckDB, one process, SQL, each layer a Parquet file;
- in Polars, one process, lazy frames, each layer a Parquet file.

Then the SQL model alone: the gold query over the same Lance version of the checked orders, by
Daft (``dataset.sql``) and by DuckDB, each writing a Lance dataset. It prints seconds per
step, rows per second, the ratios, and checks that every way ends with the same gold table.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parent.parent
STEPS = ["ingest", "clean", "quality", "gold"]
COUNTRIES = ["DE", "FR", "NL", "ES", "IT", "PL", "SE", "US"]
EMAIL = r"^(?:[^@\s]+@[^@\s]+\.[a-z]+)$"


def _example(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        name, ROOT / "examples" / "medallion" / f"{name}.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The templates' checked orders, for the SQL model's comparison.
CHECKED: list[dict[str, Any]] = []


def with_templates(source: Path, lake: Path) -> tuple[dict[str, float], pa.Table]:
    os.environ["PIPELOGIQ_LAKE"] = str(lake)
    os.environ["PIPELOGIQ_DATA_ROOTS"] = f"{lake},{source.parent}"
    from worker_sdk.templates import select
    from worker_sdk.testing import JobEnvironment

    templates = {t.name: t.function for t in select(["dataset"])}
    stages = _example("pipeline").medallion(source).stages
    times: dict[str, float] = {}
    outputs: dict[str, Any] = {}
    for step, stage in zip(STEPS, stages, strict=True):
        # Each stage sees the outputs of the stages it depends on, as the control plane does.
        names = stage.depends_on if stage.depends_on is not None else list(outputs)[-1:]
        env = JobEnvironment(
            stage_name=stage.name, dependencies={name: outputs[name] for name in names}
        )
        started = time.perf_counter()
        outcome = env.run(templates[stage.handler], stage.input, name=stage.handler)
        times[step] = time.perf_counter() - started
        assert outcome.status == "completed", outcome.error
        outputs[stage.name] = outcome.output
    CHECKED[:] = [outputs["checked"]["dataset"]]
    silver = outputs["silver"]
    import lance

    # The catalog's profile of the silver layer: not a step of the chain, timed apart.
    started = time.perf_counter()
    env = JobEnvironment(stage_name="profile", dependencies={"silver": silver})
    profiled = env.run(templates["dataset.profile"], {}, name="dataset.profile")
    assert profiled.status == "completed", profiled.error
    columns = len(profiled.output["columns"])
    print(
        f"dataset.profile of silver ({profiled.output['rows']:,} rows, {columns} columns): "
        f"{time.perf_counter() - started:.2f} s"
    )
    gold = outputs["gold"]["dataset"]
    return times, lance.dataset(gold["uri"], version=gold["version"]).to_table()


def with_pyarrow(source: Path, lake: Path) -> tuple[dict[str, float], pa.Table]:
    """The same work as the example's stages, written as one would with pyarrow alone."""
    import lance

    times: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        times[step] = now - clock
        clock = now

    options = pacsv.ConvertOptions(column_types={"amount": pa.string()}, strings_can_be_null=True)
    bronze = pacsv.read_csv(source, convert_options=options)
    lance.write_dataset(bronze, str(lake / "bronze.lance"))
    lap("ingest")

    table = lance.dataset(str(lake / "bronze.lance")).to_table()
    table = table.rename_columns(["day" if n == "ordered_at" else n for n in table.column_names])
    table = table.set_column(2, "country", pc.utf8_trim_whitespace(table.column("country")))
    table = table.set_column(1, "day", pc.cast(table.column("day"), pa.date32()))
    amount = table.column("amount")
    numeric = pc.match_substring_regex(amount, r"^-?\d+(\.\d+)?$")
    table = table.set_column(
        4,
        "amount",
        pc.cast(pc.if_else(numeric, amount, pa.scalar(None, pa.string())), pa.float64()),
    )
    rows = pa.array(np.arange(table.num_rows))
    firsts = (
        table.select(["order_id"])
        .append_column("row", rows)
        .group_by("order_id")
        .aggregate([("row", "min")])
    )
    table = table.take(pa.array(np.sort(firsts.column("row_min").to_numpy())))
    lance.write_dataset(table, str(lake / "silver.lance"))
    lap("clean")

    table = lance.dataset(str(lake / "silver.lance")).to_table()
    amount, country = table.column("amount"), table.column("country")
    counts = pc.value_counts(table.column("order_id")).flatten()
    repeated = pc.filter(counts[0], pc.greater(counts[1], 1))
    countries = pa.array(["DE", "FR", "NL", "ES", "IT", "PL", "SE", "US"])
    failed = [
        pc.is_null(amount),
        pc.fill_null(pc.less(amount, 0), False),
        pc.fill_null(pc.invert(pc.is_in(country, value_set=countries)), False),
        pc.fill_null(
            pc.invert(
                pc.match_substring_regex(
                    table.column("customer_email"), r"^(?:[^@\s]+@[^@\s]+\.[a-z]+)$"
                )
            ),
            False,
        ),
        pc.is_in(table.column("order_id"), value_set=repeated),
    ]
    any_failed = failed[0]
    for mask in failed[1:]:
        any_failed = pc.or_(any_failed, mask)
    lance.write_dataset(table.filter(pc.invert(any_failed)), str(lake / "checked.lance"))
    lance.write_dataset(table.filter(any_failed), str(lake / "quarantine.lance"))
    lap("quality")

    table = lance.dataset(str(lake / "checked.lance")).to_table()
    gold = (
        table.group_by(["day", "country"])
        .aggregate([("amount", "sum"), ([], "count_all"), ("amount", "mean")])
        .sort_by([("day", "ascending"), ("country", "ascending")])
    )
    gold = gold.rename_columns(["day", "country", "revenue", "orders", "average_order"])
    lance.write_dataset(gold, str(lake / "gold.lance"))
    lap("gold")
    return times, gold


class _Laps:
    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._clock = time.perf_counter()

    def __call__(self, step: str) -> None:
        now = time.perf_counter()
        self.times[step] = now - self._clock
        self._clock = now


def with_duckdb(source: Path, work: Path) -> tuple[dict[str, float], pa.Table]:
    """The same work in DuckDB, as one would write it: SQL, every layer a Parquet file."""
    import duckdb

    work.mkdir(parents=True, exist_ok=True)
    db = duckdb.connect()
    lap = _Laps()
    db.execute(
        f"COPY (SELECT * FROM read_csv('{source}', header = true, "
        f"types = {{'amount': 'VARCHAR', 'ordered_at': 'VARCHAR'}})) TO '{work}/bronze.parquet'"
    )
    lap("ingest")
    db.execute(f"""
        COPY (
            SELECT order_id, CAST(CAST(ordered_at AS TIMESTAMP) AS DATE) AS day,
                   trim(country) AS country, customer_email,
                   TRY_CAST(amount AS DOUBLE) AS amount
            FROM read_parquet('{work}/bronze.parquet', file_row_number = true)
            QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY file_row_number) = 1
            ORDER BY file_row_number
        ) TO '{work}/silver.parquet'
    """)
    lap("clean")
    countries = ", ".join(f"'{c}'" for c in COUNTRIES)
    db.execute(f"""
        CREATE TEMP TABLE flagged AS
        SELECT *, amount IS NULL OR coalesce(amount < 0, false)
                  OR coalesce(country NOT IN ({countries}), false)
                  OR coalesce(NOT regexp_full_match(customer_email, '{EMAIL[1:-1]}'), false)
                  OR order_id IN (SELECT order_id FROM read_parquet('{work}/silver.parquet')
                                  GROUP BY order_id HAVING count(*) > 1) AS failed
        FROM read_parquet('{work}/silver.parquet')
    """)
    db.execute(
        f"COPY (SELECT * EXCLUDE (failed) FROM flagged WHERE NOT failed) "
        f"TO '{work}/checked.parquet'"
    )
    db.execute(
        f"COPY (SELECT * EXCLUDE (failed) FROM flagged WHERE failed) TO '{work}/quarantine.parquet'"
    )
    lap("quality")
    gold_query = _example("pipeline").GOLD_QUERY.replace(
        "FROM orders", f"FROM read_parquet('{work}/checked.parquet')"
    )
    db.execute(f"COPY ({gold_query}) TO '{work}/gold.parquet'")
    lap("gold")
    return lap.times, db.sql(f"SELECT * FROM '{work}/gold.parquet'").to_arrow_table()


def with_polars(source: Path, work: Path) -> tuple[dict[str, float], pa.Table]:
    """The same work in Polars, as one would write it: lazy frames, every layer Parquet."""
    import polars as pl

    work.mkdir(parents=True, exist_ok=True)
    lap = _Laps()
    pl.scan_csv(source, schema_overrides={"amount": pl.String}).sink_parquet(
        work / "bronze.parquet"
    )
    lap("ingest")
    (
        pl.scan_parquet(work / "bronze.parquet")
        .rename({"ordered_at": "day"})
        .with_columns(
            pl.col("day").str.to_datetime("%Y-%m-%dT%H:%M:%S").dt.date(),
            pl.col("country").str.strip_chars(),
            pl.col("amount").cast(pl.Float64, strict=False),
        )
        .unique(subset=["order_id"], keep="first", maintain_order=True)
        .sink_parquet(work / "silver.parquet")
    )
    lap("clean")
    silver = pl.scan_parquet(work / "silver.parquet")
    repeated = silver.group_by("order_id").len().filter(pl.col("len") > 1).select("order_id")
    flagged = silver.with_columns(
        failed=pl.col("amount").is_null()
        | (pl.col("amount") < 0).fill_null(False)
        | (~pl.col("country").is_in(COUNTRIES)).fill_null(False)
        | (~pl.col("customer_email").str.contains(EMAIL)).fill_null(False)
        | pl.col("order_id").is_in(repeated.collect().to_series().implode())
    ).collect()
    flagged.filter(~pl.col("failed")).drop("failed").write_parquet(work / "checked.parquet")
    flagged.filter(pl.col("failed")).drop("failed").write_parquet(work / "quarantine.parquet")
    lap("quality")
    gold = (
        pl.scan_parquet(work / "checked.parquet")
        .group_by("day", "country")
        .agg(
            revenue=pl.col("amount").sum(),
            orders=pl.len(),
            average_order=pl.col("amount").mean(),
        )
        .sort("day", "country")
        .collect()
    )
    gold.write_parquet(work / "gold.parquet")
    lap("gold")
    return lap.times, gold.to_arrow()


def sql_model(checked: Any, lake: Path, rounds: int = 3) -> dict[str, float]:
    """The gold query over one Lance version, by dataset.sql (Daft) and by DuckDB, each
    writing a Lance dataset: the best of ``rounds`` seconds each."""
    import duckdb
    import lance

    from worker_sdk.templates.dataset.sql import sql
    from worker_sdk.testing import JobEnvironment

    query = _example("pipeline").GOLD_QUERY
    best: dict[str, float] = {}
    for n in range(rounds):
        started = time.perf_counter()
        env = JobEnvironment(stage_name="gold", dependencies={"orders": {"dataset": checked}})
        outcome = env.run(sql, {"query": query, "output": f"sql-model/daft-{n}"})
        assert outcome.status == "completed", outcome.error
        best["daft"] = min(best.get("daft", 1e9), time.perf_counter() - started)

        started = time.perf_counter()
        orders = lance.dataset(checked["uri"], version=checked["version"])  # noqa: F841 (SQL)
        db = duckdb.connect()
        result = db.sql(query).to_arrow_reader()
        lance.write_dataset(result, str(lake / f"sql-model/duckdb-{n}.lance"))
        db.close()
        best["duckdb"] = min(best.get("duckdb", 1e9), time.perf_counter() - started)
    return best


def same_gold(ours: pa.Table, theirs: pa.Table, who: str) -> None:
    key = ["day", "country"]
    ours, theirs = (
        ours.sort_by([(k, "ascending") for k in key]),
        theirs.sort_by([(k, "ascending") for k in key]),
    )
    assert ours.column("orders").to_pylist() == theirs.column("orders").to_pylist(), who
    assert np.allclose(ours.column("revenue").to_numpy(), theirs.column("revenue").to_numpy()), who


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pipelogiq-bench-data-"))
    try:
        source = work / "orders.csv"
        started = time.perf_counter()
        _example("orders").generate(source, args.rows)
        size = source.stat().st_size
        print(
            f"dataset pipeline: {args.rows:,} orders ({size / 2**20:.0f} MiB of CSV, made in "
            f"{time.perf_counter() - started:.1f} s); {os.cpu_count()} CPUs"
        )
        from worker_sdk.templates.dataset import runtime
        from worker_sdk.templates.dataset.sql import warm_up

        started = time.perf_counter()
        runtime.ensure_started()
        warm_up()
        print(
            f"local Ray started and Daft loaded in {time.perf_counter() - started:.1f} s "
            "(once per worker process, not counted below)"
        )
        results = {
            "templates on Ray": with_templates(source, work / "ray"),
            "plain pyarrow": with_pyarrow(source, work / "pyarrow"),
            "DuckDB": with_duckdb(source, work / "duckdb"),
            "Polars": with_polars(source, work / "polars"),
        }
        print(f"{'':18}" + "".join(f"{s:>11}" for s in [*STEPS, "total"]) + f"{'rows/s':>12}")
        totals = {}
        for name, (times, _) in results.items():
            totals[name] = sum(times.values())
            cells = "".join(f"{times[s]:>10.2f}s" for s in STEPS) + f"{totals[name]:>10.2f}s"
            print(f"{name:18}{cells}{args.rows / totals[name]:>12,.0f}")
        ours = totals["templates on Ray"]
        for name in ("plain pyarrow", "DuckDB", "Polars"):
            print(f"templates on Ray against {name}: {totals[name] / ours:.2f}x its speed")
        gold = results["templates on Ray"][1]
        for name in ("plain pyarrow", "DuckDB", "Polars"):
            same_gold(gold, results[name][1], name)
        print("every way ends with the same gold table")
        checked = CHECKED[0]
        model = sql_model(checked, work / "ray")
        print(
            f"SQL model (the gold query over {checked['rows']:,} checked orders in Lance, "
            f"written to Lance), best of 3: dataset.sql (Daft) {model['daft']:.2f} s, "
            f"DuckDB {model['duckdb']:.2f} s: Daft at {model['duckdb'] / model['daft']:.2f}x "
            "DuckDB's speed"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
