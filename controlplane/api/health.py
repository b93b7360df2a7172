"""Liveness, readiness, version and metrics: the same on both APIs."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from controlplane.api.problems import problem
from controlplane.services import Services


def package_version() -> str:
    try:
        return version("pipelogiq")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


class HealthController(Controller):
    include_in_schema = True
    tags = ["health"]

    @get("/healthz", summary="The process is alive")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz", summary="The database and the broker are reachable")
    async def readyz(self, services: NamedDependency[Services]) -> Response[Any]:
        if services.stopping.is_set():  # so that a load balancer sends no new requests
            return problem(503, "stopping", "Not ready", "the process is shutting down")
        try:
            await services.pool.fetchval("SELECT 1")
        except Exception as error:
            return problem(503, "database_unavailable", "Not ready", str(error))
        try:
            await services.broker.ping()
        except Exception as error:
            return problem(503, "broker_unavailable", "Not ready", str(error))
        return Response({"status": "ready"})

    @get("/version", summary="The running version")
    async def version(self) -> dict[str, str]:
        return {"version": package_version()}

    @get("/metrics", summary="Prometheus metrics", media_type=CONTENT_TYPE_LATEST)
    async def metrics(self) -> bytes:
        return generate_latest(REGISTRY)
