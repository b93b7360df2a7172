"""Splitting rows by key across tasks, so that equal keys meet in the same task.

Arrow has no row hash, so keys are hashed here with numpy, column by column, vectorised. The
hash only has to be the same in every process (Python's own ``hash`` of a string is not) and
spread keys evenly; it is not cryptographic.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from worker_sdk.errors import TerminalError

# Keys spanning up to this many values per row are counted per value (see dense_offsets):
# a count table of at most twice the keys' own size.
_DENSE_SPAN = 2

# Odd multipliers for the bytes of strings, by position (mod 64) in the string.
_WEIGHTS = np.random.default_rng(0x5EED).integers(1, 2**63, 64, dtype=np.uint64) | np.uint64(1)


def split(table: pa.Table, keys: list[str], parts: int) -> list[pa.Table]:
    """``table``'s rows in ``parts`` tables by the hash of ``keys``; order kept within each."""
    if parts == 1:
        return [table]
    hashed = np.zeros(table.num_rows, dtype=np.uint64)
    for key in keys:
        hashed = _mix(hashed * np.uint64(0x100000001B3) ^ _column_hash(table.column(key)))
    part = hashed % np.uint64(parts)
    order = np.argsort(part, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(part, minlength=parts))])
    shuffled = table.take(pa.array(order))
    return [shuffled.slice(bounds[i], bounds[i + 1] - bounds[i]) for i in range(parts)]


def first_rows(keys: pa.Table, *, use_threads: bool = True) -> np.ndarray:
    """The places of the first row of each distinct key of ``keys`` (a table of the key
    columns), in order. ``use_threads=False`` in a Ray task, which has one core to itself."""
    if keys.num_columns == 1:
        column = keys.column(0)
        kind = column.type
        if column.null_count == 0 and (pa.types.is_integer(kind) or pa.types.is_temporal(kind)):
            values = column.to_numpy()
            dense = dense_offsets(values)
            if dense is not None:
                return _first_of_dense(dense[0])
            # A stable sort finds each value's first place; keys often come nearly sorted.
            _, first = np.unique(values, return_index=True)
            return np.sort(first)
    rows = pa.array(np.arange(keys.num_rows, dtype=np.int64))
    firsts = (
        keys.append_column("__row", rows)
        .group_by(keys.column_names, use_threads=use_threads)
        .aggregate([("__row", "min")])
    )
    return np.sort(firsts.column("__row_min").to_numpy())


def dense_offsets(values: np.ndarray) -> tuple[np.ndarray, int] | None:
    """Integer (or date and time) keys as offsets from the smallest, when they span few
    enough values (ids numbered from a sequence, days) that a count per value is cheaper
    than a sort: one pass, where a sort of 5 million keys is most of a step. None if not."""
    if len(values) == 0:
        return None
    if values.dtype.kind == "M":
        values = values.view(np.int64)
    elif values.dtype.kind not in "iu" or values.dtype == np.uint64:
        # (uint64 past int64's range would wrap below.)
        return None
    low, high = int(values.min()), int(values.max())
    if high - low > _DENSE_SPAN * len(values):
        return None
    return values.astype(np.int64) - low, low


def _first_of_dense(offsets: np.ndarray) -> np.ndarray:
    """The places of each offset's first row, in order. Only rows whose value is counted
    more than once (a few, usually) are sorted."""
    counts = np.bincount(offsets)
    repeated = np.flatnonzero(counts[offsets] > 1)
    keep = np.ones(len(offsets), dtype=bool)
    keep[repeated] = False
    _, first = np.unique(offsets[repeated], return_index=True)  # a stable sort: the first
    keep[repeated[first]] = True
    return np.flatnonzero(keep)


def first_of_each_key(table: pa.Table, keys: list[str]) -> pa.Table:
    """The first row of each distinct key, in the order the rows came (in a Ray task)."""
    return table.take(pa.array(first_rows(table.select(keys), use_threads=False)))


def _mix(h: np.ndarray) -> np.ndarray:
    # splitmix64's finaliser: every input bit moves every output bit.
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    mixed: np.ndarray = h ^ (h >> np.uint64(31))
    return mixed


def _column_hash(column: pa.ChunkedArray) -> np.ndarray:
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    kind = array.type
    if pa.types.is_dictionary(kind):
        array, kind = array.dictionary_decode(), kind.value_type
    if pa.types.is_decimal(kind) or pa.types.is_string_view(kind):
        array, kind = array.cast(pa.string()), pa.string()
    if pa.types.is_string(kind) or pa.types.is_binary(kind):
        values = _bytes_hash(array, np.int32)
    elif pa.types.is_large_string(kind) or pa.types.is_large_binary(kind):
        values = _bytes_hash(array, np.int64)
    elif pa.types.is_floating(kind):
        values = pc.fill_null(array.cast(pa.float64()), 0).to_numpy().view(np.uint64)
    elif pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        values = pc.fill_null(array.cast(pa.int64()), 0).to_numpy().view(np.uint64)
    elif pa.types.is_temporal(kind):
        width = pa.int32() if kind.bit_width == 32 else pa.int64()
        values = pc.fill_null(array.view(width).cast(pa.int64()), 0).to_numpy().view(np.uint64)
    else:
        raise TerminalError(f"cannot use a {kind} column as a key", code="invalid_input")
    nulls = array.is_null().to_numpy(zero_copy_only=False)
    return np.where(nulls, np.uint64(0x9E3779B97F4A7C15), values)


def _bytes_hash(array: pa.Array, offset_type: type) -> np.ndarray:
    count = len(array)
    raw: np.ndarray = np.frombuffer(array.buffers()[1], dtype=offset_type)
    offsets = raw[array.offset : array.offset + count + 1].astype(np.int64)
    lengths = np.diff(offsets)
    start, end = int(offsets[0]), int(offsets[-1])
    if end == start:
        return lengths.astype(np.uint64)
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[start:end].astype(np.uint64)
    position = np.arange(end - start) - np.repeat(offsets[:-1] - start, lengths)
    # One zero past the end, so that empty strings at the end have an index to point at.
    weighted = np.append(data * _WEIGHTS[position % 64], np.uint64(0))
    sums = np.add.reduceat(weighted, offsets[:-1] - start)
    sums[lengths == 0] = 0
    return sums ^ lengths.astype(np.uint64)
