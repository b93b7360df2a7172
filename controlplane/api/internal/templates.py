"""/api/templates: the stage templates a definition's stages may name, for the builder."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency

from controlplane.api.internal.schemas import TemplateEntryView, TemplateRegistry
from controlplane.api.internal.session import member_scope
from controlplane.api.wire import wire
from controlplane.engine.definitions.templates import template_registry
from controlplane.services import Services


class InternalTemplateController(Controller):
    path = "/templates"
    tags = ["definitions"]

    @get("/", summary="Stage templates: each one's input schema, and the workers serving it")
    async def registry(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services]
    ) -> TemplateRegistry:
        entries = await template_registry(
            services.pool,
            offline_after_seconds=services.settings.worker_offline_after_seconds,
            member=member_scope(request),
        )
        return TemplateRegistry(wire(entries, list[TemplateEntryView]))
