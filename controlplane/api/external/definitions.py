"""GET /definitions, GET and PUT /definitions/{name}: pipeline definitions from code.

A definition kept in git is pushed with ``PUT`` (as YAML or JSON) by a key with the
``define`` scope. That saves a draft, never a published version: people review and publish
on the dashboard or the internal API. Runs start with ``POST /pipelines {definition}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, put
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter

from controlplane.api.clients import client_address
from controlplane.api.definition_views import format_of_media_type, saved_view, version_view
from controlplane.engine.access.applications import Application
from controlplane.engine.access.audit import Actor
from controlplane.engine.definitions.documents import MAX_DOCUMENT_BYTES, read_checked
from controlplane.engine.definitions.templates import known_templates
from controlplane.engine.definitions.versions import (
    newest_published,
    runnable_version,
    save,
    version_by_name,
)
from controlplane.errors import InvalidRequest
from controlplane.schemas import (
    DEFINITION_NAME,
    DEFINITION_NAME_RULE,
    INT32_MAX,
    DefinitionSaved,
    DefinitionVersionView,
    PublishedDefinition,
    PublishedDefinitions,
)
from controlplane.services import Services


class DefinitionController(Controller):
    path = "/definitions"
    tags = ["definitions"]

    @get("/", summary="The published pipeline definitions", opt={"scope": "read"})
    async def list(
        self, application: NamedDependency[Application], services: NamedDependency[Services]
    ) -> PublishedDefinitions:
        published = []
        for version in await newest_published(services.pool, application.id):
            document = version.document()
            published.append(
                PublishedDefinition(
                    version.name, version.version, document.description, document.params
                )
            )
        return PublishedDefinitions(published)

    @get(
        "/{name:str}",
        summary="A version of a definition",
        description="The latest published version, or `version` (in any status).",
        opt={"scope": "read", "errors": [409]},  # no published version
    )
    async def read(
        self,
        name: Annotated[
            str, PathParameter(pattern=DEFINITION_NAME, description=DEFINITION_NAME_RULE)
        ],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
        version: Annotated[int | None, QueryParameter(name="version", ge=1, le=INT32_MAX)] = None,
    ) -> DefinitionVersionView:
        if version is None:
            return version_view(await runnable_version(services.pool, application.id, name, None))
        return version_view(await version_by_name(services.pool, application.id, name, version))

    @put(
        "/{name:str}",
        summary="Save a definition file as a draft (created if new)",
        description="The body is the definition file, with Content-Type application/yaml or "
        "application/json. A file equal to the latest version changes nothing "
        "(`changed: false`). With `submit=true` the draft goes to review at once.",
        opt={
            "scope": "define",
            "raw_body": {
                "application/yaml": "The definition file, as YAML.",
                "application/json": "The definition file, as JSON.",
            },
            "errors": [409, 415],
        },
        request_max_body_size=MAX_DOCUMENT_BYTES,
    )
    async def save(
        self,
        name: Annotated[
            str, PathParameter(pattern=DEFINITION_NAME, description=DEFINITION_NAME_RULE)
        ],
        request: Request[Any, Any, Any],
        application: NamedDependency[Application],
        services: NamedDependency[Services],
        submit: Annotated[bool, QueryParameter(name="submit")] = False,
    ) -> DefinitionSaved:
        file_format = format_of_media_type(request.headers.get("content-type", ""))
        known = await known_templates(
            services.pool,
            offline_after_seconds=services.settings.worker_offline_after_seconds,
            application_id=application.id,
        )
        checked = await read_checked(
            services.sandbox,
            await request.body(),
            file_format,
            services.settings.max_input_bytes,
            templates=known,
        )
        if checked.document.name != name:
            raise InvalidRequest(
                "definition_name_mismatch",
                f"the file defines {checked.document.name!r}, not {name!r}",
            )
        actor = Actor(f"API key of {application.name}", client=client_address(request))
        saved = await save(
            services.pool,
            actor,
            application.id,
            checked.raw,
            max_input_bytes=services.settings.max_input_bytes,
            document=checked.document,
            submit=submit,
            templates=known,
        )
        return saved_view(saved)
