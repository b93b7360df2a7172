"""``dataset.ingest``: CSV, JSON lines or Parquet files, or a table or query of a database
connection, into a Lance dataset (bronze)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any, Literal

import lance
import msgspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import ray

from worker_sdk.context import JobContext
from worker_sdk.errors import TerminalError
from worker_sdk.handlers import in_daemon_thread
from worker_sdk.templates import template
from worker_sdk.templates.dataset import databases, runtime, sources
from worker_sdk.templates.dataset.profile import json_value
from worker_sdk.templates.dataset.refs import (
    Column,
    lineage,
    output_uri,
    parse_type,
    reference,
    result,
)


class Ingest(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    # Paths (with glob patterns), object store URIs (s3://...) or http(s) URLs.
    source: str | list[str] | None = None
    # Or a database connection of the application, by name, and a table or a query of it.
    connection: str | None = None
    table: str | None = None
    query: str | None = None
    # Incremental: only rows whose cursor column is past the largest the dataset holds
    # (mode append), read in its order.
    cursor: str | None = None
    # By default, from the files' extensions.
    format: sources.Format | None = None
    # Types for some or all columns; the others are inferred from the start of the first file.
    schema: list[Column] = []
    # A name under the lake or a URI; by default one dataset per pipeline run and stage.
    output: str | None = None
    mode: Literal["overwrite", "append"] = "overwrite"
    # CSV only.
    delimiter: str = ","
    null_values: list[str] | None = None
    newlines_in_values: bool = False


@dataclass(frozen=True)
class _Parser:
    """How every piece of the sources is parsed, decided once by the driver."""

    format: sources.Format
    schema: pa.Schema
    delimiter: str
    null_values: tuple[str, ...] | None
    newlines_in_values: bool

    def parse(self, piece: sources.Piece) -> pa.Table:
        where = piece.location
        if piece.end:
            where += f" (bytes {piece.start} to {piece.end}; row numbers count from there)"
        try:
            if self.format == "parquet":
                with sources.open_input(piece.location) as file:
                    parquet = pq.ParquetFile(file)
                    table = (
                        parquet.read_row_groups(list(piece.row_groups))
                        if piece.row_groups
                        else parquet.read()
                    )
                return _conform(table, self.schema)
            data = pa.BufferReader(sources.read_range(piece))
            if self.format == "jsonl":
                options = pajson.ParseOptions(
                    explicit_schema=self.schema, unexpected_field_behavior="ignore"
                )
                return _conform(pajson.read_json(data, parse_options=options), self.schema)
            return pacsv.read_csv(
                data,
                read_options=pacsv.ReadOptions(column_names=self.schema.names),
                parse_options=self._csv_parse_options(),
                convert_options=self._csv_convert_options(self.schema),
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
            code = "schema_mismatch" if "conversion" in str(error).lower() else "invalid_data"
            raise TerminalError(f"{where}: {error}", code=code) from None

    def _csv_parse_options(self) -> pacsv.ParseOptions:
        return pacsv.ParseOptions(
            delimiter=self.delimiter, newlines_in_values=self.newlines_in_values
        )

    def _csv_convert_options(self, schema: pa.Schema | None) -> pacsv.ConvertOptions:
        options: dict[str, Any] = {"strings_can_be_null": True}
        if schema is not None:
            options["column_types"] = schema
        if self.null_values is not None:
            options["null_values"] = list(self.null_values)
        return pacsv.ConvertOptions(**options)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table``'s columns in ``schema``'s order and types (a missing column is all nulls)."""
    columns = []
    for field in schema:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _infer(location: str, spec: Ingest, format: sources.Format) -> pa.Schema:
    """The columns of the first file: its own types, inferred, overridden by those given."""
    given = {column.name: parse_type(column.type) for column in spec.schema}
    try:
        if format == "parquet":
            with sources.open_input(location) as file:
                found = pq.ParquetFile(file).schema_arrow
        elif format == "jsonl":
            found = pajson.read_json(pa.BufferReader(sources.sample(location))).schema
        else:
            guesser = _Parser(format, pa.schema([]), spec.delimiter, None, True)
            found = pacsv.read_csv(
                pa.BufferReader(sources.sample(location)),
                parse_options=guesser._csv_parse_options(),
                convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
            ).schema
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise TerminalError(f"{location}: {error}", code="invalid_data") from None
    unknown = [name for name in given if name not in found.names]
    if unknown and format == "csv":
        raise TerminalError(
            f"the schema names columns {location} does not have: {', '.join(unknown)} "
            f"(its columns are {', '.join(found.names)})",
            code="schema_mismatch",
        )
    fields = [
        pa.field(f.name, given.get(f.name, pa.string() if pa.types.is_null(f.type) else f.type))
        for f in found
    ]
    fields += [pa.field(name, given[name]) for name in unknown]
    return pa.schema(fields)


@ray.remote
def _ingest_piece(parser: _Parser, piece: sources.Piece, uri: str, append: bool) -> list[Any]:
    return runtime.write(parser.parse(piece), uri, parser.schema, append=append)


@template(
    "dataset.ingest",
    group="dataset",
    version="1",
    summary="Read CSV, JSON lines or Parquet files in parallel, or a database table or query, "
    "into a Lance dataset.",
)
async def ingest(ctx: JobContext, spec: Ingest) -> dict[str, Any]:
    if spec.connection is not None:
        read = _database_read(spec)
        credentials = await databases.credentials(ctx, spec.connection)
        output: dict[str, Any] = await in_daemon_thread(
            ctx, lambda c, s: _from_database(c, s, credentials, read), spec
        )
        return output
    if spec.source is None:
        raise TerminalError("give a source, or a connection", code="invalid_input")
    files: dict[str, Any] = await in_daemon_thread(ctx, _from_files, spec)
    return files


def _database_read(spec: Ingest) -> databases.Read:
    if spec.source is not None:
        raise TerminalError("give a source or a connection, not both", code="invalid_input")
    if (spec.table is None) == (spec.query is None):
        raise TerminalError("with a connection, give a table or a query", code="invalid_input")
    if spec.cursor is not None and spec.mode != "append":
        raise TerminalError(
            "a cursor reads only the rows past the dataset's last one: give mode append",
            code="invalid_input",
        )
    return databases.Read(spec.table, spec.query, spec.cursor)


def _from_database(
    ctx: JobContext, spec: Ingest, credentials: databases.Credentials, read: databases.Read
) -> dict[str, Any]:
    uri = output_uri(ctx, spec.output)
    written, rows, after = databases.read_into(
        ctx, credentials, read, uri, append=spec.mode == "append"
    )
    what = read.table or "the query"
    source = f"{spec.connection}:{what}"
    if written is None:
        ctx.log.info(
            "no rows of %s past %s = %r: %s stays as it was", what, read.cursor, after, uri
        )
        current = lance.dataset(uri)
        return {
            "dataset": reference(current),
            "rowsAdded": 0,
            "highWater": json_value(after),
            "lineage": lineage([source], []),
        }
    ctx.log.info("%d rows of %s into %s version %d", rows, what, uri, written.version)
    return result(
        ctx, written, [source], layer="bronze", rowsAdded=rows, highWater=json_value(after)
    )


def _from_files(ctx: JobContext, spec: Ingest) -> dict[str, Any]:
    runtime.ensure_started()
    assert spec.source is not None
    named = [spec.source] if isinstance(spec.source, str) else spec.source
    if not named:
        raise TerminalError("source names no file", code="invalid_input")
    downloads = tempfile.mkdtemp(prefix="pipelogiq-ingest-")
    try:
        files = sources.expand(named, downloads)
        formats = {sources.format_of(file, spec.format) for file in files}
        if len(formats) > 1:
            raise TerminalError(
                f"the sources mix formats ({', '.join(sorted(formats))}); ingest one at a time",
                code="invalid_input",
            )
        [format] = formats
        parser = _Parser(
            format,
            _infer(files[0], spec, format),
            spec.delimiter,
            tuple(spec.null_values) if spec.null_values is not None else None,
            spec.newlines_in_values,
        )
        chunk = sources.chunk_bytes(files, runtime.parallelism())
        splittable = not spec.newlines_in_values
        pieces = [
            piece
            for file in files
            for piece in sources.pieces(file, format, chunk=chunk, splittable=splittable)
        ]
        uri = output_uri(ctx, spec.output)
        append = spec.mode == "append"
        if append:
            runtime.check_appendable(uri, parser.schema)
        ctx.log.info("reading %d files in %d pieces into %s", len(files), len(pieces), uri)
        written = runtime.gather(
            ctx, [_ingest_piece.remote(parser, p, uri, append) for p in pieces]
        )
        dataset = runtime.commit(
            uri, parser.schema, [f for fragments in written for f in fragments], append=append
        )
    finally:
        sources.remove_downloads(downloads)
    ctx.log.info("%s is at version %d with %d rows", uri, dataset.version, dataset.count_rows())
    return result(ctx, dataset, named, layer="bronze")
