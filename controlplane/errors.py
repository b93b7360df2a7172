"""Errors that become problem documents (RFC 9457) with a stable ``code``.

Services raise these; the API maps every one of them to ``application/problem+json`` in one
place (:mod:`controlplane.api.problems`). A client branches on ``code``, never on ``detail``.
"""

from __future__ import annotations

from typing import Any

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
    """A request the product refuses, with a stable ``code`` and a ``detail`` for people.

    The kinds below say what went wrong, not how HTTP says it: the API maps each kind to a
    status and a title (:data:`controlplane.api.problems.KINDS`), the command line prints the
    detail. Raised as itself, it is a request that is wrong in some other way."""

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra


class InvalidRequest(ProblemError):
    """The request, or a value in it, is not one the product takes."""


class Unauthorized(ProblemError):
    """Who is asking is not known: no credentials, or ones that do not hold."""


class NotFound(ProblemError):
    """What the request names is not there, or not for this caller to see."""


class Conflict(ProblemError):
    """What the request names is not in a state that allows it."""


class Gone(ProblemError):
    """What the request names is known, and what it stood for is no longer there (a dataset
    version whose files were deleted)."""


class Unavailable(ProblemError):
    """Something the product needs (the database, the broker) cannot be reached now."""


class Forbidden(ProblemError):
    """The caller is known, and may not do this."""


class TooLarge(ProblemError):
    """The request, or a part of it, is over its limit."""


class UnsupportedMediaType(ProblemError):
    """The body is in a format the operation does not read."""


class TooManyRequests(ProblemError):
    """Carries ``retry_after`` (seconds), sent as the Retry-After header too."""
