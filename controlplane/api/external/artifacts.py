"""POST /jobs/{jobId}/artifacts, GET /pipelines/{id}/artifacts: files attached to results.

A running job sends a file as the request body (any Content-Type), named in the query. The
bytes go to the artifact store as they arrive, counted against the size limit; the artifact
is recorded only if the job is still running once they are all there.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter

from controlplane.api.wire import wire
from controlplane.artifact_store import TooLarge
from controlplane.engine.access.applications import Application
from controlplane.engine.jobpath.artifacts import (
    Artifact,
    pipeline_artifacts,
    record_artifact,
    start_upload,
)
from controlplane.engine.jobpath.pipelines import get_pipeline
from controlplane.schemas import ARTIFACT_NAME, ArtifactView
from controlplane.services import Services


def artifact_view(artifact: Artifact) -> ArtifactView:
    return wire(artifact, ArtifactView)


class ArtifactController(Controller):
    tags = ["artifacts"]

    @post(
        "/jobs/{job_id:uuid}/artifacts",
        summary="Attach a file to a running job's result",
        description="The body is the file; `name` names it (unique per job). 201 with the "
        "artifact; 200 with the first one when the same file was sent before under the name.",
        opt={
            "scope": "work",
            "raw_body": {"*/*": "The file, as it is; its Content-Type is kept with it."},
            "errors": [409],  # job_not_running, artifact_exists
        },
        responses={
            200: ResponseSpec(
                ArtifactView,
                description="The artifact first attached under this name, when the same file "
                "was sent again.",
                generate_examples=False,
            )
        },
        # PIPELOGIQ_MAX_ARTIFACT_BYTES is the limit here, checked as the bytes arrive.
        request_max_body_size=None,
    )
    async def attach(
        self,
        job_id: FromPath[uuid.UUID],
        name: Annotated[
            str,
            QueryParameter(
                name="name",
                pattern=ARTIFACT_NAME,
                description="Up to 200 characters, without slashes or control characters.",
            ),
        ],
        request: Request[Any, Any, Any],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
    ) -> Response[ArtifactView]:
        limit = services.settings.max_artifact_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise TooLarge("artifact_too_large", f"an artifact may hold {limit} bytes")
        content_type = _content_type(request.headers.get("content-type"))
        upload = await start_upload(services.pool, application.id, job_id)
        store = services.artifacts
        stored = await store.write(upload.storage_key, _chunks(request), limit, content_type)
        try:
            artifact, new = await record_artifact(
                services.pool, upload, job_id, name, content_type, stored.size, stored.sha256
            )
        except Exception:
            await store.delete(upload.storage_key)
            raise
        if not new:
            await store.delete(upload.storage_key)
        return Response(artifact_view(artifact), status_code=201 if new else 200)

    @get(
        "/pipelines/{pipeline_id:uuid}/artifacts",
        summary="The files a pipeline's jobs attached",
        opt={"scope": "read"},
    )
    async def list(
        self,
        pipeline_id: FromPath[uuid.UUID],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
    ) -> list[ArtifactView]:
        await get_pipeline(services.pool, application.id, pipeline_id)  # 404 if not theirs
        return [artifact_view(a) for a in await pipeline_artifacts(services.pool, pipeline_id)]


async def _chunks(request: Request[Any, Any, Any]) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


def _content_type(header: str | None) -> str:
    value = (header or "").strip()
    if not value or len(value) > 200 or not value.isprintable():
        return "application/octet-stream"
    return value
