"""The core templates: an HTTP request, a delay, and a transform of JSON by expressions."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

import httpx
import msgspec

from worker_sdk.context import JobContext
from worker_sdk.errors import RetryableError, TerminalError
from worker_sdk.templates import network, template
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
        # To a checked address only: see worker_sdk.templates.network. A redirect is not
        # followed: it is the answer (a failure, unless expectedStatus lists it).
        async with network.send(
            request.method,
            request.url,
            headers=request.headers,
            json=request.json,
            content=request.body,
            timeout_seconds=request.timeout_seconds,
        ) as response:
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
        # In one render, so that the sizes of all the values produced count together.
        updates, output = render([spec.context, spec.output], names)
    except ExpressionError as error:
        raise TerminalError(str(error), code=error.code) from error
    for key, value in updates.items():
        ctx.set_context(key, value)
    return output


class Approval(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    # What the people deciding read, and anything that helps them (JSON, up to 64 KiB).
    message: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    details: Any = None
    deadline_seconds: Annotated[float, msgspec.Meta(gt=0, le=30 * 86_400)] = 86_400.0
    # What an approval left undecided past its deadline means.
    on_timeout: Literal["reject", "approve"] = "reject"
    # How often the decision is looked for.
    poll_seconds: Annotated[float, msgspec.Meta(ge=0.05, le=60)] = 2.0


class _ApprovalState(msgspec.Struct, rename="camel"):
    id: str
    status: str
    deadline: str
    decided_by: str | None = None
    comment: str | None = None
    decided_at: str | None = None


@template(
    "approval",
    group="core",
    version="1",
    summary="Wait for a person to approve (the stage completes) or reject (it fails), "
    "before a deadline.",
)
async def approval(ctx: JobContext, request: Approval) -> dict[str, Any]:
    if ctx.control_plane is None:
        raise TerminalError(
            "the approval template needs a worker connected to the control plane",
            code="no_control_plane",
        )
    opened = {
        "jobId": ctx.job_id,
        "message": request.message,
        "details": request.details,
        "deadlineSeconds": request.deadline_seconds,
    }
    # The same approval again if an earlier job of this stage opened it: its worker vanished.
    state = await ctx.control_plane.call("POST", "/approvals", _ApprovalState, opened)
    ctx.log.info("waiting for approval %s until %s", state.id, state.deadline)
    while state.status == "pending":
        for _ in range(max(1, round(request.poll_seconds / 0.05))):
            if ctx.cancelled.is_set():
                raise TerminalError("cancelled while waiting for approval", code="cancelled")
            await asyncio.sleep(0.05)
        state = await ctx.control_plane.call("GET", f"/approvals/{state.id}", _ApprovalState)
    decided = {
        "approvalId": state.id,
        "decidedBy": state.decided_by,
        "comment": state.comment,
        "decidedAt": state.decided_at,
    }
    if state.status == "approved":
        ctx.log.info("approved by %s", state.decided_by)
        return {"approved": True, **decided}
    if state.status == "rejected":
        reason = f": {state.comment}" if state.comment else ""
        raise TerminalError(f"rejected by {state.decided_by}{reason}", code="rejected")
    if state.status == "expired" and request.on_timeout == "approve":
        ctx.log.warning("no decision before the deadline %s: approved by default", state.deadline)
        return {"approved": True, "expired": True, **decided}
    if state.status == "expired":
        raise TerminalError(
            f"no decision before the deadline {state.deadline}", code="approval_expired"
        )
    raise TerminalError(f"the approval is {state.status}", code=f"approval_{state.status}")
