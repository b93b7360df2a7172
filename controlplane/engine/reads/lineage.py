"""A pipeline's lineage: which stages read and wrote which datasets, at which versions.

It is drawn from the stages' outputs, where the dataset templates (and any handler that wants
to) name what they read and wrote::

    {"lineage": {"reads": [{"uri": "...", "version": 3}], "writes": [{"uri": "...", "version": 1}]}}

A dataset is a node per version, so a stage that rewrites a dataset shows as a new node, and
an entry without a version (a source file, an exported file) is a file node. Outputs are the
workers' JSON: entries that do not have this shape are left out, not refused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from controlplane.engine.jobpath.pipelines import Pipeline


@dataclass
class DatasetNode:
    id: str
    uri: str
    # None for a file; its name is the last part of its URI.
    version: int | None
    name: str
    kind: Literal["dataset", "file"]
    # From the reference the writing stage output, when it gave one.
    rows: int | None = None


@dataclass(frozen=True)
class StageNode:
    id: uuid.UUID
    name: str
    handler: str
    status: str


@dataclass(frozen=True)
class Edge:
    # A dataset id to a stage id (a read), or a stage id to a dataset id (a write).
    from_: str
    to: str
    kind: Literal["read", "write"]


@dataclass(frozen=True)
class Lineage:
    pipeline_id: uuid.UUID
    datasets: list[DatasetNode]
    stages: list[StageNode]
    edges: list[Edge]


def lineage_of(pipeline: Pipeline) -> Lineage:
    datasets: dict[str, DatasetNode] = {}
    stages: list[StageNode] = []
    edges: list[Edge] = []
    for stage in pipeline.stages:
        declared = _declared(stage.output)
        if declared is None:
            continue
        stages.append(StageNode(stage.id, stage.name, stage.handler, stage.status))
        rows = _rows_by_dataset(stage.output)
        for kind, entries in (("read", declared[0]), ("write", declared[1])):
            for uri, version in entries:
                node = datasets.setdefault(_node_id(uri, version), _dataset_node(uri, version))
                if kind == "write" and node.rows is None:
                    node.rows = rows.get((uri, version))
                stage_id = str(stage.id)
                source, target = (node.id, stage_id) if kind == "read" else (stage_id, node.id)
                edges.append(Edge(source, target, kind))
    return Lineage(pipeline.id, list(datasets.values()), stages, edges)


Entry = tuple[str, int | None]


def _declared(output: Any) -> tuple[list[Entry], list[Entry]] | None:
    if not isinstance(output, dict) or not isinstance(output.get("lineage"), dict):
        return None
    lineage = output["lineage"]
    return _entries(lineage.get("reads")), _entries(lineage.get("writes"))


def _entries(items: Any) -> list[Entry]:
    if not isinstance(items, list):
        return []
    found: list[Entry] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("uri"), str):
            continue
        version = item.get("version")
        found.append((item["uri"], version if _whole(version) else None))
    return found


def _rows_by_dataset(output: dict[str, Any]) -> dict[Entry, int]:
    """Row counts from the dataset references among the output's values."""
    rows = {}
    for value in output.values():
        if isinstance(value, dict) and isinstance(value.get("uri"), str):
            count, version = value.get("rows"), value.get("version")
            if _whole(count) and _whole(version):
                rows[(value["uri"], version)] = count
    return rows


def _whole(value: Any) -> bool:
    """A count or version a worker wrote: a whole number an int64 holds (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _node_id(uri: str, version: int | None) -> str:
    return f"{uri}@{version}" if version is not None else uri


def _dataset_node(uri: str, version: int | None) -> DatasetNode:
    name = uri.rstrip("/").rsplit("/", 1)[-1].removesuffix(".lance")
    kind: Literal["dataset", "file"] = "dataset" if version is not None else "file"
    return DatasetNode(_node_id(uri, version), uri, version, name, kind)
