"""The OpenAPI documents as a contract: every status an operation can answer, every error as
``application/problem+json``, and request bodies that refuse unknown fields saying so.

The statuses follow from what an operation is (it takes a body, it needs a key or a session,
a role or a scope, it names something in its path), written once here for both APIs;
what only some handlers answer (409 on a conflict, 415, another success status) they declare
in ``opt["errors"]`` / their own ``responses``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, RequestBody, Schema
from litestar.plugins import OpenAPISchemaPlugin
from litestar.routes import HTTPRoute

from controlplane.api.rate_limits import NOT_LIMITED
from controlplane.errors import PROBLEM_JSON

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Answered without the database or the broker: they cannot be unavailable.
_NEEDS_NOTHING = frozenset({"/healthz", "/version", "/metrics"})

WHY: dict[int, str] = {
    400: "The body is not valid JSON (`malformed_json`), or a parameter cannot be read.",
    401: "No valid credentials: `missing_api_key`, `invalid_api_key` (external API); "
    "`not_authenticated`, `token_expired`, `session_expired` (internal API).",
    403: "Not allowed: `insufficient_scope` (a key without the scope), `forbidden` (a role "
    "that may not), `csrf_failed` (an unsafe request without CSRF proof or from another site).",
    404: "Not found, or not visible to the caller (another application's ids are answered the "
    "same way as ids that do not exist).",
    409: "A conflict with the state of what is named (its `code` says which).",
    410: "What is named is known, but its data is no longer there (`dataset_files_missing`: "
    "the files of a dataset version were deleted; `version_removed`: retention removed it).",
    413: "The body is too large (`request_too_large`), or holds more than 100,000 JSON values "
    "(`too_many_values`).",
    415: "The body's Content-Type is not one this operation reads (`unsupported_media_type`).",
    422: "Invalid input (`invalid_request`, with `errors`): a field out of its bounds, an "
    "unknown field, text holding NUL (`nul_character`), JSON nested deeper than 64 levels "
    "(`too_deep`); or a rule of the operation (its `code` says which).",
    429: "Too many requests (`rate_limited`; `login_throttled` for logins; `too_many_polls` for "
    "a key's long polls); `Retry-After` says when to try again.",
    503: "The database or the broker cannot be reached just now (`database_unavailable`, "
    "`broker_unavailable`), too much is being checked at once (`busy`), or the process is "
    "stopping; `Retry-After` says when to try again.",
}


class ProblemDocument(msgspec.Struct):
    """An error, as RFC 9457 describes it: branch on ``code``, show ``detail``. Some
    problems carry more fields (``errors`` with one item per invalid field, say)."""

    type: str
    title: str
    status: int
    code: str
    detail: str


def document_errors(app: Litestar, *, authenticated_by: Any) -> None:
    """Write ``app``'s OpenAPI document with every status each operation can answer.
    ``authenticated_by``: the guard that needs a key or a session."""
    statuses: dict[tuple[str, str], list[int]] = {}
    raw_bodies: dict[tuple[str, str], dict[str, str]] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            answers = error_statuses(handler, route.path, authenticated_by)
            declared = dict(handler.responses or {})
            for status in answers:
                declared.setdefault(status, _problem(status))
            handler.responses = declared
            for method in handler.http_methods:
                statuses[(route.path_format, method.lower())] = answers
                if "raw_body" in handler.opt:
                    raw_bodies[(route.path_format, method.lower())] = handler.opt["raw_body"]
    # The document is made now, once, and finished where the generator cannot be told.
    openapi = app.openapi_schema
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "post", "put", "patch", "delete"):
            operation = getattr(item, method, None)
            if operation is None or (path, method) not in statuses:
                continue
            if 400 not in statuses[(path, method)] and operation.responses:
                # Litestar documents a 400 for invalid parameters; they are answered 422.
                operation.responses.pop("400", None)
            if (path, method) in raw_bodies:
                operation.request_body = _raw_body(raw_bodies[(path, method)])
            for parameter in operation.parameters or ():
                if isinstance(parameter.schema, Schema):
                    _bounds_into_branch(parameter.schema)


def _raw_body(media_types: dict[str, str]) -> RequestBody:
    """A body read as it comes (a file): its media types, each with what it holds."""
    return RequestBody(
        required=True,
        content={
            media_type: OpenAPIMediaType(
                schema=Schema(type=OpenAPIType.STRING, format="binary", description=what)
            )
            for media_type, what in media_types.items()
        },
    )


def error_statuses(handler: HTTPRouteHandler, path: str, authenticated_by: Any) -> list[int]:
    methods = handler.http_methods
    guards = handler.resolve_guards()
    statuses = {422}  # any URL may hold a NUL character; any parameter may be out of bounds
    if _takes_body(handler):
        statuses |= {400, 413}
    if authenticated_by in guards:
        statuses.add(401)
    if handler.opt.get("scope") or len(guards) > 1 or methods & UNSAFE_METHODS:
        statuses.add(403)
    if "{" in path:
        statuses.add(404)
    if path not in NOT_LIMITED:
        statuses.add(429)
    if path not in _NEEDS_NOTHING:
        statuses.add(503)
    if not guards and not methods & UNSAFE_METHODS:
        statuses.discard(403)
    statuses.update(handler.opt.get("errors", ()))
    return sorted(statuses)


def _takes_body(handler: HTTPRouteHandler) -> bool:
    return "data" in handler.parsed_fn_signature.parameters or "raw_body" in handler.opt


def _problem(status: int) -> ResponseSpec:
    return ResponseSpec(
        data_container=ProblemDocument,
        description=WHY[status],
        media_type=PROBLEM_JSON,
        generate_examples=False,
    )


class RequestStructs(OpenAPISchemaPlugin):
    """Request Structs, which refuse unknown fields, say so (``additionalProperties:
    false``); the items of their lists keep their own bounds (a handler name's pattern, say),
    which the generator drops; and a pipeline submit is either stages or a definition."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return (
            not field_definition.is_union
            and field_definition.is_subclass_of(msgspec.Struct)
            and msgspec.inspect.type_info(field_definition.type_).forbid_unknown_fields  # type: ignore[union-attr]
        )

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin

        schema = StructSchemaPlugin().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        info = msgspec.inspect.type_info(field_definition.type_)
        for field in info.fields:  # type: ignore[union-attr]
            prop = (schema.properties or {}).get(field.encode_name)
            if isinstance(prop, Schema):
                _bounds_into_branch(prop)
                _bound_items(prop, field.type)
                _bound_numbers(prop, field.type)
        if field_definition.type_.__name__ == "PipelineSubmit":
            schema.one_of = _STAGES_OR_DEFINITION
        return schema


# The bounds the generator puts beside a `oneOf` of a type and null, where a client generated
# from the document does not look for them; they belong in the type's branch.
_BOUNDS = (
    "pattern",
    "min_length",
    "max_length",
    "minimum",
    "maximum",
    "exclusive_minimum",
    "exclusive_maximum",
    "min_items",
    "max_items",
)


def _bounds_into_branch(prop: Schema) -> None:
    branches = [s for s in prop.one_of or () if isinstance(s, Schema) and s.type != "null"]
    if len(branches) != 1:
        return
    for bound in _BOUNDS:
        value = getattr(prop, bound)
        if value is not None:
            setattr(branches[0], bound, value)
            setattr(prop, bound, None)


def _plain(prop: Schema, kind: msgspec.inspect.Type) -> tuple[Schema, msgspec.inspect.Type]:
    """The schema and type a field's bounds belong to: those of its one non-null branch when
    it is optional (``int | None``), else its own."""
    if isinstance(kind, msgspec.inspect.Metadata):
        kind = kind.type
    if isinstance(kind, msgspec.inspect.UnionType):
        others = [t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType)]
        branches = [s for s in prop.one_of or () if isinstance(s, Schema) and s.type != "null"]
        if len(others) == 1 and len(branches) == 1:
            return _plain(branches[0], others[0])
    return prop, kind


def _bound_items(prop: Schema, kind: msgspec.inspect.Type) -> None:
    """Copy the bounds of a list's items, or of a dict's keys, onto their schema."""
    prop, kind = _plain(prop, kind)
    if isinstance(kind, msgspec.inspect.ListType) and isinstance(prop.items, Schema):
        _bound_text(prop.items, kind.item_type)
    elif isinstance(kind, msgspec.inspect.DictType):
        names = Schema(type=OpenAPIType.STRING)
        _bound_text(names, kind.key_type)
        if names.pattern or names.min_length or names.max_length:
            prop.property_names = names


def _bound_numbers(prop: Schema, kind: msgspec.inspect.Type) -> None:
    """Write a number's bounds from the Struct itself: the generator drops a bound of 0 on
    an optional field (``pid``'s minimum, say)."""
    prop, kind = _plain(prop, kind)
    if isinstance(kind, msgspec.inspect.IntType | msgspec.inspect.FloatType):
        for bound, value in (
            ("minimum", kind.ge),
            ("maximum", kind.le),
            ("exclusive_minimum", kind.gt),
            ("exclusive_maximum", kind.lt),
        ):
            if value is not None:
                setattr(prop, bound, value)


def _bound_text(schema: Schema, kind: msgspec.inspect.Type) -> None:
    if isinstance(kind, msgspec.inspect.Metadata):
        kind = kind.type
    if isinstance(kind, msgspec.inspect.StrType):
        schema.pattern = kind.pattern
        schema.min_length = kind.min_length
        schema.max_length = kind.max_length


def _null() -> Schema:
    return Schema(type=OpenAPIType.NULL)


# As the engine reads a submit (controlplane.engine.jobpath.pipelines.resolve_run): a name
# and stages, or a definition (with its version and params); a null counts as left out.
_STAGES_OR_DEFINITION: list[Schema | Any] = [
    Schema(
        title="A pipeline of stages",
        required=["name", "stages"],
        properties={
            "name": Schema(type=OpenAPIType.STRING),
            "stages": Schema(type=OpenAPIType.ARRAY),
            "definition": _null(),
            "version": _null(),
            "params": Schema(type=OpenAPIType.OBJECT, max_properties=0),
        },
    ),
    Schema(
        title="A run of a pipeline definition",
        required=["definition"],
        properties={
            "definition": Schema(type=OpenAPIType.STRING),
            "name": _null(),
            "stages": _null(),
        },
    ),
]
