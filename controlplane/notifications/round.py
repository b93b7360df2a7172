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
from controlplane.errors import ProblemError
from controlplane.metrics import ALERT_DELIVERIES
from controlplane.notifications.senders import SendFailed, send
from controlplane.sealing import Sealer
from controlplane.settings import Settings

log = logging.getLogger(__name__)


async def deliver_due(pool: asyncpg.Pool, sealer: Sealer, settings: Settings) -> int:
    """Send what is due; returns how many were delivered."""
    # A lease outlives a send that times out, so a slow channel is not sent to twice.
    leased = await deliveries.lease_due(pool, settings.alert_send_timeout_seconds * 3 + 5)
    per_channel: dict[object, list[Leased]] = defaultdict(list)
    for lease in leased:
        per_channel[lease.channel_id].append(lease)
    done = await asyncio.gather(
        *(_send_in_order(pool, sealer, settings, batch) for batch in per_channel.values())
    )
    return sum(done)


async def _send_in_order(
    pool: asyncpg.Pool, sealer: Sealer, settings: Settings, batch: list[Leased]
) -> int:
    delivered = 0
    try:
        channel = await channels.get_channel(pool, batch[0].channel_id)
        opened = await channels.opened(pool, sealer, channel)
    except ProblemError as error:  # deleted meanwhile, or its secret no longer opens
        for lease in batch:
            await deliveries.not_delivered(pool, lease, error.detail, final=True)
        return 0
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
            gave_up = await deliveries.not_delivered(pool, lease, failed.reason, final=failed.final)
            ALERT_DELIVERIES.labels(channel.type, "failed" if gave_up else "retried").inc()
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
                for later in batch[n + 1 :]:
                    await deliveries.not_delivered(
                        pool, later, f"not tried: {failed.reason}", final=False
                    )
                    ALERT_DELIVERIES.labels(channel.type, "retried").inc()
                break
            continue
        if await deliveries.delivered(pool, lease):
            delivered += 1
            ALERT_DELIVERIES.labels(
                channel.type, "digest" if message.event == "digest" else "delivered"
            ).inc()
    return delivered
