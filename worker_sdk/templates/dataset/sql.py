"""``dataset.sql``: a SQL model. Runs a query over named input datasets with Daft and writes
the result as a dataset (typically silver → gold).

Daft reads the Lance versions the inputs name (only the columns and row groups the query
needs) and runs the query on all the worker's cores; with ``PIPELOGIQ_SQL_RUNNER=ray`` it runs
it on the Ray the other templates use (a cluster at ``RAY_ADDRESS``). The result streams into
Lance as it is produced, committed once.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Literal

import lance
import msgspec
import pyarrow as pa

from worker_sdk.context import JobContext
from worker_sdk.errors import TerminalError
from worker_sdk.templates import template
from worker_sdk.templates.dataset import runtime, sqlguard
from worker_sdk.templates.dataset.refs import Source, open_source, output_uri, result

RUNNER_ENV = "PIPELOGIQ_SQL_RUNNER"
# A query longer than this is not a model a person maintains.
MAX_QUERY = 100_000
_runner_lock = threading.Lock()
# The runner set in this process (Daft takes one, once).
_chosen: list[str] = []


class Sql(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    query: str
    # Table name → the dependency stage whose dataset it is, or a dataset named directly. By
    # default each dependency that outputs a dataset, by its stage's name.
    inputs: dict[str, str | Source] | None = None
    output: str | None = None
    mode: Literal["overwrite", "append"] = "overwrite"

    def __post_init__(self) -> None:
        if not self.query.strip() or len(self.query) > MAX_QUERY:
            raise msgspec.ValidationError(f"query must be 1 to {MAX_QUERY} characters")


def _runner() -> None:
    """Daft's runner, chosen once per process: its own (native, every core of this machine),
    or Ray's."""
    import daft

    wanted = os.environ.get(RUNNER_ENV, "native").strip().lower()
    if wanted not in ("native", "ray"):
        raise TerminalError(
            f"{RUNNER_ENV} must be native or ray, not {wanted!r}", code="invalid_setup"
        )
    with _runner_lock:
        if _chosen:
            return
        if wanted == "ray":
            runtime.ensure_started()
            daft.set_runner_ray(noop_if_initialized=True)
        else:
            daft.set_runner_native()
        _chosen.append(wanted)


def warm_up() -> None:
    """Load Daft and its Lance reader, and choose the runner: about 0.8 s, once per process,
    which the first model would otherwise pay (its Lance reader imports a catalog client)."""
    _runner()
    import daft_lance._lance  # noqa: F401


def _bound(ctx: JobContext, spec: Sql) -> dict[str, lance.LanceDataset]:
    if spec.inputs is None:
        names = [
            stage
            for stage, output in ctx.dependencies.items()
            if isinstance(output, dict) and isinstance(output.get("dataset"), dict)
        ]
        return {name: open_source(ctx, name, role=f"input {name}") for name in names}
    return {
        name: open_source(ctx, given, role=f"input {name}") for name, given in spec.inputs.items()
    }


@template(
    "dataset.sql",
    group="dataset",
    version="1",
    summary="A SQL model: a query over named input datasets (Daft), written as a dataset.",
)
def sql(ctx: JobContext, spec: Sql) -> dict[str, Any]:
    import daft
    from daft.exceptions import DaftCoreException

    _runner()
    inputs = _bound(ctx, spec)
    if not inputs:
        raise TerminalError(
            "the query has no inputs: depend on a stage that outputs a dataset, or name them "
            "in `inputs`",
            code="unknown_source",
        )
    # What runs is the query as the guard printed it back: its inputs, and pure functions.
    query = sqlguard.checked(spec.query, set(inputs))
    frames = {name: daft.read_lance(d.uri, version=d.version) for name, d in inputs.items()}
    try:
        # Only the inputs are tables: no variable of this process is one either.
        frame = daft.sql(query, register_globals=False, **frames)
        schema = frame.schema().to_pyarrow_schema()
    except Exception as error:
        # Planning a checked query reads nothing (the inputs' schemas are read above): what
        # fails here is the query's fault. Daft's InvalidSQLException is not importable.
        raise TerminalError(
            f"the query does not run: {_first_line(error)}", code="invalid_query"
        ) from None
    uri = output_uri(ctx, spec.output)
    try:
        batches = pa.RecordBatchReader.from_batches(schema, frame.to_arrow_iter())
        written = lance.write_dataset(batches, uri, schema=schema, mode=spec.mode)
    except DaftCoreException as error:
        # A query that plans may still fail on the data: a cast, a division by zero.
        raise TerminalError(
            f"the query failed: {_first_line(error)}", code="query_failed"
        ) from None
    except (OSError, ValueError) as error:
        if "DaftError" in str(error):
            # The query failed as Lance pulled its batches: Daft's error, passed through.
            problem = f"the query failed: {_first_line(error)}"
            raise TerminalError(problem, code="query_failed") from None
        if spec.mode == "append":
            raise TerminalError(
                f"cannot append to {uri}: {_first_line(error)}", code="schema_mismatch"
            ) from None
        raise
    ctx.log.info("%d rows written to %s version %d", written.count_rows(), uri, written.version)
    return result(ctx, written, list(inputs.values()), inputs=sorted(inputs))


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:2000]
