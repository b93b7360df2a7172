"""The built-in worker's delivery round: lease what is due, send it, record how it went.

Channels are sent to side by side, each channel's messages in order; a channel that does not
answer holds only its own deliveries, for at most the send timeout, and never the job path
(which does not wait on this round at all).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

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


async def deliver_due(pool: asyncpg.Pool, sealer: Sealer, settings: Settings) -> Outcome:
    """Send what is due; the outcome names the alerts whose notifications moved on, for
    their pages to show it live."""
    # A lease outlives a send that times out, so a slow channel is not sent to twice.
    leased = await deliveries.lease_due(pool, settings.alert_send_timeout_seconds * 3 + 5)
    per_channel: dict[object, list[Leased]] = defaultdict(list)
    for lease in leased:
        per_channel[lease.channel_id].append(lease)
    await asyncio.gather(
        *(_send_in_order(pool, sealer, settings, batch) for batch in per_channel.values())
    )
    return Outcome(notified=tuple(await deliveries.alerts_of(pool, leased)))


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
