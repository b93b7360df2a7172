"""The built-in worker's notifications: lease what is due, send it, record how it went.

Each round leases what is due and sends each channel's burst in a task of its own, its
messages in order. A channel that does not answer holds only its own burst, for at most the
send timeout: never another channel's, nor the next round, nor the job path (which does not
wait on notifications at all). A channel with a burst under way, in this process or another,
is left out of the rounds until it ends (deliveries.lease_due).
"""

from __future__ import annotations

import asyncio
import logging
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
    def __init__(
        self,
        pool: asyncpg.Pool,
        sealer: Callable[[], Sealer],
        settings: Settings,
        apply: Callable[[Outcome], Awaitable[object]],
    ) -> None:
        self._pool = pool
        # Asked for only when there is something to send: a process set up with no key to
        # seal with starts (and runs everything else) all the same.
        self._sealer = sealer
        self._settings = settings
        # Applies what a burst did: its alerts' pages learn it live.
        self._apply = apply
        self._sending: set[asyncio.Task[None]] = set()

    async def round(self) -> None:
        """Lease what is due and start sending it, a task per channel."""
        # A send's slot outlives its timeouts (connecting, writing, reading), so that a slow
        # channel is not sent to twice.
        timeout = self._settings.alert_send_timeout_seconds
        per_channel: dict[object, list[Leased]] = defaultdict(list)
        for lease in await deliveries.lease_due(self._pool, timeout * 3 + 5):
            per_channel[lease.channel_id].append(lease)
        for burst in per_channel.values():
            task = asyncio.create_task(self._send(burst))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def settled(self) -> None:
        """Wait for the bursts under way."""
        while self._sending:
            await asyncio.wait(set(self._sending))

    async def stop(self) -> None:
        """Stop the bursts under way: what they had not sent is leased again once their
        leases expire, and sent with the same delivery ids."""
        for task in self._sending:
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)

    async def _send(self, burst: list[Leased]) -> None:
        try:
            await _send_in_order(self._pool, self._sealer(), self._settings, burst)
            await self._apply(
                Outcome(notified=tuple(await deliveries.alerts_of(self._pool, burst)))
            )
        except Exception:
            # The database went away, most likely: the leases expire and it is sent again.
            log.exception("notifications to channel %s stopped", burst[0].channel_id)


async def _send_in_order(
    pool: asyncpg.Pool, sealer: Sealer, settings: Settings, batch: list[Leased]
) -> None:
    try:
        channel = await channels.get_channel(pool, batch[0].channel_id)
        opened = await channels.opened(pool, sealer, channel)
    except ProblemError as error:  # deleted meanwhile, or its secret no longer opens
        await deliveries.not_delivered(pool, batch, error.detail, final=True)
        return
    for n, lease in enumerate(batch):
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
            retried, gave_up = await deliveries.not_delivered(
                pool, [lease], failed.reason, final=failed.final
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
                # The channel is down: the rest wait their backoff rather than each waiting
                # out the timeout now.
                _count(
                    channel.type,
                    *await deliveries.not_delivered(
                        pool, batch[n + 1 :], f"not tried: {failed.reason}", final=False
                    ),
                )
                break
            continue
        if await deliveries.delivered(pool, lease):
            ALERT_DELIVERIES.labels(
                channel.type, "digest" if message.event == "digest" else "delivered"
            ).inc()


def _count(channel_type: str, retried: int, failed: int) -> None:
    ALERT_DELIVERIES.labels(channel_type, "retried").inc(retried)
    ALERT_DELIVERIES.labels(channel_type, "failed").inc(failed)
