"""Stage templates: named, versioned handlers that ship with the SDK.

A template is registered on a worker like any handler, under its name, and is configured by
the stage's input::

    worker.use_templates("core")            # http.request, delay, transform, approval
    worker.use_templates("http.*", "delay")  # by name, with shell-style wildcards

Submit a stage with ``"handler": "transform"`` (say) and the input the template's schema
describes (``describe()`` lists them all, with their JSON schemas). Groups whose templates need
more than the SDK's own dependencies (``dataset``: pyarrow, Lance and Ray) are imported only
when asked for.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from worker_sdk.handlers import Handler, HandlerFunction

# Where each group's templates are defined, and what it needs installed beyond the SDK.
GROUPS: dict[str, tuple[str, str | None]] = {
    "core": ("worker_sdk.templates.core", None),
    "dataset": ("worker_sdk.templates.dataset", "data"),
    "video": ("worker_sdk.templates.video", "video"),
}

# The templates each group ships, known without importing the group (a control plane checks
# definitions against them, and need not install pyarrow, Lance, Ray or PyAV to do so). A
# template declared in a group and not named here fails as its module is imported.
SHIPPED: dict[str, tuple[str, ...]] = {
    "core": ("http.request", "delay", "transform", "approval"),
    "dataset": (
        "dataset.ingest",
        "dataset.clean",
        "dataset.quality",
        "dataset.aggregate",
        "dataset.join",
        "dataset.export",
        "dataset.profile",
        "dataset.sample",
        "dataset.release",
        "dataset.sql",
    ),
    "video": ("video.probe", "video.sample_frames"),
}


@dataclass(frozen=True)
class Template:
    name: str
    group: str
    version: str
    summary: str
    function: HandlerFunction

    @property
    def input_schema(self) -> dict[str, Any]:
        """The JSON schema of the input this template takes."""
        input_type = Handler.from_function(self.name, self.function).input_type
        return msgspec.json.schema(input_type) if input_type is not None else {}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "group": self.group,
            "version": self.version,
            "summary": self.summary,
            "inputSchema": self.input_schema,
        }


_REGISTRY: dict[str, Template] = {}


def template(
    name: str, *, group: str, version: str, summary: str
) -> Callable[[HandlerFunction], HandlerFunction]:
    """Declare a function ``(ctx, input) -> output`` as a template (used by the group modules)."""

    def register(function: HandlerFunction) -> HandlerFunction:
        if name in _REGISTRY:
            raise ValueError(f"template {name!r} is declared twice")
        if name not in SHIPPED.get(group, ()):
            raise ValueError(f"template {name!r} is not listed in SHIPPED[{group!r}]")
        _REGISTRY[name] = Template(name, group, version, summary, function)
        return function

    return register


def _load(group: str) -> None:
    if group not in GROUPS:
        raise LookupError(f"no template group {group!r}; there are {', '.join(sorted(GROUPS))}")
    module, extra = GROUPS[group]
    try:
        importlib.import_module(module)
    except ImportError as error:
        hint = f": pip install 'pipelogiq[{extra}]'" if extra else ""
        raise LookupError(f"the {group} templates need {error.name}{hint}") from error


def select(patterns: Iterable[str]) -> list[Template]:
    """The templates that a group name or a name pattern names, by name.

    A pattern that names nothing is an error, so a typo does not leave a worker serving less
    than it was meant to.
    """
    chosen: dict[str, Template] = {}
    for pattern in patterns:
        if pattern in GROUPS:
            _load(pattern)
            found = [t for t in _REGISTRY.values() if t.group == pattern]
        else:
            _load_all_available()
            found = [t for t in _REGISTRY.values() if fnmatch.fnmatchcase(t.name, pattern)]
        if not found:
            raise LookupError(f"no template matches {pattern!r}")
        chosen.update((t.name, t) for t in found)
    return sorted(chosen.values(), key=lambda t: t.name)


def _load_all_available() -> None:
    """Import every group whose dependencies are installed, so patterns can match in them."""
    for group in GROUPS:
        try:
            _load(group)
        except LookupError:
            continue


def describe(patterns: Iterable[str] = ("*",)) -> list[dict[str, Any]]:
    """Name, group, version, summary and input schema of each template the patterns select."""
    return [t.describe() for t in select(patterns)]


__all__ = ["GROUPS", "SHIPPED", "Template", "describe", "select", "template"]
