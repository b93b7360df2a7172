"""``just bench`` (second part): the dataset templates on Ray, beside plain pyarrow.

The medallion work (examples/medallion) on a generated orders CSV of N rows (5 million by
default): ingest → clean (trim, cast, dedupe) → quality (five rules, quarantine) → aggregate
(revenue per day and country), each step writing a Lance dataset. Done twice:

- by the templates, as a worker runs them: Ray tasks over the datasets' fragments, on this
  machine's cores (local Ray, started before the clock starts);
- in one process with plain pyarrow, whole tables at a time (pyarrow uses every core itself).

It prints seconds per step and rows per second for the whole, and checks that both ways end
with the same gold table.
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
STEPS = ["ingest", "clean", "quality", "aggregate"]


def _example(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        name, ROOT / "examples" / "medallion" / f"{name}.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    lance.write_dataset(gold, str(lake / "gold.lance"))
    lap("aggregate")
    return times, gold


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

        started = time.perf_counter()
        runtime.ensure_started()
        print(
            f"local Ray started and warmed in {time.perf_counter() - started:.1f} s "
            "(once per worker process, not counted below)"
        )
        results = {
            "plain pyarrow": with_pyarrow(source, work / "pyarrow"),
            "templates on Ray": with_templates(source, work / "ray"),
        }
        print(f"{'':18}" + "".join(f"{s:>11}" for s in [*STEPS, "total"]) + f"{'rows/s':>12}")
        totals = {}
        for name, (times, _) in results.items():
            totals[name] = sum(times.values())
            cells = "".join(f"{times[s]:>10.2f}s" for s in STEPS) + f"{totals[name]:>10.2f}s"
            print(f"{name:18}{cells}{args.rows / totals[name]:>12,.0f}")
        ratio = totals["plain pyarrow"] / totals["templates on Ray"]
        print(f"templates on Ray / plain pyarrow, rows per second: {ratio:.2f}")
        ours, theirs = results["templates on Ray"][1], results["plain pyarrow"][1]
        assert ours.column("orders").to_pylist() == theirs.column("count_all").to_pylist()
        assert np.allclose(
            ours.column("revenue").to_numpy(), theirs.column("amount_sum").to_numpy()
        )
        print("both end with the same gold table")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
