"""``dataset.release``: append quarantined rows a person released (as they were, or with some
columns fixed) to the dataset the quality check kept, as its next version.

The control plane starts it when a review releases rows (one pipeline per batch of
decisions). A batch is appended once: the commit carries the batch id, and a retry that
finds it among the target's recent commits registers that version instead of appending again.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

import lance
import msgspec
import numpy as np
import pyarrow as pa

from worker_sdk.context import JobContext
from worker_sdk.errors import TerminalError
from worker_sdk.templates import template
from worker_sdk.templates.dataset import catalog
from worker_sdk.templates.dataset.quality import FAILED_RULES
from worker_sdk.templates.dataset.refs import Source, lineage, open_source, reference
from worker_sdk.templates.dataset.roots import allowed

# The commit property that names the batch of decisions a version appended.
BATCH_PROPERTY = "pipelogiq.release"
# How many of the target's latest commits a retry looks through for its batch.
RECENT_COMMITS = 100


class Released(msgspec.Struct, forbid_unknown_fields=True):
    row: Annotated[int, msgspec.Meta(ge=0)]
    # {column: value}: the fixes; None: the row as it was.
    values: dict[str, Any] | None = None


class Release(msgspec.Struct, forbid_unknown_fields=True):
    quarantine: Source
    target: str
    batch: str
    rows: Annotated[list[Released], msgspec.Meta(min_length=1, max_length=1000)]
    layer: str | None = None


@template(
    "dataset.release",
    group="dataset",
    version="1",
    summary="Append released quarantine rows (fixed or as they were) to the checked dataset.",
)
def release(ctx: JobContext, spec: Release) -> dict[str, Any]:
    quarantine = open_source(ctx, spec.quarantine, role="quarantine")
    target_uri = allowed(spec.target)
    try:
        target = lance.dataset(target_uri)
    except (ValueError, OSError, RuntimeError) as error:
        raise TerminalError(
            f"cannot open the checked dataset {spec.target}: {error}", code="dataset_not_found"
        ) from None
    written = _appended_before(target, spec.batch)
    if written is None:
        rows = _fixed(quarantine, spec.rows)
        try:
            rows = rows.cast(target.schema)
        except (ValueError, pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            # The checked dataset was rewritten with other columns since the check.
            raise TerminalError(
                f"the quarantined rows' columns ({', '.join(rows.schema.names)}) are not "
                f"{spec.target}'s ({', '.join(target.schema.names)})",
                code="schema_mismatch",
            ) from None
        written = lance.write_dataset(
            rows, target_uri, mode="append", transaction_properties={BATCH_PROPERTY: spec.batch}
        )
        ctx.log.info("%d rows released into %s v%d", rows.num_rows, target_uri, written.version)
    else:
        ctx.log.info("batch %s was appended before, as version %d", spec.batch, written.version)
    catalog.register(ctx, written, [quarantine], layer=spec.layer)
    return {
        "dataset": reference(written),
        "released": len(spec.rows),
        "lineage": lineage([quarantine], [written]),
    }


def _appended_before(target: lance.LanceDataset, batch: str) -> lance.LanceDataset | None:
    """The version of ``target`` that appended ``batch`` (a retry after the commit)."""
    latest = target.version
    for back, transaction in enumerate(target.get_transactions(RECENT_COMMITS)):
        properties = transaction.transaction_properties if transaction is not None else {}
        if (properties or {}).get(BATCH_PROPERTY) == batch:
            return lance.dataset(target.uri, version=latest - back)
    return None


def _fixed(quarantine: lance.LanceDataset, released: list[Released]) -> pa.Table:
    """The released rows, without the failed rules, each fix cast to its column's type."""
    places = [r.row for r in released]
    if max(places) >= quarantine.count_rows():
        raise TerminalError(
            f"row {max(places)} is past the quarantine's {quarantine.count_rows()} rows",
            code="invalid_input",
        )
    table = quarantine.take(places)
    if FAILED_RULES in table.column_names:
        table = table.drop_columns([FAILED_RULES])
    for name in {column for r in released for column in (r.values or {})}:
        if name not in table.column_names:
            raise TerminalError(f"the quarantine has no column {name!r}", code="invalid_input")
        column = table.column(name)
        values = column.to_pylist()
        try:
            for i, r in enumerate(released):
                if r.values and name in r.values:
                    values[i] = _parsed(r.values[name], column.type)
            fixed = pa.array(values, type=column.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, ArithmeticError, ValueError) as error:
            problem = f"a fixed value of {name!r}: {error}"
            raise TerminalError(problem, code="invalid_input") from None
        table = table.set_column(table.schema.get_field_index(name), name, fixed)
    return table


def _parsed(value: Any, type_: pa.DataType) -> Any:
    """A fixed value as a person typed it (JSON), as the column holds it."""
    if value is None or isinstance(value, bool):
        return value
    if pa.types.is_decimal(type_):
        return Decimal(str(value))  # 12.5 or "12.50", never through a binary float
    if pa.types.is_floating(type_) and isinstance(value, (int, float)):
        number = float(value)
        if abs(number) > float(np.finfo(np.dtype(f"float{type_.bit_width}")).max):
            # Arrow would store it as infinity without a word.
            raise ValueError(f"{value} is out of the range of {type_}")
        return number
    if not isinstance(value, str):
        return value
    if pa.types.is_date(type_):
        return dt.date.fromisoformat(value)
    if pa.types.is_timestamp(type_):
        parsed = dt.datetime.fromisoformat(value)
        if type_.tz is None and parsed.tzinfo is not None:
            # A time with an offset, in a column without a zone: kept as UTC, as Arrow does.
            return parsed.astimezone(dt.UTC).replace(tzinfo=None)
        return parsed
    return value
