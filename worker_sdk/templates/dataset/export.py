"""``dataset.export``: a dataset version to one Parquet or CSV file, streamed batch by batch."""

from __future__ import annotations

import os
from typing import Any, Literal

import msgspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from worker_sdk.context import JobContext
from worker_sdk.errors import TerminalError
from worker_sdk.templates import template
from worker_sdk.templates.dataset.refs import SourceSpec, lineage, open_source
from worker_sdk.templates.dataset.roots import allowed


class Export(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    # A local path or an object store URI (s3://...), under a data root; replaced if it exists.
    path: str
    source: SourceSpec = None
    # By default, from the path's extension.
    format: Literal["parquet", "csv"] | None = None


def _format(spec: Export) -> str:
    if spec.format:
        return spec.format
    extension = os.path.splitext(spec.path)[1].lower()
    if extension in (".parquet", ".pq"):
        return "parquet"
    if extension == ".csv":
        return "csv"
    raise TerminalError(
        f"cannot tell the format of {spec.path} from its name; give format (parquet or csv)",
        code="invalid_input",
    )


@template(
    "dataset.export",
    group="dataset",
    version="1",
    summary="Write a dataset version to a Parquet or CSV file.",
)
def export(ctx: JobContext, spec: Export) -> dict[str, Any]:
    source = open_source(ctx, spec.source)
    format = _format(spec)
    written = allowed(spec.path)
    if "://" in written:
        filesystem, path = pafs.FileSystem.from_uri(written)
    else:
        filesystem, path = pafs.LocalFileSystem(), written
        os.makedirs(os.path.dirname(path), exist_ok=True)
    rows = 0
    with filesystem.open_output_stream(path) as stream:
        writer: pq.ParquetWriter | pacsv.CSVWriter = (
            pq.ParquetWriter(stream, source.schema)
            if format == "parquet"
            else pacsv.CSVWriter(stream, source.schema)
        )
        with writer:
            for batch in source.to_batches():
                if ctx.cancelled.is_set():
                    raise TerminalError("cancelled", code="cancelled")
                writer.write(pa.Table.from_batches([batch], schema=source.schema))
                rows += batch.num_rows
    size = filesystem.get_file_info(path).size
    ctx.log.info("wrote %d rows (%d bytes) to %s", rows, size, spec.path)
    return {
        "file": {"uri": written, "format": format, "rows": rows, "bytes": size},
        "lineage": lineage([source], [written]),
    }
