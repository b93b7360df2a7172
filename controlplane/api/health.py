"""Liveness, readiness, version and metrics: the same on both APIs."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from controlplane.api.problems import problem
from controlplane.readiness import readiness
from controlplane.services import Services
from controlplane.version import package_version


class HealthController(Controller):
    include_in_schema = True
    tags = ["health"]

    @get("/healthz", summary="The process is alive")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz", summary="The database and the broker are reachable")
    async def readyz(self, services: NamedDependency[Services]) -> Response[Any]:
        ready = await readiness(services)
        if ready.code is not None:
            not_ready = problem(503, ready.code, "Not ready", ready.detail, checks=ready.checks)
            not_ready.headers["Retry-After"] = "1"
            return not_ready
        return Response(ready.body())

    @get("/version", summary="The running version")
    async def version(self) -> dict[str, str]:
        return {"version": package_version()}

    @get("/metrics", summary="Prometheus metrics", media_type=CONTENT_TYPE_LATEST)
    async def metrics(self) -> bytes:
        return generate_latest(REGISTRY)
