"""The one mapping from exceptions to problem documents (RFC 9457)."""

from __future__ import annotations

import logging
import math
import traceback
from typing import Any

import asyncpg
from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException

from controlplane.errors import (
    PROBLEM_JSON,
    Conflict,
    Forbidden,
    Gone,
    InvalidRequest,
    NotFound,
    ProblemError,
    TooLarge,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
    problem_body,
)
from controlplane.input_limits import too_deep
from controlplane.outages import Dependency, outage_of, unavailable

log = logging.getLogger(__name__)

# How HTTP says each kind of refusal: its status and title.
KINDS: dict[type[ProblemError], tuple[int, str]] = {
    ProblemError: (400, "Bad request"),
    InvalidRequest: (422, "The request is not valid"),
    Unauthorized: (401, "Not authenticated"),
    Forbidden: (403, "Forbidden"),
    NotFound: (404, "Not found"),
    Conflict: (409, "Conflict"),
    Gone: (410, "Gone"),
    TooLarge: (413, "Request too large"),
    UnsupportedMediaType: (415, "Unsupported media type"),
    TooManyRequests: (429, "Too many requests"),
    Unavailable: (503, "Temporarily unavailable"),
}


def status_of(error: ProblemError) -> tuple[int, str]:
    """The status and title of the error's kind (its nearest class in :data:`KINDS`)."""
    return next(KINDS[kind] for kind in type(error).__mro__ if kind in KINDS)


_CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    503: "unavailable",
}

_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Request too large",
    415: "Unsupported media type",
    429: "Too many requests",
    503: "Temporarily unavailable",
}


def problem(
    status: int, code: str, title: str, detail: str, **extra: Any
) -> Response[dict[str, Any]]:
    body = problem_body(status, code, title, detail, **extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON)


_UNAVAILABLE_CODES: dict[str, Dependency] = {
    "database_unavailable": "database",
    "broker_unavailable": "broker",
}


def _problem_error(
    request: Request[Any, Any, Any], error: ProblemError
) -> Response[dict[str, Any]]:
    dependency = _UNAVAILABLE_CODES.get(error.code)
    if dependency is not None:
        _note_outage(request, dependency, error.__cause__ or error)
    extra = dict(error.extra)
    retry_after = extra.pop("retry_after", None)
    status, title = status_of(error)
    response = problem(status, error.code, title, error.detail, **extra)
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


def _note_outage(
    request: Request[Any, Any, Any], dependency: Dependency, error: BaseException
) -> None:
    services = getattr(request.app.state, "services", None)
    if services is not None:
        services.outages.down(dependency, error)


def _validation(_: Request[Any, Any, Any], error: ValidationException) -> Response[dict[str, Any]]:
    errors = error.extra if isinstance(error.extra, list) else []
    detail = "; ".join(str(e.get("message", e)) for e in errors if isinstance(e, dict))
    return problem(
        422, "invalid_request", "The request is not valid", detail or error.detail, errors=errors
    )


def _http(_: Request[Any, Any, Any], error: HTTPException) -> Response[dict[str, Any]]:
    if error.status_code == 400 and isinstance(error.__cause__, SerializationException):
        return problem(400, "malformed_json", "The body is not valid JSON", error.detail)
    code = _CODES_BY_STATUS.get(error.status_code, "http_error")
    title = _TITLES.get(error.status_code, "Error")
    response = problem(error.status_code, code, title, error.detail)
    response.headers.update(error.headers or {})  # Allow, for a 405
    return response


def _refused_by_the_database(error: BaseException) -> bool:
    return isinstance(error, asyncpg.DataError) or (
        isinstance(error, OverflowError)
        and any(
            frame.f_globals.get("__name__", "").startswith("asyncpg")
            for frame, _ in traceback.walk_tb(error.__traceback__)
        )
    )


def _unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    dependency = outage_of(error)
    if dependency is not None:  # not a bug: said once by the outage log, not per request
        outage = unavailable(dependency)
        outage.__cause__ = error
        return _problem_error(request, outage)
    if isinstance(error, RecursionError):  # input nested past what a decoder could follow
        return _problem_error(request, too_deep())
    if _refused_by_the_database(error):  # a value past what its column holds (a date, say)
        return problem(
            422, "invalid_value", "The request is not valid", f"a value is out of range: {error}"
        )
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(500, "internal_error", "Internal error", "an unexpected error occurred")


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    ProblemError: _problem_error,
    ValidationException: _validation,
    HTTPException: _http,
    Exception: _unexpected,
}
