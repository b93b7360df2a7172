"""Process logs, as text for people or as JSON lines for a log pipeline, carrying the ids of
the pipeline, stage, job and trace they are about.

Both the control plane's processes and ``pipelogiq-worker`` log through this: set
``PIPELOGIQ_LOG_FORMAT=json`` for one JSON object per line::

    {"time": "2026-12-01T12:00:00.123Z", "level": "INFO", "logger": "worker_sdk.worker",
     "message": "...", "pipeline_id": "...", "job_id": "...", "trace_id": "..."}

Ids come from :func:`log_context` (the SDK sets it around each handler, so your own
``logging`` calls inside a handler carry them) or from ``extra={"job_id": ...}``.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Literal

LogFormat = Literal["text", "json"]

#: The ids a log line may carry, in the order they are written.
IDS = ("pipeline_id", "stage_id", "job_id", "trace_id", "span_id")

_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "pipelogiq_log_context", default=MappingProxyType({})
)


@contextlib.contextmanager
def log_context(**ids: object) -> Iterator[None]:
    """Log lines written inside the block (in this task or thread) carry these ids."""
    token = _context.set({**_context.get(), **{k: str(v) for k, v in ids.items() if v}})
    try:
        yield
    finally:
        _context.reset(token)


def _ids(record: logging.LogRecord) -> dict[str, str]:
    bound = _context.get()
    found = {}
    for name in IDS:
        value = getattr(record, name, None) or bound.get(name)
        if value:
            found[name] = str(value)
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_ids(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The usual line, with the ids after the message when there are any."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        ids = _ids(record)
        return line + "".join(f" {k}={v}" for k, v in ids.items()) if ids else line


def configure_logging(level: str | int, fmt: LogFormat = "text") -> None:
    """Send every logger's records to stderr, in ``fmt``; replaces earlier root handlers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def log_format(raw: str | None) -> LogFormat:
    """``PIPELOGIQ_LOG_FORMAT``'s value: text (the default) or json."""
    value = (raw or "text").strip().lower()
    if value not in ("text", "json"):
        raise ValueError("expected text or json")
    return value  # type: ignore[return-value]
