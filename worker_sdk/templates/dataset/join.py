"""``dataset.join``: join two datasets on key columns.

The right dataset is read whole and sent to every task (a broadcast join), which joins it to
one fragment of the left: put the smaller dataset on the right. That is why the join types
are those that keep each left row's answer within its own task.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
import pyarrow as pa
import ray

from worker_sdk.context import JobContext
from worker_sdk.errors import TerminalError
from worker_sdk.templates import template
from worker_sdk.templates.dataset import runtime
from worker_sdk.templates.dataset.refs import (
    Source,
    open_source,
    output_uri,
    require_columns,
    result,
)

_JOIN_TYPES = {"inner": "inner", "left": "left outer", "semi": "left semi", "anti": "left anti"}


class Join(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    # Each a stage this one depends on, or {uri, version}.
    left: str | Source
    right: str | Source
    # Key columns, named the same on both sides.
    on: list[str]
    how: Literal["inner", "left", "semi", "anti"] = "inner"
    output: str | None = None
    # Added to the names of right columns that clash with left ones.
    right_suffix: str = "_right"


def join_tables(spec: Join, left: pa.Table, right: pa.Table) -> pa.Table:
    try:
        return left.join(
            right,
            keys=spec.on,
            join_type=_JOIN_TYPES[spec.how],
            right_suffix=spec.right_suffix,
            use_threads=False,
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
        raise TerminalError(
            f"cannot join on {', '.join(spec.on)}: {error}", code="invalid_input"
        ) from None


@ray.remote
def _join_piece(
    spec: Join, uri: str, version: int, fragment: int, right: pa.Table, output: str, schema: Any
) -> list[Any]:
    joined = join_tables(spec, runtime.read_fragment(uri, version, fragment), right)
    return runtime.write(joined.select(schema.names).cast(schema), output, schema)


@template(
    "dataset.join",
    group="dataset",
    version="1",
    summary="Join two datasets on key columns (inner, left, semi or anti), in parallel.",
)
def join(ctx: JobContext, spec: Join) -> dict[str, Any]:
    runtime.ensure_started()
    if not spec.on:
        raise TerminalError("on names no key column", code="invalid_input")
    left = open_source(ctx, spec.left, role="left")
    right = open_source(ctx, spec.right, role="right")
    require_columns(left.schema, spec.on, "on (left)")
    require_columns(right.schema, spec.on, "on (right)")
    schema = join_tables(spec, left.schema.empty_table(), right.schema.empty_table()).schema
    broadcast = ray.put(right.to_table())
    uri = output_uri(ctx, spec.output)
    written = runtime.gather(
        ctx,
        [
            _join_piece.remote(spec, left.uri, left.version, fragment, broadcast, uri, schema)
            for fragment in runtime.fragment_ids(left)
        ],
    )
    dataset = runtime.commit(uri, schema, [f for fragments in written for f in fragments])
    ctx.log.info("%d rows joined into %s", dataset.count_rows(), uri)
    return result(ctx, dataset, [left, right])
