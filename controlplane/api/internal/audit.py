"""/api/audit: the audit log, newest first (admins only)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from controlplane.api.internal.schemas import AuditEntryView, AuditPage
from controlplane.api.internal.session import requires
from controlplane.engine.access.audit import AuditEntry, read_page
from controlplane.schemas import MAX_ID
from controlplane.services import Services


class AuditController(Controller):
    path = "/audit"
    tags = ["audit"]
    guards = [requires("admin")]

    @get("/", summary="Who changed what, when and from where; newest first")
    async def page(
        self,
        services: NamedDependency[Services],
        before: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_ID, description="an entry id")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> AuditPage:
        entries = await read_page(services.pool, before, limit)
        return AuditPage(
            [entry_view(e) for e in entries],
            entries[-1].id if len(entries) == limit else None,
        )


def entry_view(entry: AuditEntry) -> AuditEntryView:
    return AuditEntryView(
        entry.id,
        entry.at,
        entry.actor,
        entry.actor_id,
        entry.client,
        entry.action,
        entry.target_type,
        entry.target_id,
        entry.details,
    )
