"""Where the dataset and video templates may read and write: under the data roots, only.

A template's input names files and datasets, and an input comes from whoever may submit or
rerun a stage: unbounded, ``/etc/passwd``, a key file or another team's bucket would be one
input away. So every path and URI a template reads or writes goes through :func:`allowed`,
which refuses it (``path_not_allowed``, for good) unless it lies under one of
``PIPELOGIQ_DATA_ROOTS``: comma-separated local directories and object-store URIs
(``s3://bucket/prefix``). By default the only root is the lake (``PIPELOGIQ_LAKE``): not the
worker's whole ``.pipelogiq`` directory, which may hold the control plane's secrets.

Local paths are made absolute (a relative one is relative to the worker's directory, as it
always was) with ``..`` and symlinks resolved before they are compared, so neither leads out
of a root; the resolved path is what is then opened. A URI is compared as written, so one
that could name something else once its store reads it is refused: ``.`` or ``..`` segments,
percent-escapes, and credentials or a query (pyarrow takes keys and endpoints from those).
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

from worker_sdk.errors import TerminalError

ROOTS_ENV = "PIPELOGIQ_DATA_ROOTS"
# Where datasets named by a relative name (or by no name) are written. On a Ray cluster it must
# be storage every node sees: a shared path or an object store URI (s3://bucket/lake).
LAKE_ENV = "PIPELOGIQ_LAKE"
DEFAULT_LAKE = ".pipelogiq/lake"


def lake() -> str:
    root = os.environ.get(LAKE_ENV, DEFAULT_LAKE)
    return root if "://" in root else str(Path(root).resolve())


def roots() -> list[str]:
    """The data roots, normalised: ``PIPELOGIQ_DATA_ROOTS``, or else the lake."""
    named = [root.strip() for root in os.environ.get(ROOTS_ENV, "").split(",") if root.strip()]
    try:
        return [_normalised(root) for root in named or [lake()]]
    except ValueError as error:
        raise TerminalError(f"{ROOTS_ENV}: {error}", code="invalid_setting") from None


def allowed(location: str) -> str:
    """``location`` normalised (what to open), if it lies under a data root."""
    try:
        place = _normalised(location)
    except ValueError as error:
        raise TerminalError(str(error), code="path_not_allowed") from None
    permitted = roots()
    if not any(place == root or place.startswith(root.rstrip("/") + "/") for root in permitted):
        raise TerminalError(
            f"{location} is outside the data roots ({', '.join(permitted)}); the worker's "
            f"{ROOTS_ENV} sets them",
            code="path_not_allowed",
        )
    return place


def _normalised(location: str) -> str:
    if "://" not in location:
        return os.path.realpath(location)
    parts = urllib.parse.urlsplit(location)
    if parts.scheme.lower() == "file" and not parts.netloc and "%" not in location:
        return os.path.realpath(parts.path)
    segments = parts.path.split("/")
    if (
        not parts.netloc
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
        or "%" in location
        or "." in segments
        or ".." in segments
    ):
        raise ValueError(
            f"{location} is not a plain URI (scheme://bucket/path, without credentials, "
            "query, escapes, or . and .. segments)"
        )
    return f"{parts.scheme.lower()}://{parts.netloc}{parts.path}"
