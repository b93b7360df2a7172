"""``dataset.ingest`` from a database: a table or a query of a named connection, read with
ADBC's PostgreSQL driver as Arrow record batches and written to the dataset as they come,
incrementally past a cursor column's high-water mark.

The connection's credentials come from the control plane, for this running job only
(``POST /jobs/{id}/connections/{name}``); they are not logged, nor kept, and an error that
would quote them says ``(password)`` instead.

A cursor column must be an integer, a date or a timestamp: values that Arrow and PostgreSQL
order the same way, and that the next run's query can hold as a literal, which keeps the
read on PostgreSQL's streaming path. Rows committed late with a cursor value at or below the
high-water mark (a sequence or a clock read before a slower transaction committed) are not
read by later runs: give the cursor some slack, or re-read a window with a query.
"""

from __future__ import annotations

import datetime as dt
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


def statement(read: Read, after: Any) -> str:
    """The SQL to run: only the rows past ``after`` when there is a cursor."""
    source = read.query if read.query is not None else f"SELECT * FROM {quoted(read.table or '')}"
    if read.cursor is None:
        return source
    cursor = quoted(read.cursor)
    # The query on lines of its own: a trailing comment in it ends at its last line.
    wrapped = f"SELECT * FROM (\n{source}\n) AS source"
    if after is None:
        return f"{wrapped} ORDER BY {cursor}"
    return f"{wrapped} WHERE {cursor} > {literal(after)} ORDER BY {cursor}"


def literal(value: Any) -> str:
    """A high-water mark as SQL: a number, or a date or timestamp as a typed literal."""
    if isinstance(value, bool) or not isinstance(value, (int, dt.date)):
        raise TerminalError(
            f"a cursor must be an integer, date or timestamp column, not {type(value).__name__}",
            code="invalid_input",
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        kind = "timestamptz" if value.tzinfo is not None else "timestamp"
        return f"'{value.isoformat()}'::{kind}"
    return f"'{value.isoformat()}'::date"


def _check_cursor(schema: pa.Schema, cursor: str) -> None:
    if cursor not in schema.names:
        raise TerminalError(
            f"the cursor {cursor!r} is not a column of the rows read ({', '.join(schema.names)})",
            code="unknown_column",
        )
    kind = schema.field(cursor).type
    if not (pa.types.is_integer(kind) or pa.types.is_date(kind) or pa.types.is_timestamp(kind)):
        raise TerminalError(
            f"the cursor {cursor!r} is {kind}: it must be an integer, date or timestamp column",
            code="invalid_input",
        )


def read_into(
    ctx: JobContext, found: Credentials, read: Read, uri: str, *, append: bool
) -> tuple[lance.LanceDataset | None, int, Any]:
    """Run the read and write its batches as one new version of ``uri``; the version (None
    when there was nothing new to add), the rows added, and the high-water mark read from."""
    import adbc_driver_postgresql.dbapi as postgresql

    after = high_water(uri, read.cursor) if read.cursor is not None and append else None
    sql = statement(read, after)
    try:
        db = postgresql.connect(_conninfo(found))
    except postgresql.Error as error:
        raise RetryableError(
            f"cannot connect to {found.host}:{found.port}/{found.database}: {_said(error, found)}",
            code="connection_failed",
        ) from None
    with db:
        cursor = db.cursor()
        cursor.adbc_statement.set_options(
            **{"adbc.postgresql.batch_size_hint_bytes": str(16 << 20)}
        )
        try:
            cursor.execute(sql)
            batches = cursor.fetch_record_batch()
        except postgresql.Error as error:
            raise TerminalError(
                f"the query failed: {_said(error, found)}", code="query_failed"
            ) from None
        schema = _plain(batches.schema)
        if read.cursor is not None:
            _check_cursor(schema, read.cursor)
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


def _conninfo(found: Credentials) -> str:
    """libpq's keyword form, each value quoted: a URI would be quoted whole in a parse error,
    password and all. An empty password is given as such, so that neither PGPASSWORD nor a
    .pgpass file of the worker's supplies one."""

    def value(text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    parts = {
        "host": found.host,
        "port": str(found.port),
        "dbname": found.database,
        "user": found.username,
        "password": found.password or "",
        "passfile": "/dev/null",
        "sslmode": found.sslmode,
    }
    return " ".join(f"{key}={value(text)}" for key, text in parts.items())


def _said(error: BaseException, found: Credentials) -> str:
    """The driver's message, without the password, should it quote it."""
    text = str(error).split("\n")[0] or type(error).__name__
    return text.replace(found.password, "(password)") if found.password else text
