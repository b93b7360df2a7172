"""POST /jobs/{jobId}/connections/{name}: a database connection's credentials, for the
running job that reads from it (dataset.ingest with a `connection`).

The only answer that holds a connection's password: to the application's own key, for one of
its jobs that is running now and whose input names the connection. Nothing logs it.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import FromPath, PathParameter

from controlplane.engine.access.applications import Application
from controlplane.engine.sources.connections import opened_for_job
from controlplane.schemas import ConnectionCredentials
from controlplane.services import Services

ConnectionName = Annotated[str, PathParameter(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]


class ConnectionController(Controller):
    tags = ["connections"]

    @post(
        "/jobs/{job_id:uuid}/connections/{name:str}",
        status_code=200,
        summary="The credentials of a connection the running job's input names",
        opt={"scope": "work"},
    )
    async def credentials(
        self,
        job_id: FromPath[uuid.UUID],
        name: ConnectionName,
        application: NamedDependency[Application],
        services: NamedDependency[Services],
    ) -> ConnectionCredentials:
        found = await opened_for_job(services.pool, services.sealer, application.id, job_id, name)
        c = found.connection
        return ConnectionCredentials(
            c.kind, c.host, c.port, c.database, c.username, found.password, c.sslmode
        )
