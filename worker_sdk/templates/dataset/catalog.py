"""What the dataset templates tell the control plane's catalog about the versions they
commit: the name and layer people browse by, the size, the columns, and what was read.

Registered with the job's ack (:meth:`JobContext.register_dataset`), so a version is in the
catalog exactly when the result that wrote it is recorded.
"""

from __future__ import annotations

from collections.abc import Sequence

import lance

from worker_sdk.context import JobContext
from worker_sdk.templates.dataset.roots import lake
from worker_sdk.wire import DatasetColumn, DatasetRead, DatasetWritten

LAYERS = ("bronze", "silver", "gold")


def register(
    ctx: JobContext,
    written: lance.LanceDataset,
    reads: Sequence[lance.LanceDataset | str],
    *,
    layer: str | None = None,
    checks: str | None = None,
) -> None:
    """Report ``written`` for the catalog. ``layer``: the template's own (``quarantine``, or
    ``bronze`` for an ingest) when the names say none; ``checks``: for a quarantine, the URI
    of the dataset its rows were kept out of."""
    # The catalog takes names of up to 200 characters.
    name = catalog_name(ctx, written.uri)[:200]
    ctx.register_dataset(
        DatasetWritten(
            uri=written.uri,
            version=written.version,
            rows=written.count_rows(),
            name=name,
            layer=layer_of(ctx, name, layer),
            bytes=size_of(written),
            schema=[DatasetColumn(f.name[:1000], str(f.type)[:10_000]) for f in written.schema],
            reads=[_read(source) for source in reads][:1000],
            checks=checks,
        )
    )


def catalog_name(ctx: JobContext, uri: str) -> str:
    """A dataset under the lake is named by its path there (``silver/orders``); one a run
    wrote to its own place (``<lake>/<pipeline id>/<stage>.lance``) by its file's name
    (``silver``, ``checked_quarantine``); any other by its last part."""
    path = uri.removeprefix("file://").removesuffix("/").removesuffix(".lance")
    root = lake().rstrip("/") + "/"
    if path.startswith(root):
        relative = path[len(root) :]
        first, _, rest = relative.partition("/")
        return rest if first == ctx.pipeline_id and rest else relative
    return path.rsplit("/", 1)[-1] or uri


def layer_of(ctx: JobContext, name: str, own: str | None) -> str | None:
    """A quarantine is a quarantine; else the layer the name starts with (``gold/revenue``),
    or the stage's name (a stage called ``silver``), or the template's own."""
    if own == "quarantine":
        return own
    for candidate in (name.split("/", 1)[0], ctx.stage_name):
        if candidate.lower() in LAYERS:
            return candidate.lower()
    return own


def size_of(dataset: lance.LanceDataset) -> int | None:
    """The bytes of the version's data files (None if Lance does not say)."""
    total = 0
    for fragment in dataset.get_fragments():
        for data_file in fragment.data_files():
            size = getattr(data_file, "file_size_bytes", None)
            if size is None:
                return None
            total += size
    return total


def _read(source: lance.LanceDataset | str) -> DatasetRead:
    if isinstance(source, str):
        return DatasetRead(source)
    return DatasetRead(source.uri, source.version)
