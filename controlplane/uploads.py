"""Uploads: a CSV, JSON lines or Parquet file sent over HTTP becomes a bronze dataset.

The request body (``multipart/form-data``: ``file``, and ``applicationId``, ``name``,
``format``, ``mode``) is parsed as it arrives and the file is written to the lake piece by
piece (``<lake>/uploads/<upload id>/<file name>``), never held whole in memory. Its schema is
read from its first MiB (a Parquet file's from its footer), and a one-stage pipeline runs
``dataset.ingest`` on it on the application's dataset workers, which write the bronze
dataset ``<application>/bronze/<name>`` and register it in the catalog. The API process
writes the file; it never parses more of it than the schema needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import multipart

from controlplane.catalog_computations import require_dataset_worker
from controlplane.engine.catalog.datasets import latest_schema
from controlplane.errors import Conflict, InvalidRequest, TooLarge, UnsupportedMediaType
from controlplane.runs import start_pipeline
from controlplane.schemas import PipelineSubmit, StageSpec
from controlplane.services import Services

# The template that makes an upload a dataset.
INGEST = "dataset.ingest"
Format = Literal["csv", "jsonl", "parquet"]
Mode = Literal["append", "overwrite"]
_EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# A dataset's name: part of its path in the lake (<application>/bronze/<name>.lance).
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
NAME_RULE = "letters, digits and _ . - (up to 100), starting with a letter or digit"
# What a form may hold besides its file: its fields, headers and boundaries.
_FORM_OVERHEAD = 64 * 1024
# How much of a text file the schema is read from.
SNIFF_BYTES = 1 << 20
# The text fields of the form, and how long each may be.
_FIELDS = {"applicationId": 100, "name": 100, "format": 20, "mode": 20}


@dataclass
class Received:
    """What the form held: its fields, and the file as written to the lake."""

    fields: dict[str, str] = field(default_factory=dict)
    file_name: str | None = None
    uri: str | None = None
    size: int = 0
    head: bytearray = field(default_factory=bytearray)


async def upload(
    services: Services,
    chunks: AsyncIterator[bytes],
    content_type: str | None,
    *,
    application: Callable[[str | None], Awaitable[uuid.UUID]],
    known: uuid.UUID | None = None,
) -> Upload:
    """Receive a form and start the ingest of its file. ``application`` turns the form's
    ``applicationId`` (None: not given) into the application it may write to, or refuses;
    it is asked as soon as the field arrives, and again at the end if it never did. ``known``:
    the application the caller can only upload to (a key's), checked before the body."""
    boundary = boundary_of(content_type)
    chosen: list[uuid.UUID] = []
    if known is not None:  # refused before a byte is read
        chosen.append(await application(None))
        await require_dataset_worker(services, chosen[-1], INGEST)

    async def on_field(name: str, value: str) -> None:
        if name == "applicationId":
            named = await application(value)
            if named not in chosen:
                chosen.append(named)
                await require_dataset_worker(services, named, INGEST)

    settings = services.settings
    received = await receive(chunks, boundary, settings.lake, settings.max_upload_bytes, on_field)
    try:
        if not chosen:
            chosen.append(await application(None))
            await require_dataset_worker(services, chosen[-1], INGEST)
        fields = received.fields
        assert received.file_name is not None
        mode = fields.get("mode") or "append"
        if mode not in ("append", "overwrite"):
            raise InvalidRequest("invalid_upload", "mode is append or overwrite")
        return await ingest(
            services,
            chosen[-1],
            received,
            name=fields.get("name") or None,
            fmt=format_of(received.file_name, fields.get("format")),
            mode=mode,  # type: ignore[arg-type]
        )
    except BaseException:
        await discard(received)
        raise


@dataclass(frozen=True)
class Upload:
    application_id: uuid.UUID
    name: str
    # The bronze dataset the ingest writes.
    dataset: str
    uri: str
    format: Format
    bytes: int
    schema: list[dict[str, str]]
    mode: Mode
    pipeline_id: uuid.UUID


def boundary_of(content_type: str | None) -> str:
    kind, options = multipart.parse_options_header(content_type or "")
    if kind != "multipart/form-data" or not options.get("boundary"):
        raise UnsupportedMediaType(
            "unsupported_media_type", "send the file as multipart/form-data, in a field `file`"
        )
    return str(options["boundary"])


async def receive(
    chunks: AsyncIterator[bytes],
    boundary: str,
    lake: str,
    limit: int,
    on_field: Callable[[str, str], Awaitable[None]],
) -> Received:
    """Parse the form as it arrives, writing ``file`` under ``<lake>/uploads/``. ``on_field``
    sees each text field as soon as it is complete (to refuse early). On any failure the
    file written so far is deleted."""
    received = Received()
    writer: _Writer | None = None
    current: multipart.MultipartSegment | None = None
    text = bytearray()
    try:
        with multipart.PushMultipartParser(boundary, max_segment_count=10) as parser:
            read = 0
            async for chunk in chunks:
                read += len(chunk)
                if read > limit + _FORM_OVERHEAD:  # whatever the parser skips counts too
                    raise TooLarge("upload_too_large", f"an upload may hold {limit:,} bytes")
                for event in parser.parse(chunk):
                    if isinstance(event, multipart.MultipartSegment):
                        current, text = event, bytearray()
                        if event.name == "file":
                            if writer is not None:
                                raise InvalidRequest("invalid_upload", "send one file")
                            received.file_name = _file_name(event.filename)
                            writer = await _Writer.open(lake, received.file_name)
                            received.uri = writer.uri
                        elif event.name not in _FIELDS:
                            raise InvalidRequest("invalid_upload", f"unknown field {event.name!r}")
                    elif isinstance(event, (bytes, bytearray)) and current is not None:
                        if current.name == "file" and writer is not None:
                            received.size += len(event)
                            if received.size > limit:
                                raise TooLarge(
                                    "upload_too_large", f"an upload may hold {limit:,} bytes"
                                )
                            if len(received.head) < SNIFF_BYTES:
                                received.head += event[: SNIFF_BYTES - len(received.head)]
                            await writer.write(bytes(event))
                        else:
                            text += event
                            if len(text) > _FIELDS[current.name]:
                                raise InvalidRequest(
                                    "invalid_upload", f"{current.name} is too long"
                                )
                    elif event is None and current is not None:
                        if current.name != "file":
                            value = _text(text, current.name)
                            received.fields[current.name] = value
                            await on_field(current.name, value)
                        current = None
            parser.parse(b"")  # the end: an unfinished form is an error
        if writer is None:
            raise InvalidRequest("invalid_upload", "the form has no field `file`")
        await writer.close()
        return received
    except multipart.MultipartError as error:
        await _discard(writer)
        raise InvalidRequest(
            "invalid_upload", f"the form is not valid multipart: {error}"
        ) from None
    except BaseException:
        await _discard(writer)
        raise


async def _discard(writer: _Writer | None) -> None:
    if writer is not None:
        await writer.discard()


async def discard(received: Received) -> None:
    """Delete a landed file that will not be ingested."""
    if received.uri is None:
        return
    import pyarrow.fs as pafs

    location = received.uri if "://" in received.uri else f"file://{received.uri}"
    with contextlib.suppress(Exception):
        filesystem, path = pafs.FileSystem.from_uri(location)
        await asyncio.to_thread(filesystem.delete_dir, str(PurePosixPath(path).parent))


def _text(value: bytearray, name: str) -> str:
    try:
        text = value.decode()
    except UnicodeDecodeError:
        raise InvalidRequest("invalid_upload", f"{name} is not UTF-8 text") from None
    if "\x00" in text:
        raise InvalidRequest("nul_character", f"{name}: text may not hold NUL")
    return text.strip()


def _file_name(given: str | None) -> str:
    """The file's own name, made safe to be the last part of a path."""
    base = PurePosixPath((given or "").replace("\\", "/")).name
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")[:200]
    return safe or "upload"


class _Writer:
    """A file in the lake written piece by piece (local, or an object store through
    pyarrow's file systems), each write off the event loop."""

    def __init__(self, filesystem: Any, path: str, uri: str) -> None:
        self._filesystem, self._path, self.uri = filesystem, path, uri
        self._stream: Any = None

    @classmethod
    async def open(cls, lake: str, file_name: str) -> _Writer:
        return await asyncio.to_thread(cls._opened, lake, file_name)

    @classmethod
    def _opened(cls, lake: str, file_name: str) -> _Writer:
        import pyarrow.fs as pafs

        location = f"{lake.rstrip('/')}/uploads/{uuid.uuid4()}/{file_name}"
        if "://" not in location:  # a local lake: made absolute, as the workers do
            location = str(Path(location).resolve())
        filesystem, path = pafs.FileSystem.from_uri(
            location if "://" in location else f"file://{location}"
        )
        writer = cls(filesystem, path, location)
        filesystem.create_dir(str(PurePosixPath(path).parent))
        writer._stream = filesystem.open_output_stream(path)
        return writer

    async def write(self, data: bytes) -> None:
        await asyncio.to_thread(self._stream.write, data)

    async def close(self) -> None:
        await asyncio.to_thread(self._stream.close)

    async def discard(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._stream.close)
        with contextlib.suppress(Exception):
            parent = str(PurePosixPath(self._path).parent)
            await asyncio.to_thread(self._filesystem.delete_dir, parent)


def format_of(file_name: str, given: str | None) -> Format:
    if given:
        if given not in ("csv", "jsonl", "parquet"):
            raise InvalidRequest("invalid_upload", "format is csv, jsonl or parquet")
        return given  # type: ignore[return-value]
    found = _EXTENSIONS.get(os.path.splitext(file_name)[1].lower())
    if found is None:
        raise InvalidRequest(
            "invalid_upload",
            f"cannot tell the format of {file_name!r} from its name: give format "
            "(csv, jsonl or parquet)",
        )
    return found


def detect_schema(received: Received, fmt: Format) -> list[dict[str, str]]:
    """The columns and their types, from the first MiB of a text file or a Parquet file's
    footer, as ``dataset.ingest`` infers them. Blocking: call it in a thread."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    assert received.uri is not None
    try:
        if fmt == "parquet":
            schema = pq.read_schema(received.uri)
        else:
            head = bytes(received.head)
            if received.size > len(head):  # cut at the last whole line
                head = head[: head.rfind(b"\n") + 1]
            if not head.strip():
                raise InvalidRequest("invalid_data", "the file holds no rows")
            source = pa.BufferReader(head)
            if fmt == "csv":
                delimiter = "\t" if _tab_separated(received) else ","
                table = pacsv.read_csv(
                    source, parse_options=pacsv.ParseOptions(delimiter=delimiter)
                )
            else:
                table = pajson.read_json(source)
            schema = table.schema
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, ValueError) as error:
        raise InvalidRequest("invalid_data", f"cannot read the file as {fmt}: {error}") from None
    # A column empty all through the start is text, as dataset.ingest types it.
    return [
        {"name": f.name, "type": "string" if pa.types.is_null(f.type) else str(f.type)}
        for f in schema
    ]


def _tab_separated(received: Received) -> bool:
    return bool(received.file_name and received.file_name.lower().endswith(".tsv"))


async def ingest(
    services: Services,
    application_id: uuid.UUID,
    received: Received,
    *,
    name: str | None,
    fmt: Format,
    mode: Mode,
) -> Upload:
    """Check the landed file and start its ingest into ``<application>/bronze/<name>``."""
    assert received.uri is not None
    assert received.file_name is not None
    name = name or _default_name(received.file_name)
    if not NAME.match(name):
        raise InvalidRequest("invalid_upload", f"name: {NAME_RULE}")
    schema = await asyncio.to_thread(detect_schema, received, fmt)
    # Under the application's name: one lake may hold several applications' datasets.
    owner = await services.pool.fetchval(
        "SELECT name FROM applications WHERE id = $1", application_id
    )
    dataset = f"{owner}/bronze/{name}"
    if mode == "append":
        existing = await latest_schema(services.pool, application_id, dataset)
        if existing is not None and _columns(existing) != _columns(schema):
            raise Conflict(
                "schema_mismatch",
                f"{dataset} has the columns {_spelled(existing)}; the file's are "
                f"{_spelled(schema)}. Send mode=overwrite to replace it, or another name.",
            )
    stage_input = {"source": received.uri, "format": fmt, "output": dataset, "mode": mode}
    if _tab_separated(received):
        stage_input["delimiter"] = "\t"
    request = PipelineSubmit(
        name=f"upload {name}",
        stages=[StageSpec(name="bronze", handler=INGEST, input=stage_input)],
        keywords=["upload"],
    )
    pipeline, _ = await start_pipeline(services, application_id, request)
    return Upload(
        application_id, name, dataset, received.uri, fmt, received.size, schema, mode, pipeline.id
    )


def _default_name(file_name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.splitext(file_name)[0]).strip("._-")
    return (stem or "upload")[:100]


def _columns(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(column["name"], column["type"]) for column in schema]


def _spelled(schema: list[dict[str, str]]) -> str:
    return ", ".join(f"{c['name']} {c['type']}" for c in schema)
