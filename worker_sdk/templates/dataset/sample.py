"""``dataset.sample``: rows of a dataset version, as JSON, for people to look at (the
catalog's sample table)."""

from __future__ import annotations

from typing import Any

import msgspec

from worker_sdk.context import JobContext
from worker_sdk.templates import template
from worker_sdk.templates.dataset.profile import json_value
from worker_sdk.templates.dataset.refs import SourceSpec, describe_schema, lineage, open_source

MAX_ROWS = 1000
# A sample stays well inside what the control plane stores of one output (1 MiB by default):
# rows past this much JSON are left out.
MAX_BYTES = 512 * 1024


class Sample(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    source: SourceSpec = None
    limit: int = msgspec.field(default=100)
    # The first row's place in the version (the quarantine review pages through one).
    offset: int = msgspec.field(default=0)

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_ROWS:
            raise msgspec.ValidationError(f"limit must be from 1 to {MAX_ROWS}")
        if self.offset < 0:
            raise msgspec.ValidationError("offset must not be negative")


@template(
    "dataset.sample",
    group="dataset",
    version="1",
    summary="Rows of a dataset version from an offset, as JSON (long text and binary shortened).",
)
def sample(ctx: JobContext, spec: Sample) -> dict[str, Any]:
    dataset = open_source(ctx, spec.source)
    table = dataset.to_table(limit=spec.limit, offset=spec.offset)
    rows: list[dict[str, Any]] = []
    size = 0
    for row in table.to_pylist():
        shown = {name: json_value(value) for name, value in row.items()}
        size += len(msgspec.json.encode(shown))
        if size > MAX_BYTES:
            ctx.log.info("%d of %d rows fit in the sample", len(rows), table.num_rows)
            break
        rows.append(shown)
    return {
        "version": dataset.version,
        "offset": spec.offset,
        "columns": describe_schema(dataset.schema),
        "rows": rows,
        "lineage": lineage([dataset], []),
    }
