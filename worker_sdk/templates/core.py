"""The core templates: an HTTP request, a delay, and a transform of JSON by expressions."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

import httpx
import msgspec

from worker_sdk.context import JobContext
from worker_sdk.errors import RetryableError, TerminalError
from worker_sdk.templates import template
from worker_sdk.templates.expressions import ExpressionError, render

# An answer's body is kept in the output up to this many bytes (outputs are stored in
# PostgreSQL; large data belongs in a dataset, not in a stage's output).
MAX_BODY_BYTES = 1_000_000


class HttpRequest(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(pattern=r"^https?://")]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    headers: dict[str, str] = {}
    # A JSON body; or `body`, sent as text. Not both.
    json: Any = None
    body: str | None = None
    # The statuses that count as success; by default any 2xx.
    expected_status: list[int] = []
    timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0


@template(
    "http.request",
    group="core",
    version="1",
    summary="Send an HTTP request; retried on network errors and 5xx, failed on other statuses.",
)
async def http_request(ctx: JobContext, request: HttpRequest) -> dict[str, Any]:
    if request.json is not None and request.body is not None:
        raise TerminalError("give json or body, not both", code="invalid_input")
    try:
        async with (
            httpx.AsyncClient(timeout=request.timeout_seconds) as client,
            client.stream(
                request.method,
                request.url,
                headers=request.headers,
                json=request.json,
                content=request.body,
            ) as response,
        ):
            # Read no more than is kept: a huge answer must not fill the worker's memory.
            content = await _read_at_most(response, MAX_BODY_BYTES + 1)
    except httpx.TransportError as error:
        raise RetryableError(
            f"{request.method} {request.url}: {error!r}", code="network_error"
        ) from error
    expected = request.expected_status or range(200, 300)
    ctx.log.info("%s %s: %s", request.method, request.url, response.status_code)
    if response.status_code not in expected:
        failure = RetryableError if response.status_code >= 500 else TerminalError
        raise failure(
            f"{request.method} {request.url} answered {response.status_code}: "
            f"{content[:300].decode(errors='replace')}",
            code=f"http_{response.status_code}",
        )
    return {
        "status": response.status_code,
        "headers": dict(response.headers),
        **_body(content, response.headers.get("content-type", "")),
    }


async def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def _body(content: bytes, content_type: str) -> dict[str, Any]:
    if len(content) > MAX_BODY_BYTES:
        return {"text": content[:MAX_BODY_BYTES].decode(errors="replace"), "truncated": True}
    if "json" in content_type:
        try:
            return {"json": msgspec.json.decode(content)}
        except msgspec.DecodeError:
            pass
    return {"text": content.decode(errors="replace")} if content else {}


class Delay(msgspec.Struct, forbid_unknown_fields=True):
    seconds: Annotated[float, msgspec.Meta(ge=0, le=86_400)]


@template(
    "delay",
    group="core",
    version="1",
    summary="Wait, then complete; it holds one of the worker's slots while it waits.",
)
async def delay(ctx: JobContext, wait: Delay) -> dict[str, float]:
    ctx.log.info("waiting %s s", wait.seconds)
    await asyncio.sleep(wait.seconds)
    return {"waitedSeconds": wait.seconds}


class Transform(msgspec.Struct, forbid_unknown_fields=True):
    # The output to produce: JSON in which each string that starts with "=" is an expression.
    output: Any = None
    # Context values to set, the same way.
    context: dict[str, Any] = {}
    # What the expressions see as `data` (the other names are `deps` and `context`).
    data: Any = None


@template(
    "transform",
    group="core",
    version="1",
    summary="Reshape JSON with safe expressions over the input, dependencies' outputs and context.",
)
def transform(ctx: JobContext, spec: Transform) -> Any:
    names = {"data": spec.data, "deps": dict(ctx.dependencies), "context": dict(ctx.context)}
    try:
        updates = {key: render(value, names) for key, value in spec.context.items()}
        output = render(spec.output, names)
    except ExpressionError as error:
        raise TerminalError(str(error), code="invalid_expression") from error
    for key, value in updates.items():
        ctx.set_context(key, value)
    return output
