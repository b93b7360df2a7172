"""``dataset.profile``: per column, the nulls, an estimate of the distinct values, the range,
the mean and spread of numbers, the most frequent values and a histogram.

The catalog's profile page asks for it (one job per dataset version); a pipeline can run it as
a stage too. It is computed with SQL over the Lance dataset (DataFusion, in this process, on
every core): a few passes over only the columns they need, without loading the table.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

import lance
import msgspec
import pyarrow as pa

from worker_sdk.context import JobContext
from worker_sdk.errors import TerminalError
from worker_sdk.templates import template
from worker_sdk.templates.dataset.refs import SourceSpec, lineage, open_source

BINS = 20
TOP_VALUES = 10
# Text longer than this is cut in top values and ranges.
_TEXT = 200


class Profile(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    source: SourceSpec = None
    # The columns to profile (by default all).
    columns: list[str] | None = None


@template(
    "dataset.profile",
    group="dataset",
    version="1",
    summary="Profile a dataset version: per column nulls, distinct values, range, top "
    "values and a histogram.",
)
def profile(ctx: JobContext, spec: Profile) -> dict[str, Any]:
    dataset = open_source(ctx, spec.source)
    fields = _chosen(dataset.schema, spec.columns)
    rows = dataset.count_rows()
    stats = _stats(dataset, fields) if fields and rows else {}
    columns = []
    for i, field in enumerate(fields):
        if ctx.cancelled.is_set():
            raise TerminalError("cancelled", code="cancelled")
        columns.append(_column(dataset, i, field, stats, rows))
    return {
        "version": dataset.version,
        "rows": rows,
        "columns": columns,
        "lineage": lineage([dataset], []),
    }


def _chosen(schema: pa.Schema, names: list[str] | None) -> list[pa.Field]:
    if names is None:
        return list(schema)
    missing = [name for name in names if name not in schema.names]
    if missing:
        raise TerminalError(
            f"columns names columns the dataset does not have: {', '.join(missing)}",
            code="unknown_column",
        )
    return [schema.field(name) for name in names]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _numeric(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    )


def _temporal(kind: pa.DataType) -> bool:
    return bool(pa.types.is_date(kind) or pa.types.is_timestamp(kind))


def _scalar(kind: pa.DataType) -> bool:
    return (
        _numeric(kind)
        or _temporal(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_boolean(kind)
    )


def _query(dataset: lance.LanceDataset, sql: str) -> list[dict[str, Any]]:
    batches = dataset.sql(sql).build().to_batch_records()
    return [row for batch in batches for row in batch.to_pylist()]


def _stats(dataset: lance.LanceDataset, fields: list[pa.Field]) -> dict[str, Any]:
    """One pass for every column's count, distinct estimate, range and moments."""
    parts = []
    for i, field in enumerate(fields):
        column, kind = _quoted(field.name), field.type
        parts.append(f"count({column}) AS c{i}_count")
        if not _scalar(kind):
            continue
        # HyperLogLog, which DataFusion offers for integers, text and dates; others as text.
        direct = pa.types.is_integer(kind) or _temporal(kind) or pa.types.is_string(kind)
        distinct = column if direct else f"CAST({column} AS varchar)"
        parts.append(f"approx_distinct({distinct}) AS c{i}_distinct")
        if not pa.types.is_boolean(kind):
            parts += [f"min({column}) AS c{i}_min", f"max({column}) AS c{i}_max"]
        if _numeric(kind):
            number = f"CAST({column} AS double)"
            parts += [f"avg({number}) AS c{i}_mean", f"stddev({number}) AS c{i}_stddev"]
        if _temporal(kind):
            epoch = f"date_part('epoch', {column})"
            parts += [f"min({epoch}) AS c{i}_low", f"max({epoch}) AS c{i}_high"]
    [row] = _query(dataset, f"SELECT {', '.join(parts)} FROM dataset")
    return row


def _column(
    dataset: lance.LanceDataset, i: int, field: pa.Field, stats: dict[str, Any], rows: int
) -> dict[str, Any]:
    kind = field.type
    counted = stats.get(f"c{i}_count", 0)
    profile: dict[str, Any] = {"name": field.name, "type": str(kind), "nulls": rows - counted}
    if not _scalar(kind) or not counted:
        return profile
    profile["distinct"] = stats.get(f"c{i}_distinct")
    profile["min"] = json_value(stats.get(f"c{i}_min"))
    profile["max"] = json_value(stats.get(f"c{i}_max"))
    if _numeric(kind):
        profile["mean"] = _finite(stats.get(f"c{i}_mean"))
        profile["stddev"] = _finite(stats.get(f"c{i}_stddev"))
        low, high = _finite(stats.get(f"c{i}_min")), _finite(stats.get(f"c{i}_max"))
        expression = f"CAST({_quoted(field.name)} AS double)"
        profile["histogram"] = _histogram(dataset, expression, low, high, _number)
    if _temporal(kind):
        low, high = stats.get(f"c{i}_low"), stats.get(f"c{i}_high")
        expression = f"date_part('epoch', {_quoted(field.name)})"
        profile["histogram"] = _histogram(dataset, expression, low, high, _instant)
    if not pa.types.is_floating(kind):
        profile["top"] = _top(dataset, field.name)
    return profile


def _top(dataset: lance.LanceDataset, name: str) -> list[dict[str, Any]]:
    column = _quoted(name)
    found = _query(
        dataset,
        f"SELECT {column} AS value, count(*) AS n FROM dataset WHERE {column} IS NOT NULL "
        f"GROUP BY {column} ORDER BY n DESC, {column} LIMIT {TOP_VALUES}",
    )
    return [{"value": json_value(row["value"]), "count": row["n"]} for row in found]


def _histogram(
    dataset: lance.LanceDataset,
    expression: str,
    low: float | None,
    high: float | None,
    bound: Any,
) -> list[dict[str, Any]]:
    """``BINS`` bins of equal width from ``low`` to ``high`` (one, if they are equal)."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return []
    bins = BINS if high > low else 1
    width = (high - low) / bins if high > low else 1.0
    found = _query(
        dataset,
        f"SELECT least(CAST(floor(({expression} - {low!r}) / {width!r}) AS bigint), "
        f"{bins - 1}) AS bin, count(*) AS n FROM dataset "
        f"WHERE {expression} BETWEEN {low!r} AND {high!r} GROUP BY 1",
    )
    counts = {row["bin"]: row["n"] for row in found}
    return [
        {
            "lower": bound(low + b * width),
            "upper": bound(high if b == bins - 1 else low + (b + 1) * width),
            "count": counts.get(b, 0),
        }
        for b in range(bins)
    ]


def _number(value: float) -> float:
    return value


def _instant(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat().replace("+00:00", "Z")


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def json_value(value: Any) -> Any:
    """A value as JSON holds it: dates as ISO text, decimals as numbers, long text cut."""
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str) and len(value) > _TEXT:
        return value[:_TEXT] + "…"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value
