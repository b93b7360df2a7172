"""Removing dataset versions from the lake, with Lance's own cleanup: a retention round's
work, in the built-in worker or in an API process an admin ran the round from.

``cleanup_old_versions(versions=...)`` removes exactly the versions named, with the files no
kept version uses; Lance never removes the latest version, nor a tagged one (someone's pin).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

# Lance warns at every fork; the processes that clean the lake do not fork.
os.environ.setdefault("LANCE_LOG", "error")

if TYPE_CHECKING:
    import lance


class LakeUnreachable(Exception):
    """The dataset could not be opened or cleaned: nothing is recorded removed."""


def remove_versions(uri: str, versions: Iterable[int]) -> list[int]:
    """Remove ``versions`` of the dataset at ``uri``; returns those that are gone now (those
    already gone included)."""
    import lance  # here: an API process loads Lance only when it cleans the lake

    wanted = set(versions)
    if _missing(uri):
        # Gone, or only out of this process's sight (no lake mounted here): never taken
        # for removed, or a version whose files are there would be answered as gone.
        raise LakeUnreachable(f"{uri} is not there for this process")
    try:
        dataset = lance.dataset(uri)
        doomed = wanted & _versions(dataset)
        if doomed:
            dataset.cleanup_old_versions(
                versions=sorted(doomed), error_if_tagged_old_versions=False
            )
            dataset = lance.dataset(uri)
        return sorted(wanted - _versions(dataset))
    except (ValueError, OSError, RuntimeError) as error:
        raise LakeUnreachable(f"cannot clean {uri}: {error}") from error


def _versions(dataset: lance.LanceDataset) -> set[int]:
    return {int(v["version"]) for v in dataset.versions()}


def _missing(uri: str) -> bool:
    """A local dataset whose directory is gone (an object store is never taken as gone)."""
    path = uri.removeprefix("file://")
    return "://" not in path and not os.path.exists(path)
