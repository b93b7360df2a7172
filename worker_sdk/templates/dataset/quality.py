"""``dataset.quality``: check rules on every row; failing rows go to a quarantine dataset.
Then reconcile counts and sums between layers (:mod:`.reconcile`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray

from worker_sdk.context import JobContext
from worker_sdk.errors import TerminalError
from worker_sdk.templates import template
from worker_sdk.templates.dataset import catalog, runtime, shuffle
from worker_sdk.templates.dataset.reconcile import Own, Reconcile, reconcile, summary
from worker_sdk.templates.dataset.refs import (
    SourceSpec,
    open_source,
    output_uri,
    reference,
    require_columns,
    result,
)

# The column of the quarantine dataset that says which rules each row failed.
FAILED_RULES = "_failed_rules"


class NotNull(msgspec.Struct, tag="not_null", tag_field="check", forbid_unknown_fields=True):
    column: str


class Unique(msgspec.Struct, tag="unique", tag_field="check", forbid_unknown_fields=True):
    # Every row whose value appears more than once fails; nulls are not compared.
    column: str


class Range(msgspec.Struct, tag="range", tag_field="check", forbid_unknown_fields=True):
    # Inclusive bounds, either may be left out; dates and times as ISO strings.
    column: str
    min: Any = None
    max: Any = None


class Allowed(msgspec.Struct, tag="allowed", tag_field="check", forbid_unknown_fields=True):
    column: str
    values: list[Any]


class Regex(msgspec.Struct, tag="regex", tag_field="check", forbid_unknown_fields=True):
    # RE2 syntax; the whole value must match.
    column: str
    pattern: str


Rule = NotNull | Unique | Range | Allowed | Regex


class RowCount(msgspec.Struct, forbid_unknown_fields=True):
    min: int | None = None
    max: int | None = None


class Quality(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    source: SourceSpec = None
    output: str | None = None
    # Where failing rows go; by default beside the output, named <stage>_quarantine.
    quarantine: str | None = None
    rules: list[Rule] = []
    # Bounds on the number of rows of the source: outside them the stage fails.
    row_count: RowCount | None = None
    # The share of rows that may fail (0.01 = 1%) with the stage still completing, warned;
    # above it the stage fails. By default no row may fail.
    fail_above: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
    # Counts and sums that must agree between layers; see reconcile.py.
    reconcile: Annotated[list[Reconcile], msgspec.Meta(max_length=50)] = []
    # What a reconciliation that does not hold does: fail the stage, or warn.
    on_mismatch: Literal["fail", "warn"] = "fail"


def _label(rule: Rule) -> str:
    return f"{type(rule).__struct_config__.tag}({rule.column})"


def _literal(value: Any, column: pa.ChunkedArray, rule: Rule) -> pa.Scalar:
    try:
        return pa.scalar(value).cast(column.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    try:
        return pa.scalar(value)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise TerminalError(f"{_label(rule)}: {value!r}: {error}", code="invalid_input") from None


def _failing(rule: Rule, column: pa.ChunkedArray, duplicates: pa.Array | None) -> np.ndarray:
    """A boolean per row: true where the row fails the rule."""
    try:
        if isinstance(rule, NotNull):
            failed = pc.is_null(column, nan_is_null=True)
        elif isinstance(rule, Unique):
            repeated = duplicates if duplicates is not None else pa.array([], column.type)
            failed = pc.is_in(column, value_set=repeated)
        elif isinstance(rule, Range):
            failed = pa.chunked_array([pa.array(np.zeros(len(column), dtype=bool))])
            if rule.min is not None:
                failed = pc.or_(failed, pc.less(column, _literal(rule.min, column, rule)))
            if rule.max is not None:
                failed = pc.or_(failed, pc.greater(column, _literal(rule.max, column, rule)))
        elif isinstance(rule, Allowed):
            allowed = pa.array(rule.values).cast(column.type)
            failed = pc.invert(pc.is_in(column, value_set=allowed))
        else:
            failed = pc.invert(pc.match_substring_regex(column, f"^(?:{rule.pattern})$"))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
        raise TerminalError(f"{_label(rule)}: {error}", code="invalid_input") from None
    if not isinstance(rule, NotNull):
        # A null fails only not_null: the other rules say nothing about missing values.
        failed = pc.and_kleene(failed, pc.is_valid(column))
    mask: np.ndarray = pc.fill_null(failed, False).to_numpy(zero_copy_only=False).astype(bool)
    return mask


def check(
    rules: list[Rule], table: pa.Table, duplicates: dict[str, pa.Array]
) -> tuple[pa.Table, pa.Table, list[int]]:
    """``table`` split into passing and failing rows, and how many rows failed each rule."""
    masks = [_failing(r, table.column(r.column), duplicates.get(r.column)) for r in rules]
    failed_any = np.logical_or.reduce(masks) if masks else np.zeros(table.num_rows, dtype=bool)
    failing = table.filter(pa.array(failed_any))
    labels = [_label(rule) for rule in rules]
    reasons = [
        ", ".join(label for label, mask in zip(labels, masks, strict=True) if mask[row])
        for row in np.flatnonzero(failed_any)
    ]
    quarantined = failing.append_column(FAILED_RULES, pa.array(reasons, type=pa.string()))
    return table.filter(pa.array(~failed_any)), quarantined, [int(m.sum()) for m in masks]


@ray.remote
def _check_piece(
    rules: list[Rule],
    duplicates: dict[str, pa.Array],
    uri: str,
    version: int,
    fragment: int,
    outputs: tuple[str, str],
    schemas: tuple[pa.Schema, pa.Schema],
) -> tuple[list[Any], list[Any], list[int]]:
    passed, failed, counts = check(rules, runtime.read_fragment(uri, version, fragment), duplicates)
    return (
        runtime.write(passed, outputs[0], schemas[0]),
        runtime.write(failed, outputs[1], schemas[1]),
        counts,
    )


@ray.remote
def _split_keys(uri: str, version: int, fragment: int, column: str, parts: int) -> Any:
    keys = runtime.read_fragment(uri, version, fragment).select([column])
    return runtime.returns(shuffle.split(keys, [column], parts))


def repeated_values(keys: pa.ChunkedArray) -> pa.Array:
    """The values that occur more than once in ``keys`` (nulls are not compared)."""
    present = pc.drop_null(keys)
    if pa.types.is_integer(present.type) or pa.types.is_temporal(present.type):
        values = present.to_numpy()
        dense = shuffle.dense_offsets(values)
        if dense is not None:
            # A count per value, in one pass: ids from a sequence, days.
            offsets, low = dense
            found = np.flatnonzero(np.bincount(offsets) > 1) + low
            return pa.array(found.astype(values.dtype)).cast(present.type)
        # Sorting beats hashing here, and keys often come nearly sorted.
        ordered = np.sort(values)
        repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        return pa.array(repeated).cast(present.type)
    counts = pc.value_counts(present).flatten()
    return pc.filter(counts[0], pc.greater(counts[1], 1))


@ray.remote
def _repeated(column: str, *pieces: pa.Table) -> pa.Array:
    return repeated_values(pa.concat_tables(pieces).column(column))


def _find_duplicates(
    ctx: JobContext, source: Any, fragments: list[int], columns: list[str]
) -> dict[str, pa.Array]:
    """The values of each ``unique`` column that occur more than once in the whole dataset."""
    if not fragments:
        return {}
    if source.count_rows() <= runtime.LOCAL_KEYS:
        # The one column, read by Lance's threads, then sorted: four times the shuffle's speed
        # on 5 million rows of one machine.
        return {c: repeated_values(source.to_table(columns=[c]).column(c)) for c in columns}
    found = {}
    parts = runtime.shuffle_parts(len(fragments))
    for column in columns:
        split = runtime.fan_out(
            _split_keys,
            [(source.uri, source.version, fragment, column, parts) for fragment in fragments],
            returns=parts,
        )
        repeated = runtime.gather(
            ctx, [_repeated.remote(column, *[refs[p] for refs in split]) for p in range(parts)]
        )
        found[column] = pa.concat_arrays(repeated)
    return found


@template(
    "dataset.quality",
    group="dataset",
    version="1",
    summary="Check rules on every row; quarantine failing rows; fail or warn by a threshold.",
)
def quality(ctx: JobContext, spec: Quality) -> dict[str, Any]:
    runtime.ensure_started()
    source = open_source(ctx, spec.source)
    require_columns(source.schema, [rule.column for rule in spec.rules], "rules")
    rows = source.count_rows()
    bounds = spec.row_count
    if bounds and not (
        (bounds.min is None or rows >= bounds.min) and (bounds.max is None or rows <= bounds.max)
    ):
        raise TerminalError(
            f"the source has {rows} rows, outside the rowCount bounds "
            f"[{bounds.min if bounds.min is not None else ''}, "
            f"{bounds.max if bounds.max is not None else ''}]",
            code="quality_failed",
        )
    # The rules on no rows: a bad pattern or value fails here, before any task runs.
    empty = source.schema.empty_table()
    _, quarantine_rows, _ = check(spec.rules, empty, {})
    fragments = runtime.fragment_ids(source)
    unique = sorted({rule.column for rule in spec.rules if isinstance(rule, Unique)})
    duplicates = _find_duplicates(ctx, source, fragments, unique)
    outputs = (output_uri(ctx, spec.output), output_uri(ctx, spec.quarantine, suffix="_quarantine"))
    schemas = (source.schema, quarantine_rows.schema)
    checked = runtime.gather(
        ctx,
        [
            _check_piece.remote(
                spec.rules, duplicates, source.uri, source.version, f, outputs, schemas
            )
            for f in fragments
        ],
    )
    quarantine = runtime.commit(outputs[1], schemas[1], [f for _, fs, _ in checked for f in fs])
    # In the catalog even if the stage fails below: its rows are what a person reviews.
    catalog.register(ctx, quarantine, [source], layer="quarantine", checks=outputs[0])
    counts = [sum(c[i] for _, _, c in checked) for i in range(len(spec.rules))]
    failed = quarantine.count_rows()
    rate = failed / rows if rows else 0.0
    report: dict[str, Any] = {
        "status": "passed" if failed == 0 else "warned",
        "rows": rows,
        "passed": rows - failed,
        "quarantined": failed,
        "failureRate": rate,
        "failAbove": spec.fail_above,
        "rules": [
            {"rule": _label(rule), "failed": count}
            for rule, count in zip(spec.rules, counts, strict=True)
        ],
    }
    failing = ", ".join(f"{r['rule']} {r['failed']}" for r in report["rules"] if r["failed"])
    if rate > spec.fail_above:
        raise TerminalError(
            f"{failed} of {rows} rows ({rate:.2%}) failed the rules, more than failAbove "
            f"({spec.fail_above:.2%}): {failing}; they are in {quarantine.uri} "
            f"version {quarantine.version}",
            code="quality_failed",
        )
    if failed:
        ctx.log.warning("%d of %d rows quarantined (%s)", failed, rows, failing)
    if spec.reconcile:
        report["reconciliation"] = reconcile(ctx, spec.reconcile, Own(source, quarantine))
        mismatched = summary(report["reconciliation"], lambda n: f"{n:,.6g}")
        if mismatched and spec.on_mismatch == "fail":
            raise TerminalError(
                f"the reconciliation does not hold: {mismatched}", code="quality_failed"
            )
        if mismatched:
            report["status"] = "warned"
            ctx.log.warning("the reconciliation does not hold: %s", mismatched)
    dataset = runtime.commit(outputs[0], schemas[0], [f for fs, _, _ in checked for f in fs])
    return result(
        ctx,
        dataset,
        [source],
        also_written=[quarantine],
        quarantine=reference(quarantine),
        report=report,
    )
