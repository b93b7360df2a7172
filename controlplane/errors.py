"""Errors that become problem documents (RFC 9457) with a stable ``code``.

Services raise these; the API maps every one of them to ``application/problem+json`` in one
place (:mod:`controlplane.api.problems`). A client branches on ``code``, never on ``detail``.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_JSON = "application/problem+json"


def problem_body(status: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    """A problem document's fields, as every endpoint of every process answers them."""
    return {
        "type": "about:blank",
        "title": title,
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }


class ProblemError(Exception):
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra


class InvalidRequest(ProblemError):
    status = 422
    title = "The request is not valid"


class Unauthorized(ProblemError):
    status = 401
    title = "Not authenticated"


class NotFound(ProblemError):
    status = 404
    title = "Not found"


class Conflict(ProblemError):
    status = 409
    title = "Conflict"


class Unavailable(ProblemError):
    status = 503
    title = "Temporarily unavailable"


class Forbidden(ProblemError):
    status = 403
    title = "Forbidden"


class TooLarge(ProblemError):
    status = 413
    title = "Request too large"


class UnsupportedMediaType(ProblemError):
    status = 415
    title = "Unsupported media type"


class TooManyRequests(ProblemError):
    """Carries ``retry_after`` (seconds), sent as the Retry-After header too."""

    status = 429
    title = "Too many requests"
