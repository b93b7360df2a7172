"""/api/definitions: pipeline definitions, their versions, their review, and their runs.

Everyone reads the definitions of the applications they see, and starts runs of published
versions. Developers and admins write drafts, import files, move versions through review, and
delete a definition no pipeline was run from; nobody approves a version they wrote. Every
move is audited, readable as the definition's history.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, PathParameter, QueryParameter

from controlplane.api.definition_views import MEDIA_TYPES, saved_view, version_view
from controlplane.api.internal.audit import entry_view
from controlplane.api.internal.pipelines import pipeline_application, pipeline_detail
from controlplane.api.internal.schemas import (
    AuditEntryView,
    DefinitionCheck,
    DefinitionDetail,
    DefinitionImport,
    DefinitionList,
    DefinitionRunRequest,
    DefinitionSource,
    DefinitionView,
    PipelineDetail,
    ReviewNote,
)
from controlplane.api.internal.session import (
    actor_of,
    member_scope,
    requires,
    visible,
    visible_application,
)
from controlplane.engine.access.audit import read_trail
from controlplane.engine.definitions.documents import dump_file, read_checked
from controlplane.engine.definitions.templates import known_templates
from controlplane.engine.definitions.versions import (
    Definition,
    Move,
    delete_definition,
    list_definitions,
    move,
    read_definition,
    read_version,
    read_versions,
    save,
)
from controlplane.errors import InvalidRequest, NotFound
from controlplane.runs import start_pipeline
from controlplane.schemas import (
    INT32_MAX,
    DefinitionSaved,
    DefinitionVersionView,
    PipelineSubmit,
)
from controlplane.services import Services

_WRITERS = [requires("admin", "developer")]


def _view(definition: Definition) -> DefinitionView:
    return DefinitionView(**vars(definition))


async def _visible_definition(
    services: Services, request: Request[Any, Any, Any], definition_id: uuid.UUID
) -> Definition:
    definition = await read_definition(services.pool, definition_id)
    not_found = NotFound("definition_not_found", f"no definition {definition_id}")
    return await visible(request, definition, not_found)


class DefinitionController(Controller):
    path = "/definitions"
    tags = ["definitions"]

    @get("/", summary="Pipeline definitions of your applications")
    async def list(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        application: Annotated[uuid.UUID | None, QueryParameter(name="application")] = None,
    ) -> DefinitionList:
        found = await list_definitions(
            services.pool, member=member_scope(request), application_id=application
        )
        return DefinitionList([_view(d) for d in found])

    @post(
        "/check",
        status_code=200,
        summary="Check a definition file without saving it",
        description="Every problem, with its path and its line and column in the file.",
    )
    async def check(
        self,
        data: JSONBody[DefinitionSource],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> DefinitionCheck:
        # Not saved to an application yet: a template served in any the user sees will do.
        known = await known_templates(
            services.pool,
            offline_after_seconds=services.settings.worker_offline_after_seconds,
            member=member_scope(request),
        )
        try:
            await read_checked(
                services.sandbox,
                data.content,
                data.format,
                services.settings.max_input_bytes,
                templates=known,
            )
        except InvalidRequest as error:
            return DefinitionCheck(False, error.extra.get("errors", []))
        return DefinitionCheck(True, [])

    @post(
        "/import",
        guards=_WRITERS,
        status_code=200,
        summary="Save a definition file: a new definition, or a new draft of one",
        description="A file equal to the latest version changes nothing (`changed: false`).",
        opt={"errors": [404, 409]},
    )
    async def import_file(
        self,
        data: JSONBody[DefinitionImport],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> DefinitionSaved:
        not_found = NotFound("application_not_found", f"no application {data.application_id}")
        application = await visible_application(request, data.application_id, not_found)
        return await _save(services, request, application.id, data, submit=data.submit)

    @get("/{definition_id:uuid}", summary="A definition and all its versions")
    async def read(
        self,
        definition_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> DefinitionDetail:
        definition = await _visible_definition(services, request, definition_id)
        versions = await read_versions(services.pool, definition.id)
        return DefinitionDetail(_view(definition), [version_view(v) for v in versions])

    @delete(
        "/{definition_id:uuid}",
        guards=_WRITERS,
        summary="Delete a definition no pipeline was run from, with its versions and schedules",
        description="409 `definition_has_runs` once a pipeline was run from it (archive its "
        "versions instead); runs that retention deleted do not count. Audited as "
        "`definition.deleted`.",
        opt={"errors": [409]},
    )
    async def remove(
        self,
        definition_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> None:
        definition = await _visible_definition(services, request, definition_id)
        await delete_definition(services.pool, actor_of(request), definition.id)

    @put(
        "/{definition_id:uuid}/draft",
        guards=_WRITERS,
        summary="Edit the definition: its open draft, or a new draft after a published version",
        opt={"errors": [409]},
    )
    async def edit(
        self,
        definition_id: FromPath[uuid.UUID],
        data: JSONBody[DefinitionSource],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> DefinitionSaved:
        definition = await _visible_definition(services, request, definition_id)
        return await _save(services, request, definition.application_id, data, definition.id)

    @get("/{definition_id:uuid}/versions/{version:int}", summary="A version of a definition")
    async def version(
        self,
        definition_id: FromPath[uuid.UUID],
        version: Annotated[int, PathParameter(ge=1, le=INT32_MAX)],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> DefinitionVersionView:
        definition = await _visible_definition(services, request, definition_id)
        return version_view(await read_version(services.pool, definition.id, version))

    @get(
        "/{definition_id:uuid}/versions/{version:int}/export",
        summary="A version as a file (YAML or JSON), to keep in git",
        description="Importing the file gives the same version back (`changed: false`).",
        media_type="application/yaml",
    )
    async def export(
        self,
        definition_id: FromPath[uuid.UUID],
        version: Annotated[int, PathParameter(ge=1, le=INT32_MAX)],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        file_format: Annotated[Literal["yaml", "json"], QueryParameter(name="format")] = "yaml",
    ) -> Response[str]:
        definition = await _visible_definition(services, request, definition_id)
        found = await read_version(services.pool, definition.id, version)
        filename = f"{definition.name}.{file_format}"
        return Response(
            dump_file(found.spec, file_format),
            media_type=MEDIA_TYPES[file_format],
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @post(
        "/{definition_id:uuid}/versions/{version:int}/{step:str}",
        guards=_WRITERS,
        status_code=200,
        summary="Move a version: submit, withdraw, approve, reject or archive",
        opt={"errors": [409]},
        description="approve: someone who did not write the version; reject needs a comment.",
    )
    async def move(
        self,
        definition_id: FromPath[uuid.UUID],
        version: Annotated[int, PathParameter(ge=1, le=INT32_MAX)],
        step: FromPath[Move],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        data: JSONBody[ReviewNote | None] = None,
    ) -> DefinitionVersionView:
        comment = data.comment if data else None
        if step == "reject" and not (comment or "").strip():
            raise InvalidRequest("comment_required", "say why the version is rejected")
        definition = await _visible_definition(services, request, definition_id)
        found = await read_version(services.pool, definition.id, version)
        moved = await move(services.pool, actor_of(request), found, step, comment)
        return version_view(moved)

    @post(
        "/{definition_id:uuid}/runs",
        summary="Start a run of a published version",
        opt={"errors": [409]},
        description="The latest published version unless `version` names another.",
    )
    async def run(
        self,
        definition_id: FromPath[uuid.UUID],
        data: JSONBody[DefinitionRunRequest],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> PipelineDetail:
        definition = await _visible_definition(services, request, definition_id)
        submit = PipelineSubmit(
            definition=definition.name,
            version=data.version,
            params=data.params,
            keywords=data.keywords,
        )
        pipeline, _ = await start_pipeline(services, definition.application_id, submit)
        application = await pipeline_application(services, request, pipeline.id)
        return await pipeline_detail(services, request, application, pipeline.id, pipeline)

    @get("/{definition_id:uuid}/history", summary="Every change to a definition, newest first")
    async def history(
        self,
        definition_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> list[AuditEntryView]:
        definition = await _visible_definition(services, request, definition_id)
        trail = await read_trail(services.pool, "definition", definition.id)
        return [entry_view(e) for e in trail]


async def _save(
    services: Services,
    request: Request[Any, Any, Any],
    application_id: uuid.UUID,
    source: DefinitionSource,
    definition_id: uuid.UUID | None = None,
    *,
    submit: bool = False,
) -> DefinitionSaved:
    known = await known_templates(
        services.pool,
        offline_after_seconds=services.settings.worker_offline_after_seconds,
        application_id=application_id,
    )
    checked = await read_checked(
        services.sandbox,
        source.content,
        source.format,
        services.settings.max_input_bytes,
        templates=known,
    )
    saved = await save(
        services.pool,
        actor_of(request),
        application_id,
        checked.raw,
        max_input_bytes=services.settings.max_input_bytes,
        document=checked.document,
        definition_id=definition_id,
        submit=submit,
        templates=known,
    )
    return saved_view(saved)
