"""``dataset.ingest`` from a database: a table or a query of a named connection, read with
ADBC's PostgreSQL driver as Arrow record batches and written to the dataset as they come,
incrementally past a cursor column's high-water mark.

The connection's credentials come from the control plane, for this running job only
(``POST /jobs/{id}/connections/{name}``); they are not logged, nor kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import lance
import msgspec
import pyarrow as pa

from worker_sdk.context import JobContext
from worker_sdk.errors import RetryableError, TerminalError
from worker_sdk.templates.dataset import runtime

# Rows per Lance data file, as the other templates write them.
MAX_ROWS_PER_FILE = runtime.MAX_ROWS_PER_FILE


class Credentials(msgspec.Struct, rename="camel"):
    kind: str
    host: str
    port: int
    database: str
    username: str
    password: str | None
    sslmode: str


@dataclass(frozen=True)
class Read:
    """What to read: a table (``schema.table`` or ``table``) or a query, and the cursor."""

    table: str | None
    query: str | None
    cursor: str | None


async def credentials(ctx: JobContext, name: str) -> Credentials:
    if ctx.control_plane is None:
        raise TerminalError(
            "reading a connection needs the control plane: run the stage on a worker",
            code="invalid_input",
        )
    path = f"/jobs/{ctx.job_id}/connections/{quote(name, safe='')}"
    return await ctx.control_plane.call("POST", path, Credentials)


def quoted(name: str) -> str:
    """An identifier, or ``schema.table``, quoted for PostgreSQL."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def high_water(uri: str, cursor: str) -> Any:
    """The largest cursor value the dataset holds, None if it is empty or not there."""
    try:
        existing = lance.dataset(uri)
    except (ValueError, OSError):
        return None
    if cursor not in existing.schema.names:
        raise TerminalError(
            f"the cursor column {cursor!r} is not a column of {uri}", code="unknown_column"
        )
    [row] = (
        existing.sql(f"SELECT max({quoted(cursor)}) AS top FROM dataset")
        .build()
        .to_batch_records()[0]
        .to_pylist()
    )
    return row["top"]


def statement(read: Read, after: Any) -> tuple[str, tuple[Any, ...]]:
    """The SQL to run, and its parameters: only rows past ``after`` when there is a cursor."""
    source = read.query if read.query is not None else f"SELECT * FROM {quoted(read.table or '')}"
    if read.cursor is None:
        return source, ()
    cursor = quoted(read.cursor)
    if after is None:
        return f"SELECT * FROM ({source}) AS source ORDER BY {cursor}", ()
    return f"SELECT * FROM ({source}) AS source WHERE {cursor} > $1 ORDER BY {cursor}", (after,)


def read_into(
    ctx: JobContext, found: Credentials, read: Read, uri: str, *, append: bool
) -> tuple[lance.LanceDataset | None, int, Any]:
    """Run the read and write its batches as one new version of ``uri``; the version (None
    when there was nothing new to add), the rows added, and the high-water mark read from."""
    import adbc_driver_postgresql.dbapi as postgresql

    after = high_water(uri, read.cursor) if read.cursor is not None and append else None
    sql, parameters = statement(read, after)
    try:
        db = postgresql.connect(_dsn(found))
    except postgresql.Error as error:
        raise RetryableError(
            f"cannot connect to {found.host}:{found.port}/{found.database}: {_said(error)}",
            code="connection_failed",
        ) from None
    with db:
        cursor = db.cursor()
        cursor.adbc_statement.set_options(
            **{"adbc.postgresql.batch_size_hint_bytes": str(16 << 20)}
        )
        try:
            cursor.execute(sql, parameters or None)
            batches = cursor.fetch_record_batch()
        except postgresql.Error as error:
            raise TerminalError(f"the query failed: {_said(error)}", code="query_failed") from None
        schema = _plain(batches.schema)
        if append:
            runtime.check_appendable(uri, schema)
        counted = _Counting(ctx, batches, schema)
        reader = pa.RecordBatchReader.from_batches(schema, counted)
        existing = _exists(uri)
        if counted.peek_empty() and existing:
            return None, 0, after
        written = lance.write_dataset(
            reader,
            uri,
            mode="append" if append and existing else "overwrite",
            max_rows_per_file=MAX_ROWS_PER_FILE,
        )
    return written, counted.rows, after


class _Counting:
    """The batches, without PostgreSQL's field metadata, counted, stopping on cancel."""

    def __init__(self, ctx: JobContext, reader: pa.RecordBatchReader, schema: pa.Schema) -> None:
        self._ctx, self._schema, self.rows = ctx, schema, 0
        self._batches = iter(reader)
        self._first: pa.RecordBatch | None = next(self._batches, None)

    def peek_empty(self) -> bool:
        return self._first is None

    def __iter__(self) -> Any:
        if self._first is not None:
            yield self._shaped(self._first)
        for batch in self._batches:
            if self._ctx.cancelled.is_set():
                raise TerminalError("cancelled", code="cancelled")
            yield self._shaped(batch)

    def _shaped(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.rows += batch.num_rows
        return pa.RecordBatch.from_arrays(batch.columns, schema=self._schema)


def _plain(schema: pa.Schema) -> pa.Schema:
    # ADBC tags each field with its PostgreSQL type; appends compare schemas, metadata too.
    return pa.schema([pa.field(f.name, f.type, f.nullable) for f in schema])


def _exists(uri: str) -> bool:
    try:
        lance.dataset(uri)
    except (ValueError, OSError):
        return False
    return True


def _dsn(found: Credentials) -> str:
    user = quote(found.username, safe="")
    password = f":{quote(found.password, safe='')}" if found.password else ""
    database = quote(found.database, safe="")
    return (
        f"postgresql://{user}{password}@{found.host}:{found.port}/{database}"
        f"?sslmode={quote(found.sslmode, safe='')}"
    )


def _said(error: BaseException) -> str:
    # The driver's message, never the DSN (which holds the password).
    text = str(error).split("\n")[0]
    return text.replace(str(getattr(error, "dsn", "")), "") if text else type(error).__name__
