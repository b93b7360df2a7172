"""GET /templates: the stage templates the application's online workers serve, each with its
input's JSON schema when the SDK ships it."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from controlplane.engine.access.applications import Application
from controlplane.engine.definitions.templates import served_templates
from controlplane.schemas import ServedTemplateView, TemplateList
from controlplane.services import Services
from worker_sdk.templates.catalog import shipped_catalog


class TemplateController(Controller):
    path = "/templates"
    tags = ["workers"]
    opt = {"scope": "read"}

    @get("/", summary="Stage templates the online workers serve, by name and version")
    async def served(
        self, application: NamedDependency[Application], services: NamedDependency[Services]
    ) -> TemplateList:
        served = await served_templates(
            services.pool,
            application.id,
            offline_after_seconds=services.settings.worker_offline_after_seconds,
        )
        described = {t["name"]: t for t in shipped_catalog()}
        return TemplateList(
            templates=[
                ServedTemplateView(
                    t.name,
                    t.version,
                    t.workers,
                    described.get(t.name, {}).get("summary"),
                    described.get(t.name, {}).get("inputSchema"),
                )
                for t in served
            ]
        )
