"""Wakes the built-in worker's alert rounds when a commit may have changed what they find.

The rounds also run on their own every few seconds, and read what they need from the
database: a wake-up lost (another process made the change) delays an alert by at most one
round, never loses it. The API processes set the events too, where nobody waits on them.
"""

from __future__ import annotations

import asyncio

from controlplane.engine.outcome import Outcome

_FAILED = ("failed",)


class AlertWakeups:
    def __init__(self) -> None:
        # Something failed, or a worker went: the rules may have something to open.
        self.evaluate = asyncio.Event()
        # An alert changed: its notifications wait to be sent.
        self.deliver = asyncio.Event()

    def consider(self, outcome: Outcome) -> None:
        if outcome.alerts:
            self.deliver.set()
        if (
            any(p.status in _FAILED for p in outcome.pipelines)
            or any(s.status in _FAILED for s in outcome.stages)
            or any(w.state == "offline" for w in outcome.workers)
        ):
            self.evaluate.set()
