"""The running version of Pipelogiq."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    try:
        return version("pipelogiq")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"
