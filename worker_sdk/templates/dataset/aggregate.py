"""``dataset.aggregate``: group by columns with sum, count, mean, min and max (silver → gold).

Each task reduces its fragments to partial results (a sum and a count for a mean); the
partials, one row per group per fragment, are combined where the job runs.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import ray

from worker_sdk.context import JobContext
from worker_sdk.errors import TerminalError
from worker_sdk.templates import template
from worker_sdk.templates.dataset import runtime
from worker_sdk.templates.dataset.refs import (
    SourceSpec,
    open_source,
    output_uri,
    require_columns,
    result,
)

Function = Literal["sum", "count", "mean", "min", "max"]


class Measure(msgspec.Struct, rename={"as_": "as"}, forbid_unknown_fields=True):
    fn: Function
    # Without a column, count counts rows; with one, its values that are not null.
    column: str | None = None
    # The output column's name; by default <column>_<fn>, or "count".
    as_: str | None = None

    @property
    def name(self) -> str:
        if self.as_:
            return self.as_
        return f"{self.column}_{self.fn}" if self.column else self.fn


class Aggregate(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    source: SourceSpec = None
    output: str | None = None
    group_by: list[str] = []
    aggregations: list[Measure] = []


# How each function's partials are made from rows, then combined from partials.
_PARTIAL = {
    "sum": ["sum"],
    "count": ["count"],
    "mean": ["sum", "count"],
    "min": ["min"],
    "max": ["max"],
}
_COMBINE = {"sum": "sum", "count": "sum", "min": "min", "max": "max"}


def _partials(spec: Aggregate) -> list[tuple[str | None, str]]:
    """The distinct (column, partial function) pairs every fragment computes."""
    wanted: dict[tuple[str | None, str], None] = {}
    for measure in spec.aggregations:
        for partial in _PARTIAL[measure.fn]:
            wanted[(measure.column, partial)] = None
    return list(wanted)


def _partial_name(column: str | None, function: str) -> str:
    return f"{column or '*'}:{function}"


def partial(spec: Aggregate, table: pa.Table) -> pa.Table:
    """One fragment's partial results: a row per group, a column per (column, function)."""
    pairs = _partials(spec)
    grouped = table.group_by(spec.group_by, use_threads=False).aggregate(
        [([], "count_all") if column is None else (column, function) for column, function in pairs]
    )
    values = [
        grouped.column("count_all" if column is None else f"{column}_{function}")
        for column, function in pairs
    ]
    keys = [grouped.column(key) for key in spec.group_by]
    return pa.Table.from_arrays(
        [*keys, *values], names=[*spec.group_by, *(_partial_name(*pair) for pair in pairs)]
    )


def combine(spec: Aggregate, partials: pa.Table) -> pa.Table:
    pairs = _partials(spec)
    combined = partials.group_by(spec.group_by, use_threads=False).aggregate(
        [(_partial_name(c, f), _COMBINE[f]) for c, f in pairs]
    )
    totals = {
        pair: combined.column(f"{_partial_name(*pair)}_{_COMBINE[pair[1]]}") for pair in pairs
    }
    columns = [combined.column(key) for key in spec.group_by]
    for measure in spec.aggregations:
        if measure.fn == "mean":
            sums = totals[(measure.column, "sum")].cast(pa.float64())
            columns.append(pc.divide(sums, totals[(measure.column, "count")]))
        else:
            columns.append(totals[(measure.column, _PARTIAL[measure.fn][0])])
    table = pa.Table.from_arrays(
        columns, names=[*spec.group_by, *(m.name for m in spec.aggregations)]
    )
    return table.sort_by([(key, "ascending") for key in spec.group_by]) if spec.group_by else table


@ray.remote
def _partial_piece(spec: Aggregate, uri: str, version: int, fragment: int) -> pa.Table:
    return partial(spec, runtime.read_fragment(uri, version, fragment))


@template(
    "dataset.aggregate",
    group="dataset",
    version="1",
    summary="Group by columns with sum, count, mean, min and max, in parallel.",
)
def aggregate(ctx: JobContext, spec: Aggregate) -> dict[str, Any]:
    runtime.ensure_started()
    if not spec.aggregations:
        raise TerminalError("aggregations is empty", code="invalid_input")
    names = [m.name for m in spec.aggregations]
    if len(set(names) | set(spec.group_by)) != len(names) + len(spec.group_by):
        raise TerminalError(
            f"output columns repeat a name: {', '.join([*spec.group_by, *names])}",
            code="invalid_input",
        )
    source = open_source(ctx, spec.source)
    require_columns(
        source.schema,
        [*spec.group_by, *(m.column for m in spec.aggregations if m.column)],
        "aggregate",
    )
    empty = source.schema.empty_table()
    try:
        empty_partials = partial(spec, empty)
        combine(spec, empty_partials)
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError, pa.ArrowInvalid) as error:
        raise TerminalError(f"cannot aggregate: {error}", code="invalid_input") from None
    partials = runtime.gather(
        ctx,
        [
            _partial_piece.remote(spec, source.uri, source.version, fragment)
            for fragment in runtime.fragment_ids(source)
        ],
    )
    table = combine(spec, pa.concat_tables([empty_partials, *partials]))
    uri = output_uri(ctx, spec.output)
    dataset = runtime.commit(uri, table.schema, runtime.write(table, uri, table.schema))
    ctx.log.info("%d groups from %d rows", table.num_rows, source.count_rows())
    return result(ctx, dataset, [source])
