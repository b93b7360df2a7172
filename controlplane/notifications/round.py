"""The built-in worker's notifications: lease what is due, send it, record how it went.

Each round leases what is due and sends each channel's burst in a task of its own, its
messages in order. A channel that does not answer holds only its own burst, for at most the
send timeout: never another channel's, nor the next round, nor the job path (which does not
wait on notifications at all). A channel with a burst under way, in this process or another,
is left out of the rounds until it ends (deliveries.lease_due).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable

import asyncpg

from controlplane.engine.alerts import channels, deliveries
from controlplane.engine.alerts.deliveries import Leased
from controlplane.engine.outcome import Outcome
from controlplane.errors import ProblemError
from controlplane.metrics import ALERT_DELIVERIES
from controlplane.notifications.senders import SendFailed, send
from controlplane.sealing import Sealer
from controlplane.settings import Settings

log = logging.getLogger(__name__)


class Notifier:
    """Sends the notifications due, round after round (the built-in worker calls
    :meth:`round` every few seconds, and at once when an alert changes).

    A round leases what is due on the channels with no burst under way and sends each
    channel's burst in a task of its own. After each send the alert it told of is announced
    live (its page lists each notification's fate) and the rest of the burst's lease is
    renewed for one more send.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        sealer: Callable[[], Sealer],
        settings: Settings,
        apply: Callable[[Outcome], Awaitable[object]],
        failed: Callable[[BaseException, str], None],
    ) -> None:
        self._pool = pool
        # Asked for only when there is something to send: a process set up with no key to
        # seal with starts (and runs everything else) all the same.
        self._sealer = sealer
        self._settings = settings
        self._apply = apply
        self._failed = failed
        # A send's slot outlives its timeouts (connecting, writing, reading).
        self._slot = settings.alert_send_timeout_seconds * 3 + 5
        # Channel id -> its burst under way here, with the burst's lease token.
        self._sending: dict[uuid.UUID, tuple[asyncio.Task[None], uuid.UUID]] = {}

    async def round(self) -> None:
        """Lease what is due and start sending it, a task per channel."""
        bursts: dict[uuid.UUID, list[Leased]] = defaultdict(list)
        for lease in await deliveries.lease_due(self._pool, self._slot, self._sending):
            bursts[lease.channel_id].append(lease)
        for channel_id, burst in bursts.items():
            task = asyncio.create_task(self._send(burst))
            self._sending[channel_id] = (task, burst[0].token)
            task.add_done_callback(lambda _, channel_id=channel_id: self._sending.pop(channel_id))

    async def settled(self) -> None:
        """Wait for the bursts under way."""
        while self._sending:
            await asyncio.wait({task for task, _ in self._sending.values()})

    async def stop(self) -> None:
        """Stop the bursts under way, and hand back what they had not sent: due again at
        once, with the same delivery ids."""
        stopped = list(self._sending.values())
        for task, _ in stopped:
            task.cancel()
        await asyncio.gather(*(task for task, _ in stopped), return_exceptions=True)
        if stopped:
            with contextlib.suppress(Exception):  # the database is gone: the leases expire
                await deliveries.release(self._pool, {token for _, token in stopped})

    async def _send(self, burst: list[Leased]) -> None:
        try:
            await self._send_in_order(burst)
        except Exception as error:
            # The database went away, most likely: the leases expire and it is sent again.
            self._failed(error, f"notifications to channel {burst[0].channel_id} stopped")

    async def _send_in_order(self, burst: list[Leased]) -> None:
        pool, settings = self._pool, self._settings
        try:
            channel = await channels.get_channel(pool, burst[0].channel_id)
            opened = await channels.opened(pool, self._sealer(), channel)
        except ProblemError as error:  # deleted meanwhile, or its secret no longer opens
            await deliveries.not_delivered(pool, burst, error.detail, final=True, delay=0)
            await self._tell(burst)
            return
        for n, lease in enumerate(burst):
            message = await deliveries.message_of(pool, lease.delivery_id)
            try:
                await send(
                    opened,
                    message,
                    public_url=settings.public_url,
                    timeout_seconds=settings.alert_send_timeout_seconds,
                    allowed=settings.alerts_allow,
                )
            except SendFailed as failed:
                delay = deliveries.backoff(lease.attempt)
                retried, gave_up = await deliveries.not_delivered(
                    pool, [lease], failed.reason, final=failed.final, delay=delay
                )
                _count(channel.type, retried, gave_up)
                log.warning(
                    "alert notification %s to channel %s %s: %s",
                    lease.delivery_id,
                    channel.name,
                    "failed for good" if gave_up else "failed; trying again later",
                    failed.reason,
                )
                if not failed.final:
                    # The channel is down: the rest wait with it (in order) rather than each
                    # waiting out the timeout now.
                    rest = burst[n + 1 :]
                    _count(
                        channel.type,
                        *await deliveries.not_delivered(
                            pool, rest, f"not tried: {failed.reason}", final=False, delay=delay
                        ),
                    )
                    await self._tell([lease, *rest])
                    return
            else:
                if await deliveries.delivered(pool, lease):
                    ALERT_DELIVERIES.labels(
                        channel.type, "digest" if message.event == "digest" else "delivered"
                    ).inc()
            await self._tell([lease])
            await deliveries.renew(pool, lease.token, self._slot)

    async def _tell(self, leases: list[Leased]) -> None:
        """Announce the alerts these notifications told of: their pages show it live."""
        notified = await deliveries.alerts_of(self._pool, leases)
        await self._apply(Outcome(notified=tuple(notified)))


def _count(channel_type: str, retried: int, failed: int) -> None:
    ALERT_DELIVERIES.labels(channel_type, "retried").inc(retried)
    ALERT_DELIVERIES.labels(channel_type, "failed").inc(failed)
