"""How a definition version looks on the wire, in both APIs."""

from __future__ import annotations

from controlplane.engine.definitions.documents import FileFormat
from controlplane.engine.definitions.versions import Saved, Version
from controlplane.errors import UnsupportedMediaType
from controlplane.schemas import DefinitionSaved, DefinitionVersionView


def version_view(version: Version) -> DefinitionVersionView:
    return DefinitionVersionView(
        definition_id=version.definition_id,
        name=version.name,
        version=version.version,
        status=version.status,
        document=version.spec,
        authors=version.author_names,
        submitted_at=version.submitted_at,
        reviewed_by=version.reviewed_by_name,
        review_comment=version.review_comment,
        reviewed_at=version.reviewed_at,
        published_at=version.published_at,
        archived_at=version.archived_at,
        created_at=version.created_at,
        updated_at=version.updated_at,
    )


def saved_view(saved: Saved) -> DefinitionSaved:
    return DefinitionSaved(version_view(saved.version), saved.changed, saved.created)


MEDIA_TYPES: dict[FileFormat, str] = {"yaml": "application/yaml", "json": "application/json"}


def format_of_media_type(content_type: str) -> FileFormat:
    """The file format a request's Content-Type names; 415 for any other."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type in ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"):
        return "yaml"
    if media_type == "application/json":
        return "json"
    raise UnsupportedMediaType(
        "unsupported_media_type", "send the definition as application/yaml or application/json"
    )
