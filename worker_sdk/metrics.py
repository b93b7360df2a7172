"""Prometheus metrics of a worker process, served on a port when one is given.

prometheus-client is not a dependency of the SDK: a worker asked for metrics without it
installed fails at start with a line saying so, rather than running without them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

_DURATION_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)


class WorkerMetrics:
    """Counts of the jobs one :class:`~worker_sdk.Worker` ran, in a registry of its own."""

    def __init__(self, running: Callable[[], int], unacked: Callable[[], int]) -> None:
        try:
            import prometheus_client as prom
        except ImportError:
            raise RuntimeError(
                "worker metrics need prometheus-client: pip install prometheus-client"
            ) from None
        self._prom = prom
        self.registry = prom.CollectorRegistry()
        prom.ProcessCollector(registry=self.registry)
        prom.PlatformCollector(registry=self.registry)
        self.jobs = prom.Counter(
            "pipelogiq_worker_jobs",
            "Jobs this worker ran, by handler and outcome (completed, failed, dropped).",
            ["handler", "outcome"],
            registry=self.registry,
        )
        self.duration = prom.Histogram(
            "pipelogiq_worker_job_duration_seconds",
            "How long a handler ran, by handler.",
            ["handler"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        prom.Gauge(
            "pipelogiq_worker_jobs_running", "Jobs running now.", registry=self.registry
        ).set_function(running)
        prom.Gauge(
            "pipelogiq_worker_results_unacked",
            "Results waiting to be acked to the control plane.",
            registry=self.registry,
        ).set_function(unacked)
        self._server: Any = None

    def finished(self, handler: str, outcome: str, started: float) -> None:
        self.jobs.labels(handler, outcome).inc()
        self.duration.labels(handler).observe(time.monotonic() - started)

    def serve(self, port: int, host: str = "0.0.0.0") -> None:
        self._server, _ = self._prom.start_http_server(port, addr=host, registry=self.registry)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
