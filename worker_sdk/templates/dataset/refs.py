"""Dataset references: what a dataset template outputs, and how the next one finds its input.

Data never passes through the control plane. A template writes a Lance dataset and outputs a
small reference to it::

    {"dataset": {"uri": ".../orders.lance", "version": 3, "rows": 1000000,
                 "schema": [{"name": "order_id", "type": "int64"}, ...]},
     "lineage": {"reads": [{"uri": ..., "version": ...}], "writes": [{"uri": ..., "version": ...}]}}

The next template reads exactly that version, so a later overwrite of the dataset does not
change what a finished pipeline saw.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import lance
import msgspec
import pyarrow as pa

from worker_sdk.context import JobContext
from worker_sdk.errors import TerminalError
from worker_sdk.templates.dataset import catalog
from worker_sdk.templates.dataset.roots import allowed, lake


class Source(msgspec.Struct, forbid_unknown_fields=True):
    """A dataset named directly rather than through a dependency's output."""

    uri: str
    # None reads the latest version.
    version: int | None = None


# A template's input dataset: the name of a stage it depends on, an explicit dataset, or
# (None) the one dependency whose output is a dataset.
SourceSpec = str | Source | None


class Column(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    type: str


def output_uri(ctx: JobContext, name: str | None, *, suffix: str = "") -> str:
    """Where a template writes: a URI or absolute path as given, a relative name under the
    lake, and by default ``<lake>/<pipeline id>/<stage name><suffix>.lance`` (one per run, so
    runs never overwrite each other). Always under a data root."""
    if name is None:
        stage = re.sub(r"[^A-Za-z0-9._-]", "_", ctx.stage_name)
        name = f"{ctx.pipeline_id}/{stage}{suffix}"
    if "://" in name or os.path.isabs(name):
        return allowed(name)
    if not name.endswith(".lance"):
        name += ".lance"
    return allowed(f"{lake()}/{name}")


def open_source(ctx: JobContext, spec: SourceSpec, *, role: str = "source") -> lance.LanceDataset:
    """The dataset ``spec`` names, at the version it names."""
    if isinstance(spec, Source):
        return _open(spec.uri, spec.version)
    datasets = {
        stage: output["dataset"]
        for stage, output in ctx.dependencies.items()
        if isinstance(output, dict) and isinstance(output.get("dataset"), dict)
    }
    if spec is None:
        if len(datasets) != 1:
            found = ", ".join(sorted(datasets)) or "none"
            raise TerminalError(
                f"say which dependency is the {role}: the stages this one depends on that "
                f"output a dataset are {found}",
                code="ambiguous_source",
            )
        [reference] = datasets.values()
    elif spec in datasets:
        reference = datasets[spec]
    else:
        raise TerminalError(
            f"the {role} {spec!r} is not a stage this one depends on that outputs a dataset "
            f"(those are: {', '.join(sorted(datasets)) or 'none'})",
            code="unknown_source",
        )
    return _open(reference["uri"], reference.get("version"))


def _open(uri: str, version: int | None) -> lance.LanceDataset:
    # A dependency's output is input too (a transform stage can output any reference).
    location = allowed(uri)
    try:
        return lance.dataset(location, version=version)
    except (ValueError, OSError, RuntimeError) as error:
        at = f" version {version}" if version is not None else ""
        raise TerminalError(
            f"cannot open dataset {uri}{at}: {error}", code="dataset_not_found"
        ) from None


def reference(dataset: lance.LanceDataset) -> dict[str, Any]:
    return {
        "uri": dataset.uri,
        "version": dataset.version,
        "rows": dataset.count_rows(),
        "schema": describe_schema(dataset.schema),
    }


def describe_schema(schema: pa.Schema) -> list[dict[str, str]]:
    # A list, not an object: PostgreSQL's jsonb would not keep the columns' order.
    return [{"name": field.name, "type": str(field.type)} for field in schema]


def result(
    ctx: JobContext,
    written: lance.LanceDataset,
    reads: Sequence[lance.LanceDataset | str],
    *,
    also_written: Sequence[lance.LanceDataset] = (),
    layer: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A template's output: the dataset it wrote, anything else it reports, and its lineage
    (the datasets, at their versions, and the files it read and wrote). The version is
    registered in the catalog with the job's result (``layer``: see
    :func:`.catalog.layer_of`); anything else the template wrote, it registers itself."""
    catalog.register(ctx, written, reads, layer=layer)
    return {
        "dataset": reference(written),
        **extra,
        "lineage": lineage(reads, [written, *also_written]),
    }


def lineage(
    reads: Sequence[lance.LanceDataset | str], writes: Sequence[lance.LanceDataset | str]
) -> dict[str, list[dict[str, Any]]]:
    """What the control plane's lineage graph is drawn from: ``{reads: [...], writes: [...]}``,
    each ``{uri, version}`` for a dataset or ``{uri}`` for a file."""
    return {"reads": [_named(d) for d in reads], "writes": [_named(d) for d in writes]}


def _named(source: lance.LanceDataset | str) -> dict[str, Any]:
    if isinstance(source, str):
        return {"uri": source}
    return {"uri": source.uri, "version": source.version}


_DECIMAL = re.compile(r"^decimal(?:128)?\((\d+),\s*(\d+)\)$")


def parse_type(name: str) -> pa.DataType:
    """An Arrow type from its name: ``int64``, ``float64``, ``string``, ``bool``, ``date32``,
    ``timestamp[us]``, ``decimal128(12, 2)``..."""
    spelled = name.strip().lower()
    if match := _DECIMAL.match(spelled):
        return pa.decimal128(int(match[1]), int(match[2]))
    try:
        return pa.type_for_alias(spelled)
    except (ValueError, KeyError):
        raise TerminalError(f"unknown column type {name!r}", code="invalid_input") from None


def require_columns(schema: pa.Schema, columns: list[str], what: str) -> None:
    missing = [column for column in columns if column not in schema.names]
    if missing:
        raise TerminalError(
            f"{what} names columns the dataset does not have: {', '.join(missing)} "
            f"(it has {', '.join(schema.names)})",
            code="unknown_column",
        )
