"""Ray for the dataset templates: started once per worker process, waited on cancellably.

Locally (the default) Ray runs on this machine's cores. With ``RAY_ADDRESS`` set, the worker
joins that cluster and the templates' tasks run across it; every node then needs pipelogiq
installed (``pip install 'pipelogiq[data]'``, or a Ray runtime environment that does it) and
must see the lake (``PIPELOGIQ_LAKE``) and the sources at the same URIs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import lance
import pyarrow as pa
import ray
from lance.fragment import FragmentMetadata, write_fragments

from worker_sdk.context import JobContext
from worker_sdk.errors import TerminalError

# Local Ray's CPUs; by default all of this machine's.
CPUS_ENV = "PIPELOGIQ_RAY_CPUS"

# Rows per Lance data file written by one task.
MAX_ROWS_PER_FILE = 1 << 20

_start_lock = threading.Lock()


def ensure_started() -> None:
    """Start local Ray, or join the cluster at ``RAY_ADDRESS``, once per process."""
    with _start_lock:
        if ray.is_initialized():
            return
        # Ray's local processes die with the thread that started them (PR_SET_PDEATHSIG is
        # per thread), and handlers run on pool threads that come and go: start Ray on a
        # thread that lives as long as the process.
        started = threading.Event()
        failure: list[BaseException] = []

        def start() -> None:
            try:
                _init()
            except BaseException as error:
                failure.append(error)
            started.set()
            if not failure:
                threading.Event().wait()

        threading.Thread(target=start, name="ray-owner", daemon=True).start()
        started.wait()
        if failure:
            raise failure[0]
        _warm_up()


@ray.remote
def _import_templates() -> None:
    import worker_sdk.templates.dataset  # noqa: F401

    # Held a moment, so that each of these tasks lands in a process of its own.
    time.sleep(0.2)


def _warm_up() -> None:
    """Have each of Ray's worker processes import pyarrow, Lance and the templates now,
    rather than in the first job's tasks (about a second of each process's life)."""
    ray.get([_import_templates.remote() for _ in range(_cpus())])


def _init() -> None:
    if os.environ.get("RAY_ADDRESS"):
        ray.init(logging_level=logging.WARNING, log_to_driver=False)
        return
    cpus = int(os.environ.get(CPUS_ENV, "0")) or None
    ray.init(
        num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False
    )


def parallelism() -> int:
    """How many tasks can run at once: the number of tasks worth splitting work into."""
    ensure_started()
    return _cpus()


# A dataset of up to this many rows has its keys brought together in the job's own process
# (dedupe, unique): the keys alone are small, and on one machine that beats shuffling whole
# rows through Ray's object store. Past it, rows are shuffled by key across tasks.
LOCAL_KEYS = 50_000_000


def shuffle_parts(fragments: int) -> int:
    """Into how many parts rows are split by key: enough for every CPU twice over, never more
    than the fragments they come from."""
    return max(1, min(fragments, 2 * parallelism()))


def _cpus() -> int:
    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    return max(1, int(resources.get("CPU", 1)))


def fan_out(task: Any, calls: Sequence[tuple[Any, ...]], *, returns: int) -> list[list[Any]]:
    """Start ``task`` once per argument tuple, each call returning ``returns`` values (see
    :func:`returns`): the object refs, by call, then by value."""
    refs = [task.options(num_returns=returns).remote(*args) for args in calls]
    return [list(r) if returns > 1 else [r] for r in refs]


def returns(values: list[Any]) -> Any:
    """What a task started by :func:`fan_out` returns: Ray wants one value bare, not a
    1-tuple."""
    return values[0] if len(values) == 1 else tuple(values)


def gather(ctx: JobContext, refs: Sequence[Any]) -> list[Any]:
    """The results of ``refs`` in order. The first task to fail, or the job's cancellation,
    cancels the tasks still running at once, rather than after every one has ended."""
    pending = list(refs)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=len(pending), timeout=0.25)
            if ready:
                ray.get(ready)  # raises a failed task's error now
            if ctx.cancelled.is_set():
                raise TerminalError("cancelled", code="cancelled")
        return ray.get(list(refs))
    except ray.exceptions.RayTaskError as error:
        # A TerminalError raised in a task arrives wrapped; unwrap it so its code survives.
        cause = error.cause if isinstance(error.cause, Exception) else error
        raise cause from None
    finally:
        # Forced: a task inside pyarrow or Lance does not see a gentler interrupt until it is
        # done. Ray replaces the processes it kills.
        for ref in pending:
            ray.cancel(ref, force=True)


def write(
    table: pa.Table, uri: str, schema: pa.Schema, *, append: bool = False
) -> list[FragmentMetadata]:
    """Write ``table`` as new, uncommitted fragments of the dataset at ``uri``, for a commit
    that appends to it (same schema) or replaces it (any schema)."""
    if table.num_rows == 0:
        return []
    return write_fragments(
        table,
        uri,
        schema=schema,
        mode="append" if append else "overwrite",
        max_rows_per_file=MAX_ROWS_PER_FILE,
    )


def check_appendable(uri: str, schema: pa.Schema) -> None:
    """Refuse, before any task runs, to append rows of another schema to a dataset."""
    _check_schema(_existing(uri), uri, schema)


def _check_schema(existing: lance.LanceDataset | None, uri: str, schema: pa.Schema) -> None:
    if existing is not None and existing.schema != schema:
        raise TerminalError(
            f"cannot append to {uri}: its columns are {_columns(existing.schema)}, the new "
            f"rows' are {_columns(schema)}",
            code="schema_mismatch",
        )


def _columns(schema: pa.Schema) -> str:
    return ", ".join(f"{field.name} {field.type}" for field in schema)


def commit(
    uri: str,
    schema: pa.Schema,
    fragments: Sequence[FragmentMetadata],
    *,
    append: bool = False,
) -> lance.LanceDataset:
    """Make the fragments the tasks wrote one new version: replacing the dataset, or added to
    it. Readers see all of them or none."""
    existing = _existing(uri)
    if append and existing is not None:
        _check_schema(existing, uri, schema)
        appended = lance.LanceOperation.Append(list(fragments))
        return lance.LanceDataset.commit(uri, appended, read_version=existing.version)
    replaced = lance.LanceOperation.Overwrite(schema, list(fragments))
    read_version = existing.version if existing is not None else None
    return lance.LanceDataset.commit(uri, replaced, read_version=read_version)


def _existing(uri: str) -> lance.LanceDataset | None:
    try:
        return lance.dataset(uri)
    except (ValueError, OSError):
        return None


def fragment_ids(dataset: lance.LanceDataset) -> list[int]:
    return [fragment.fragment_id for fragment in dataset.get_fragments()]


def read_fragment(uri: str, version: int, fragment_id: int) -> pa.Table:
    fragment = lance.dataset(uri, version=version).get_fragment(fragment_id)
    if fragment is None:
        raise TerminalError(f"{uri} version {version} has no fragment {fragment_id}")
    return fragment.to_table()
