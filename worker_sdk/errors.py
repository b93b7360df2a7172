"""Exceptions a handler raises to say how it failed, and those the SDK raises to its caller."""

from __future__ import annotations

from typing import Any


class HandlerError(Exception):
    """Base of the errors a handler raises on purpose; ``code`` is stored with the failure."""

    retryable: bool = True

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class RetryableError(HandlerError):
    """The job failed but may succeed later: it is retried while retries remain.

    Any other exception a handler raises is treated the same way.
    """

    retryable = True


class TerminalError(HandlerError):
    """The job failed and retrying cannot help: the stage fails at once."""

    retryable = False


class ApiError(Exception):
    """The control plane refused a request (a 4xx answer); retrying it unchanged won't help.

    ``code`` is the stable code from the problem document (``pipeline_not_found``,
    ``invalid_request``...); branch on it, never on ``detail``.
    """

    def __init__(self, status: int, code: str, detail: str, problem: dict[str, Any]) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.problem = problem


class Unavailable(Exception):
    """The control plane could not be reached, or answered 5xx/429, after every retry.

    ``status`` is the last answer's HTTP status (None when there was no answer), and
    ``retry_after`` the seconds its ``Retry-After`` header asked to wait (None without one).
    """

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
