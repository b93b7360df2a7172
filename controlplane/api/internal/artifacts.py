"""Artifacts on the dashboard: a pipeline's files, and short-lived signed download links.

Asking for a link needs a session that sees the pipeline; the link itself needs none, so it
can be handed to a browser download, curl or a colleague until it expires.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import File
from litestar.response import Redirect as LitestarRedirect

from controlplane.api.external.artifacts import artifact_view
from controlplane.api.internal.pipelines import pipeline_application
from controlplane.api.internal.schemas import ArtifactLink
from controlplane.api.internal.session import visible
from controlplane.artifact_store import Redirect
from controlplane.engine.jobpath.artifacts import (
    check_link,
    link,
    pipeline_artifacts,
    read_artifact,
)
from controlplane.errors import NotFound
from controlplane.schemas import MAX_ID, ArtifactView
from controlplane.services import Services


def _secret(services: Services) -> str:
    secret = services.settings.jwt_secret
    if secret is None:  # the internal API does not start without one
        raise RuntimeError("no secret to sign links with")
    return secret


class ArtifactController(Controller):
    tags = ["artifacts"]

    @get("/pipelines/{pipeline_id:uuid}/artifacts", summary="The files a pipeline's jobs attached")
    async def list(
        self,
        pipeline_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> list[ArtifactView]:
        await pipeline_application(services, request, pipeline_id)
        return [artifact_view(a) for a in await pipeline_artifacts(services.pool, pipeline_id)]

    @post(
        "/artifacts/{artifact_id:uuid}/link",
        status_code=200,
        summary="A signed link to download an artifact, valid for a few minutes",
    )
    async def link(
        self,
        artifact_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> ArtifactLink:
        artifact = await read_artifact(services.pool, artifact_id)
        not_found = NotFound("artifact_not_found", f"no artifact {artifact_id}")
        await visible(request, artifact, not_found)
        path, expires = link(
            _secret(services), artifact_id, services.settings.artifact_link_seconds
        )
        return ArtifactLink(path, dt.datetime.fromtimestamp(expires, dt.UTC))


class DownloadController(Controller):
    path = "/downloads"
    tags = ["artifacts"]

    @get(
        "/{artifact_id:uuid}",
        summary="Download an artifact with a signed link (no session needed)",
        description="403 invalid_link when any part of the link was changed; 403 "
        "link_expired after its time.",
        media_type="application/octet-stream",
        opt={"errors": [403]},  # invalid_link, link_expired
    )
    async def download(
        self,
        artifact_id: FromPath[uuid.UUID],
        services: NamedDependency[Services],
        expires: Annotated[int, QueryParameter(name="expires", ge=0, le=MAX_ID)],
        signature: Annotated[str, QueryParameter(name="signature", max_length=128)],
    ) -> Response[Any]:
        check_link(_secret(services), artifact_id, expires, signature)
        artifact = await read_artifact(services.pool, artifact_id)
        if artifact is None:
            raise NotFound("artifact_not_found", f"no artifact {artifact_id}")
        seconds = expires - int(time.time())
        where = services.artifacts.download(
            artifact.storage_key, artifact.name, artifact.content_type, seconds
        )
        if isinstance(where, Redirect):
            # The store serves it, from its own origin, until the link would have expired.
            return LitestarRedirect(where.url, status_code=302, media_type="text/plain")
        return File(
            path=where.path,
            filename=artifact.name,
            media_type=artifact.content_type,
            content_disposition_type="attachment",
            # Served from the dashboard's origin: never run as a page there.
            headers={
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "sandbox",
                "Cache-Control": "private, no-store",
            },
        )
