"""What a handler sees of its job: ids, attempt, context, dependencies, a log, cancellation."""

from __future__ import annotations

import asyncio
import datetime as dt
import mimetypes
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from worker_sdk.transport import AsyncTransport
from worker_sdk.wire import Artifact, DatasetWritten, LogEntry

# Entries a single job may send with its ack; the control plane takes up to 1,000.
MAX_LOG_ENTRIES = 1000


class JobLog:
    """``ctx.log.info("...")``: lines stored with the job's result, shown in the dashboard."""

    def __init__(self) -> None:
        self.entries: list[LogEntry] = []
        self.dropped = 0
        self._lock = threading.Lock()  # sync handlers log from their own threads

    def debug(self, message: str, *args: object) -> None:
        self._add("debug", message, args)

    def info(self, message: str, *args: object) -> None:
        self._add("info", message, args)

    def warning(self, message: str, *args: object) -> None:
        self._add("warning", message, args)

    def error(self, message: str, *args: object) -> None:
        self._add("error", message, args)

    def _add(self, level: str, message: str, args: tuple[object, ...]) -> None:
        text = message % args if args else message
        with self._lock:
            if len(self.entries) < MAX_LOG_ENTRIES - 1:
                self.entries.append(LogEntry(level, text))
            else:
                self.dropped += 1

    def finish(self) -> list[LogEntry]:
        """The entries to send, with a last line saying how many did not fit."""
        with self._lock:
            entries = list(self.entries)
            if self.dropped:
                entries.append(LogEntry("warning", f"{self.dropped} more log lines were dropped"))
            return entries


class JobContext:
    """The context object passed to every handler as its first argument."""

    def __init__(
        self,
        *,
        job_id: str,
        stage_id: str,
        pipeline_id: str,
        handler: str,
        stage_name: str,
        attempt: int,
        context: Mapping[str, Any] | None = None,
        dependencies: Mapping[str, Any] | None = None,
        lease_expires_at: dt.datetime | None = None,
        timeout_seconds: int | None = None,
        traceparent: str | None = None,
        control_plane: AsyncTransport | None = None,
    ) -> None:
        self.job_id = job_id
        self.stage_id = stage_id
        self.pipeline_id = pipeline_id
        self.handler = handler
        self.stage_name = stage_name
        self.attempt = attempt
        self.lease_expires_at = lease_expires_at
        self.timeout_seconds = timeout_seconds
        #: W3C trace context naming this job as a span of its pipeline's trace: pass it on
        #: (as the ``traceparent`` header) to what the handler calls, to continue the trace.
        self.traceparent = traceparent
        #: The worker's connection to the control plane's external API, for templates that
        #: talk to it (``approval``); None where a handler runs without one (a test).
        self.control_plane = control_plane
        self.log = JobLog()
        #: Set when the control plane cancelled the job, it timed out, or the worker is
        #: abandoning it at shutdown. A long sync handler should check it and return early.
        self.cancelled = threading.Event()
        self._context = dict(context or {})
        self._updates: dict[str, Any] = {}
        self._dependencies = dict(dependencies or {})
        self._attached: dict[str, tuple[str, bytes]] = {}
        self._datasets: list[DatasetWritten] = []
        self._datasets_lock = threading.Lock()

    @property
    def trace_id(self) -> str | None:
        """The trace this job belongs to (32 hex digits), from :attr:`traceparent`."""
        return self.traceparent.split("-")[1] if self.traceparent else None

    @property
    def span_id(self) -> str | None:
        """This job's span id (16 hex digits), from :attr:`traceparent`."""
        return self.traceparent.split("-")[2] if self.traceparent else None

    @property
    def context(self) -> Mapping[str, Any]:
        """The pipeline's context as of the pull, with this job's own updates applied."""
        return MappingProxyType(self._context)

    @property
    def dependencies(self) -> Mapping[str, Any]:
        """Outputs of the stages this one depends on, by stage name."""
        return MappingProxyType(self._dependencies)

    def set_context(self, key: str, value: Any) -> None:
        """Write a context value; it is stored with the result, for the stages after this."""
        self._context[key] = value
        self._updates[key] = value

    @property
    def context_updates(self) -> dict[str, Any]:
        return dict(self._updates)

    async def attach(
        self,
        name: str,
        data: bytes | str | os.PathLike[str],
        content_type: str | None = None,
    ) -> Artifact:
        """Attach a file to this job's result: ``data`` is its bytes or a path to it.

        It is uploaded at once (the job must still be running) and listed with the stage on
        the dashboard, which hands out short-lived download links. Sending the same file
        under the same name again is harmless. Without a control plane (a handler under
        :class:`~worker_sdk.testing.JobEnvironment`) it is kept in ``attached``.
        """
        if isinstance(data, bytes):
            content = data
        else:
            content = await asyncio.to_thread(Path(data).read_bytes)
        kind = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        if self.control_plane is None:
            self._attached[name] = (kind, content)
            return Artifact("", name, kind, len(content), "", self.stage_name, self.attempt)
        return await self.control_plane.send_bytes(
            f"/jobs/{self.job_id}/artifacts", Artifact, content, kind, {"name": name}
        )

    def register_dataset(self, written: DatasetWritten) -> None:
        """Report a dataset version this job committed: it is added to the control plane's
        catalog when the job's result is recorded, whether the job completes or fails (the
        version exists either way). The dataset templates report theirs themselves."""
        with self._datasets_lock:
            self._datasets.append(written)

    @property
    def datasets(self) -> list[DatasetWritten]:
        """The dataset versions this job reported, in order."""
        with self._datasets_lock:
            return list(self._datasets)

    @property
    def attached(self) -> dict[str, tuple[str, bytes]]:
        """The files this job attached: name -> (content type, bytes)."""
        return dict(self._attached)
