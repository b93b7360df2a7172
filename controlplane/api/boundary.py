"""What a request must be before any handler sees it (see controlplane.input_limits)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, SerializationException, ValidationException
from litestar.types import ASGIApp, Empty, Receive, Scope, Send

from controlplane.input_limits import check_json_shape, holds_nul_escape, nul_refused
from controlplane.schemas import refusal


class CheckedRequest(Request[Any, Any, Any]):
    """Every JSON body is checked before it is decoded, then decoded straight into the type
    the handler takes, strictly: ``"5"`` is no number and ``0`` no boolean, as the OpenAPI
    document says (Litestar's own conversion would coerce them). A route that refuses NUL
    per item itself (``opt={"nul": "per_item"}``) gets the body with its NULs."""

    async def body(self) -> bytes:
        body = await super().body()
        if not body and _takes_a_body(self.route_handler):
            # Litestar would pass no `data` at all, and its error names only the parameter.
            message = "the body is empty: this operation takes a JSON body"
            raise ValidationException(
                detail=message, extra=[{"message": message, "key": "", "source": "body"}]
            )
        return body

    async def json(self) -> Any:
        if self._json is Empty and self._connection_state.json is Empty:
            body = await self.body()
            check_json_shape(body)
            if self.route_handler.opt.get("nul") != "per_item" and holds_nul_escape(body):
                raise nul_refused("the body")
            into = _body_type(self.route_handler)
            if into is not None:
                self._json = self._connection_state.json = _decoded(body or b"null", into)
        return await super().json()


def _takes_a_body(handler: Any) -> bool:
    """Whether the handler needs a JSON body (a `data` parameter without a default)."""
    data = handler.parsed_fn_signature.parameters.get("data")
    return data is not None and not data.has_default


def _body_type(handler: Any) -> Any:
    data = handler.parsed_fn_signature.parameters.get("data")
    return None if data is None else data.annotation


def _decoded(body: bytes, into: Any) -> Any:
    try:
        return msgspec.json.decode(body, type=into, strict=True)
    except msgspec.ValidationError as error:
        message, where = refusal(error)
        key = where.lstrip(".")
        raise ValidationException(
            detail=message, extra=[{"message": message, "key": key, "source": "body"}]
        ) from None
    except msgspec.DecodeError as error:
        raise ClientException(f"the body is not valid JSON: {error}") from SerializationException(
            str(error)
        )


def refuse_nul_in_url(app: ASGIApp) -> ASGIApp:
    """An ASGI middleware: 422 for a path or query string holding NUL (the database would
    refuse it in a search, a name...)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"")
        ):
            raise nul_refused("the URL")
        await app(scope, receive, send)

    return middleware
