"""/api/ws: live updates for the dashboard, over one WebSocket per tab.

One subscription to the broker's update fanout per API process feeds every socket of that
process (so it works with several API processes and with both brokers). A socket gets only
the events of the applications its user sees, numbered 1, 2, 3… for that socket alone. When
the process may have missed events (a gap in a publisher's numbers, or a socket too slow to
keep up), the socket gets ``{"type": "resync"}``: refetch what is on screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from controlplane.api.internal.session import services_of, session_id_of
from controlplane.broker import Broker
from controlplane.engine.access.accounts import session_user
from controlplane.engine.access.applications import list_applications
from controlplane.errors import ProblemError

log = logging.getLogger(__name__)

# Events a socket may have waiting; past that it is told to resync instead.
BACKLOG = 1000
# A socket's user and memberships are read again this often, so a revoked session or a
# changed membership takes effect on open sockets too.
RECHECK_SECONDS = 30.0


@dataclass(eq=False)
class _Socket:
    application_ids: set[str] | None  # None: every application (an admin)
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(BACKLOG))
    resync: bool = False

    def offer(self, event: dict[str, Any]) -> None:
        items = [
            item
            for item in event.get("items", [])
            if self.application_ids is None or item.get("applicationId") in self.application_ids
        ]
        if not items:
            return
        try:
            self.queue.put_nowait({"type": event["type"], "items": items})
        except asyncio.QueueFull:
            self.resync = True


class LiveHub:
    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._sockets: set[_Socket] = set()
        self._task: asyncio.Task[None] | None = None
        self._last_seq: dict[str, int] = {}

    def join(self, application_ids: set[str] | None) -> _Socket:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._relay())
        socket = _Socket(application_ids)
        self._sockets.add(socket)
        return socket

    def leave(self, socket: _Socket) -> None:
        self._sockets.discard(socket)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _relay(self) -> None:
        while True:
            try:
                async for body in self._broker.subscribe_updates():
                    self._dispatch(body)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("live updates interrupted; resubscribing", exc_info=True)
                self._everyone_resyncs()
                await asyncio.sleep(1)

    def _dispatch(self, body: bytes) -> None:
        try:
            event = msgspec.json.decode(body)
            source, seq = str(event["source"]), int(event["seq"])
        except (msgspec.DecodeError, KeyError, TypeError, ValueError):
            return
        last = self._last_seq.get(source)
        self._last_seq[source] = seq
        if last is not None and seq != last + 1:
            self._everyone_resyncs()
        for socket in list(self._sockets):
            socket.offer(event)

    def _everyone_resyncs(self) -> None:
        for socket in self._sockets:
            socket.resync = True


async def _visible_applications(socket: WebSocket[Any, Any, Any]) -> set[str] | None:
    """The applications the socket's user sees (None: all); raises if the session ended."""
    services = services_of(socket)
    user = await session_user(services.pool, session_id_of(socket))
    if user is None or user.must_change_password:  # nothing to see before that choice
        raise ProblemError("session_expired", "log in again")
    if user.role == "admin":
        return None
    records = await list_applications(services.pool, user_id=user.id, every=False)
    return {str(record.id) for record in records}


def _same_origin(socket: WebSocket[Any, Any, Any]) -> bool:
    origin = socket.headers.get("origin")
    return origin is None or origin.split("://", 1)[-1] == socket.headers.get("host", "")


@websocket("/ws")
async def live_updates(socket: WebSocket[Any, Any, Any]) -> None:
    # Browsers send cookies with a cross-site WebSocket handshake, so the Origin is checked
    # before anything else: a foreign page must not read someone's updates.
    if not _same_origin(socket):
        await socket.close(code=4403, reason="foreign origin")
        return
    try:
        visible = await _visible_applications(socket)
    except ProblemError:
        await socket.close(code=4401, reason="not authenticated")
        return
    await socket.accept()
    hub: LiveHub = socket.app.state.live
    subscription = hub.join(visible)
    # The client's messages are only read to see it close: without a reader, its close frame
    # would wait unanswered until its own timeout.
    sending = asyncio.create_task(_send_events(socket, subscription))
    listening = asyncio.create_task(_until_closed(socket))
    try:
        await asyncio.wait({sending, listening}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.leave(subscription)
        for task in (sending, listening):
            task.cancel()
        await asyncio.gather(sending, listening, return_exceptions=True)
    if sending.done() and not sending.cancelled() and isinstance(sending.exception(), ProblemError):
        with contextlib.suppress(Exception):
            await socket.close(code=4401, reason="session ended")


async def _until_closed(socket: WebSocket[Any, Any, Any]) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await socket.receive_data(mode="text")


async def _send_events(socket: WebSocket[Any, Any, Any], subscription: _Socket) -> None:
    sequence = 0
    loop = asyncio.get_running_loop()
    recheck_at = loop.time() + RECHECK_SECONDS
    await socket.send_json({"type": "hello", "seq": sequence})
    while True:
        if subscription.resync:
            subscription.resync = False
            while not subscription.queue.empty():
                subscription.queue.get_nowait()
            sequence += 1
            await socket.send_json({"type": "resync", "seq": sequence})
        try:
            event = await asyncio.wait_for(subscription.queue.get(), timeout=1.0)
        except TimeoutError:
            if loop.time() >= recheck_at:
                subscription.application_ids = await _visible_applications(socket)
                recheck_at = loop.time() + RECHECK_SECONDS
            continue
        sequence += 1
        await socket.send_json({**event, "seq": sequence})
