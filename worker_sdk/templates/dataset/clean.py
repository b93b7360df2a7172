"""``dataset.clean``: rename, select, trim, cast, fill or drop nulls, dedupe (bronze → silver)."""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray

from worker_sdk.context import JobContext
from worker_sdk.errors import TerminalError
from worker_sdk.templates import template
from worker_sdk.templates.dataset import runtime, shuffle
from worker_sdk.templates.dataset.refs import (
    SourceSpec,
    open_source,
    output_uri,
    parse_type,
    require_columns,
    result,
)

# Below this many values, an array that does not cast is cast value by value.
_CAST_ONE_BY_ONE = 32


class Clean(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """The steps, applied in this order: rename, select, trim, cast, fill nulls, drop nulls,
    dedupe."""

    source: SourceSpec = None
    output: str | None = None
    rename: dict[str, str] = {}
    # Keep only these columns, in this order (names after renaming).
    select: list[str] = []
    # String columns to strip of surrounding whitespace; true for every string column.
    trim: list[str] | bool = False
    cast: dict[str, str] = {}
    # "null": a value that does not cast becomes null (for `quality` to catch) instead of
    # failing the stage.
    cast_errors: Literal["fail", "null"] = "fail"
    fill_nulls: dict[str, Any] = {}
    # Drop rows with a null in any of these columns.
    drop_nulls: list[str] = []
    # Key columns: keep the first row of each key, across the whole dataset.
    dedupe: list[str] = []


def apply(spec: Clean, table: pa.Table, stats: Counter[str]) -> pa.Table:
    """Every step but dedupe, on one piece of the dataset."""
    if spec.rename:
        require_columns(table.schema, list(spec.rename), "rename")
        table = table.rename_columns([spec.rename.get(n, n) for n in table.column_names])
    if spec.select:
        require_columns(table.schema, spec.select, "select")
        table = table.select(spec.select)
    for name in _trimmed(spec, table.schema):
        table = _replace(table, name, pc.utf8_trim_whitespace(table.column(name)))
    require_columns(table.schema, list(spec.cast), "cast")
    for name, type_name in spec.cast.items():
        table = _replace(table, name, _cast(table, name, parse_type(type_name), spec, stats))
    require_columns(table.schema, list(spec.fill_nulls), "fillNulls")
    for name, value in spec.fill_nulls.items():
        column = table.column(name)
        try:
            filled = pc.fill_null(column, pa.scalar(value, type=column.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            raise TerminalError(
                f"fillNulls: {value!r} is not a {column.type} for column {name}",
                code="invalid_input",
            ) from None
        table = _replace(table, name, filled)
    if spec.drop_nulls:
        require_columns(table.schema, spec.drop_nulls, "dropNulls")
        before = table.num_rows
        table = table.filter(_all_valid(table, spec.drop_nulls))
        stats["droppedForNulls"] += before - table.num_rows
    return table


def _trimmed(spec: Clean, schema: pa.Schema) -> list[str]:
    if spec.trim is True:
        return [f.name for f in schema if pa.types.is_string(f.type)]
    names = spec.trim or []
    require_columns(schema, names, "trim")
    for name in names:
        if not pa.types.is_string(schema.field(name).type):
            raise TerminalError(f"trim: column {name} is not a string column", code="invalid_input")
    return names


def _all_valid(table: pa.Table, names: list[str]) -> pa.ChunkedArray:
    mask = pc.is_valid(table.column(names[0]))
    for name in names[1:]:
        mask = pc.and_(mask, pc.is_valid(table.column(name)))
    return mask


def _replace(table: pa.Table, name: str, column: pa.ChunkedArray | pa.Array) -> pa.Table:
    index = table.schema.get_field_index(name)
    return table.set_column(index, pa.field(name, column.type), column)


def _cast(
    table: pa.Table, name: str, to: pa.DataType, spec: Clean, stats: Counter[str]
) -> pa.ChunkedArray:
    column = table.column(name)
    try:
        return pc.cast(column, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        if spec.cast_errors == "fail" or isinstance(error, pa.ArrowNotImplementedError):
            raise TerminalError(
                f"cannot cast column {name} ({column.type}) to {to}: {error}",
                code="cast_failed",
            ) from None
    cast = pa.chunked_array([_cast_or_null(chunk, to) for chunk in column.chunks], type=to)
    stats["castToNull"] += cast.null_count - column.null_count
    return cast


def _cast_or_null(array: pa.Array, to: pa.DataType) -> pa.Array:
    """``array`` cast, its values that do not cast made null: halves that cast are kept whole,
    so the cost grows with the number of bad values, not of all values."""
    try:
        return pc.cast(array, to)
    except pa.ArrowInvalid:
        pass
    if len(array) <= _CAST_ONE_BY_ONE:
        return pa.array([_cast_one(value, to) for value in array], type=to)
    middle = len(array) // 2
    return pa.concat_arrays(
        [_cast_or_null(array.slice(0, middle), to), _cast_or_null(array.slice(middle), to)]
    )


def _cast_one(value: pa.Scalar, to: pa.DataType) -> pa.Scalar | None:
    try:
        return value.cast(to)
    except pa.ArrowInvalid:
        return None


@ray.remote
def _clean_piece(
    spec: Clean, uri: str, version: int, fragment: int, output: str, schema: pa.Schema
) -> tuple[list[Any], Counter[str]]:
    stats: Counter[str] = Counter()
    table = apply(spec, runtime.read_fragment(uri, version, fragment), stats)
    return runtime.write(table, output, schema), stats


@ray.remote
def _clean_and_split(spec: Clean, uri: str, version: int, fragment: int, parts: int) -> Any:
    stats: Counter[str] = Counter()
    table = apply(spec, runtime.read_fragment(uri, version, fragment), stats)
    return runtime.returns([stats, *shuffle.split(table, spec.dedupe, parts)])


@ray.remote
def _dedupe_part(
    keys: list[str], output: str, schema: pa.Schema, *pieces: pa.Table
) -> tuple[list[Any], Counter[str]]:
    table = pa.concat_tables(pieces) if pieces else schema.empty_table()
    unique = shuffle.first_of_each_key(table, keys)
    removed = Counter(duplicates=table.num_rows - unique.num_rows)
    return runtime.write(unique, output, schema), removed


@ray.remote
def _clean_and_keep(
    spec: Clean,
    uri: str,
    version: int,
    fragment: int,
    kept: bytes,
    output: str,
    schema: pa.Schema,
) -> tuple[list[Any], Counter[str]]:
    stats: Counter[str] = Counter()
    table = apply(spec, runtime.read_fragment(uri, version, fragment), stats)
    # One bit per cleaned row, in Arrow's order (least significant first): true to keep.
    mask = pa.BooleanArray.from_buffers(pa.bool_(), table.num_rows, [None, pa.py_buffer(kept)])
    stats["duplicates"] += table.num_rows - mask.true_count
    return runtime.write(table.filter(mask), output, schema), stats


def _key_steps(spec: Clean, schema: pa.Schema) -> tuple[Clean, list[str]]:
    """The steps that decide a row's key and whether it is kept, and the source columns they
    read: the rest need not be read to find the first row of each key."""
    needed = list(dict.fromkeys([*spec.dedupe, *spec.drop_nulls]))
    renamed_from = {new: old for old, new in spec.rename.items()}
    read = [renamed_from.get(name, name) for name in needed]
    steps = msgspec.structs.replace(
        spec,
        rename={old: new for old, new in spec.rename.items() if old in read},
        select=needed,
        trim=[name for name in _trimmed(spec, _renamed(spec, schema)) if name in needed],
        cast={name: to for name, to in spec.cast.items() if name in needed},
        fill_nulls={name: v for name, v in spec.fill_nulls.items() if name in needed},
    )
    return steps, [name for name in read if name in schema.names]


def _renamed(spec: Clean, schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_name(spec.rename.get(f.name, f.name)) for f in schema])


def _dedupe_here(
    ctx: JobContext, spec: Clean, source: Any, fragments: list[int], uri: str, schema: pa.Schema
) -> list[tuple[list[Any], Counter[str]]]:
    """Dedupe with the keys brought here: the key columns alone are read and cleaned in this
    process, the first row of each key found, and each task cleans its piece and writes just
    those rows. Nothing but a bit per row crosses Ray's object store."""
    steps, columns = _key_steps(spec, source.schema)
    keys = [
        apply(steps, source.get_fragment(f).to_table(columns=columns), Counter()) for f in fragments
    ]
    firsts = shuffle.first_rows(pa.concat_tables(keys).select(spec.dedupe))
    # The rows kept, a bit each, by the piece they are in: an eighth of a byte per row to
    # send a task, where their places took eight bytes (40 MiB through the object store
    # for 5 million rows).
    bounds = np.cumsum([0, *(k.num_rows for k in keys)])
    keep = np.zeros(bounds[-1], dtype=bool)
    keep[firsts] = True
    kept = [
        np.packbits(keep[bounds[i] : bounds[i + 1]], bitorder="little").tobytes()
        for i in range(len(fragments))
    ]
    return runtime.gather(
        ctx,
        [
            _clean_and_keep.remote(spec, source.uri, source.version, f, bits, uri, schema)
            for f, bits in zip(fragments, kept, strict=True)
        ],
    )


@template(
    "dataset.clean",
    group="dataset",
    version="1",
    summary="Rename, select, trim, cast, fill or drop nulls and dedupe a dataset, in parallel.",
)
def clean(ctx: JobContext, spec: Clean) -> dict[str, Any]:
    runtime.ensure_started()
    source = open_source(ctx, spec.source)
    # The steps on no rows give the output's schema, and check the spec before any task runs.
    schema = apply(spec, source.schema.empty_table(), Counter()).schema
    require_columns(schema, spec.dedupe, "dedupe")
    uri = output_uri(ctx, spec.output)
    fragments = runtime.fragment_ids(source)
    if spec.dedupe and source.count_rows() <= runtime.LOCAL_KEYS:
        written = _dedupe_here(ctx, spec, source, fragments, uri, schema)
    elif spec.dedupe:
        # Split every piece by key, then dedupe each part where all rows of a key meet.
        parts = runtime.shuffle_parts(len(fragments))
        split = runtime.fan_out(
            _clean_and_split,
            [(spec, source.uri, source.version, fragment, parts) for fragment in fragments],
            returns=parts + 1,
        )
        stats_refs = [refs[0] for refs in split]
        written = runtime.gather(
            ctx,
            [
                _dedupe_part.remote(spec.dedupe, uri, schema, *[refs[1 + p] for refs in split])
                for p in range(parts)
            ],
        )
        written += [([], stats) for stats in runtime.gather(ctx, stats_refs)]
    else:
        written = runtime.gather(
            ctx,
            [
                _clean_piece.remote(spec, source.uri, source.version, fragment, uri, schema)
                for fragment in fragments
            ],
        )
    dataset = runtime.commit(
        uri, schema, [f for written_by_task, _ in written for f in written_by_task]
    )
    stats: Counter[str] = sum((stats for _, stats in written), Counter())
    ctx.log.info(
        "%s version %d: %d rows in, %d out",
        uri,
        dataset.version,
        source.count_rows(),
        dataset.count_rows(),
    )
    return result(
        ctx,
        dataset,
        [source],
        removed={
            "duplicates": stats["duplicates"],
            "nulls": stats["droppedForNulls"],
        },
        castToNull=stats["castToNull"],
    )
