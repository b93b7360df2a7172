"""Notifications waiting to be sent: leased, rate limited per channel, folded into digests.

A built-in worker leases a channel's due deliveries (``FOR UPDATE SKIP LOCKED`` on the
channel, so two workers never send one channel's burst at once), sends them outside the
transaction, and records each outcome under its lease token. A worker that dies holding a
lease leaves it to expire: the delivery is sent again with the same id, which the receiver
deduplicates by (at least once to the channel; exactly once in our records).

Each channel sends at most ``rate_limit_per_minute`` messages a minute. When more are due
than the minute has room for, all but one go individually and the rest are folded into one
digest, a delivery of its own that names how many it stands for.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg

from controlplane.engine.outcome import AlertChange

# Attempts before a delivery is marked failed, and the backoff between them.
MAX_ATTEMPTS = 8
_BACKOFF_SECONDS = 5.0
_BACKOFF_MAX_SECONDS = 600.0
# Notifications one digest lists (it counts all it stands for).
DIGEST_LISTS = 20
_CHANNELS_PER_ROUND = 50
_DUE_PER_CHANNEL = 1000

# Whether anything is due at all: the leasing transaction runs only then.
_ANY_DUE = """
SELECT EXISTS (SELECT 1 FROM alert_deliveries WHERE status = 'pending' AND next_attempt_at <= now())
    OR EXISTS (SELECT 1 FROM alert_deliveries WHERE status = 'sending' AND leased_until < now())
"""

_DUE_CHANNELS = """
SELECT c.id, c.rate_limit_per_minute,
       CASE WHEN c.window_started_at > now() - interval '1 minute'
            THEN c.sent_in_window ELSE 0 END AS sent
FROM alert_channels c
WHERE (EXISTS (SELECT 1 FROM alert_deliveries d
               WHERE d.channel_id = c.id AND d.status = 'pending' AND d.next_attempt_at <= now())
       OR EXISTS (SELECT 1 FROM alert_deliveries d
                  WHERE d.channel_id = c.id AND d.status = 'sending' AND d.leased_until < now()))
  -- One burst per channel at a time, in this process or another: its messages stay in order,
  -- and a channel that hangs is not sent a second burst meanwhile.
  AND NOT EXISTS (SELECT 1 FROM alert_deliveries d
                  WHERE d.channel_id = c.id AND d.status = 'sending' AND d.leased_until >= now())
  AND c.id <> ALL ($2::uuid[])
LIMIT $1
FOR UPDATE OF c SKIP LOCKED
"""

# Asked again once the channel is locked, in a statement of its own (and so a snapshot of its
# own): a burst leased by a worker that committed after the statement above began shows here.
_DUE = """
SELECT id, event_id, status FROM alert_deliveries
WHERE channel_id = $1 AND (status = 'pending' AND next_attempt_at <= now()
                           OR status = 'sending' AND leased_until < now())
  AND NOT EXISTS (SELECT 1 FROM alert_deliveries d
                  WHERE d.channel_id = $1 AND d.status = 'sending' AND d.leased_until >= now())
ORDER BY created_at, id
LIMIT $2
"""

# A burst is leased for one send's slot ($3), and its sender renews what is left of it after
# each send: a slow channel is not sent to twice, and a burst whose worker died is taken up
# again a slot later. RETURNING follows no order: n gives the burst's.
_LEASE = """
UPDATE alert_deliveries d SET status = 'sending', lease_token = $2, attempts = attempts + 1,
       leased_until = now() + make_interval(secs => $3)
FROM unnest($1::uuid[]) WITH ORDINALITY AS u (id, n)
WHERE d.id = u.id AND d.status IN ('pending', 'sending')
RETURNING d.id, d.attempts, u.n
"""

_RENEW = """
UPDATE alert_deliveries SET leased_until = now() + make_interval(secs => $2)
WHERE lease_token = $1 AND status = 'sending'
"""

# A burst stopped before it was sent (its worker stopping): due again at once, the try it was
# leased for not counted.
_RELEASE = """
UPDATE alert_deliveries SET status = 'pending', attempts = greatest(0, attempts - 1),
       lease_token = NULL, leased_until = NULL, next_attempt_at = now()
WHERE lease_token = ANY ($1::uuid[]) AND status = 'sending'
"""

_DIGEST = """
INSERT INTO alert_deliveries (id, channel_id, application_id, status, folded, lease_token,
                              attempts, leased_until)
SELECT $1, c.id, c.application_id, 'sending', $3, $4, 1, now() + make_interval(secs => $5)
FROM alert_channels c WHERE c.id = $2
"""

_FOLD = """
UPDATE alert_deliveries SET status = 'digested', digest_id = $2
WHERE id = ANY ($1::uuid[]) AND status = 'pending'
"""

_COUNT_SENT = """
UPDATE alert_channels SET
    sent_in_window = CASE WHEN window_started_at > now() - interval '1 minute'
                          THEN sent_in_window + $2 ELSE $2 END,
    window_started_at = CASE WHEN window_started_at > now() - interval '1 minute'
                             THEN window_started_at ELSE now() END
WHERE id = $1
"""

# Only the holder of the lease records its outcome.
_DELIVERED = """
UPDATE alert_deliveries SET status = 'delivered', delivered_at = now(), last_error = NULL,
       lease_token = NULL, leased_until = NULL
WHERE id = $1 AND lease_token = $2 AND status = 'sending'
"""

# One statement for a whole burst: a channel that is down puts off all it had due at once,
# all to one time, so that they stay in order.
_RETRY = """
UPDATE alert_deliveries d SET
    status = CASE WHEN u.give_up THEN 'failed' ELSE 'pending' END,
    next_attempt_at = now() + make_interval(secs => $3),
    last_error = $2, lease_token = NULL, leased_until = NULL
FROM unnest($4::uuid[], $5::bool[]) AS u (id, give_up)
WHERE d.id = u.id AND d.lease_token = $1 AND d.status = 'sending'
RETURNING d.id, u.give_up
"""

# What one delivery says: its event and alert, or (a digest) the ones it stands for.
_MESSAGE = """
SELECT d.id AS delivery_id, d.channel_id, d.attempts, d.folded, e.kind AS event, e.actor,
       e.note, e.at, a.id AS alert_id, a.rule_id, a.rule_name, a.condition_type, a.severity,
       a.subject_kind, a.subject_key, a.subject_name, a.status, a.summary, a.details::text,
       a.occurrences, a.opened_at, a.acknowledged_at, a.resolved_at, a.resolved_by,
       app.id AS application_id, app.name AS application_name
FROM alert_deliveries d
JOIN applications app ON app.id = d.application_id
LEFT JOIN alert_events e ON e.id = d.event_id
LEFT JOIN alerts a ON a.id = e.alert_id
WHERE d.id = $1
"""

_FOLDED = """
SELECT e.kind AS event, e.at, a.id AS alert_id, a.rule_name, a.severity, a.subject_name,
       a.summary, a.status
FROM alert_deliveries d JOIN alert_events e ON e.id = d.event_id
JOIN alerts a ON a.id = e.alert_id
WHERE d.digest_id = $1
ORDER BY e.id
LIMIT $2
"""

_FOLDED_KINDS = """
SELECT e.kind, count(*) FROM alert_deliveries d JOIN alert_events e ON e.id = d.event_id
WHERE d.digest_id = $1 GROUP BY e.kind
"""


# The alerts a round's deliveries tell of, directly or folded into a digest.
_ALERTS_OF = """
SELECT DISTINCT a.id, a.application_id, a.status
FROM alert_deliveries d
JOIN alert_events e ON e.id = d.event_id
JOIN alerts a ON a.id = e.alert_id
WHERE d.id = ANY ($1::uuid[]) OR d.digest_id = ANY ($1::uuid[])
"""


@dataclass(frozen=True)
class Leased:
    delivery_id: uuid.UUID
    channel_id: uuid.UUID
    token: uuid.UUID
    attempt: int


async def lease_due(
    pool: asyncpg.Pool, slot_seconds: float, sending: Iterable[uuid.UUID] = ()
) -> list[Leased]:
    """Lease what is due on the channels with no burst under way (here: ``sending``; or in
    any worker), within their rate limits: each channel's burst in the order to send it,
    for one send's ``slot_seconds`` (see :func:`renew`)."""
    if not await pool.fetchval(_ANY_DUE):
        return []
    token = uuid.uuid4()
    leased: list[Leased] = []
    async with pool.acquire() as db, db.transaction():
        for channel in await db.fetch(_DUE_CHANNELS, _CHANNELS_PER_ROUND, list(sending)):
            room = channel["rate_limit_per_minute"] - channel["sent"]
            if room <= 0:
                continue  # the minute is full: what is due waits for the next
            due = await db.fetch(_DUE, channel["id"], _DUE_PER_CHANNEL)
            alone = due if len(due) <= room else due[: room - 1]
            folded = [
                row["id"]
                for row in due[len(alone) :]
                if row["event_id"] is not None and row["status"] == "pending"
            ]
            rows = await db.fetch(_LEASE, [row["id"] for row in alone], token, slot_seconds)
            for row in sorted(rows, key=lambda row: row["n"]):
                leased.append(Leased(row["id"], channel["id"], token, row["attempts"]))
            sent = len(alone)
            if folded:
                digest_id = uuid.uuid4()
                await db.execute(
                    _DIGEST,
                    digest_id,
                    channel["id"],
                    len(folded),
                    token,
                    slot_seconds,
                )
                await db.execute(_FOLD, folded, digest_id)
                leased.append(Leased(digest_id, channel["id"], token, 1))
                sent += 1
            await db.execute(_COUNT_SENT, channel["id"], sent)
    return leased


async def delivered(pool: asyncpg.Pool, leased: Leased) -> bool:
    """Record it sent; False if the lease was lost meanwhile (then it is sent again)."""
    return await pool.execute(_DELIVERED, leased.delivery_id, leased.token) == "UPDATE 1"


async def renew(pool: asyncpg.Pool, token: uuid.UUID, slot_seconds: float) -> None:
    """What is left of a burst is held one more send's slot."""
    await pool.execute(_RENEW, token, slot_seconds)


async def release(pool: asyncpg.Pool, tokens: Iterable[uuid.UUID]) -> None:
    """Bursts stopped before they were sent: due again at once, for any worker."""
    await pool.execute(_RELEASE, list(tokens))


async def not_delivered(
    pool: asyncpg.Pool, leases: list[Leased], error: str, *, final: bool, delay: float
) -> tuple[int, int]:
    """Record failed tries (or deliveries not tried, their channel down): each tried again
    ``delay`` seconds from now, or (``final``, or out of attempts) marked failed for good.
    Returns how many will be tried again and how many failed for good (leases lost
    meanwhile: neither)."""
    if not leases:
        return 0, 0
    [token] = {lease.token for lease in leases}  # one round's leases
    rows = await pool.fetch(
        _RETRY,
        token,
        error[:1000],
        delay,
        [lease.delivery_id for lease in leases],
        [final or lease.attempt >= MAX_ATTEMPTS for lease in leases],
    )
    failed = sum(1 for row in rows if row["give_up"])
    return len(rows) - failed, failed


async def alerts_of(pool: asyncpg.Pool, leases: list[Leased]) -> list[AlertChange]:
    """The alerts whose notifications these are (a digest's: every alert it folds)."""
    if not leases:
        return []
    rows = await pool.fetch(_ALERTS_OF, [lease.delivery_id for lease in leases])
    return [AlertChange(row["id"], row["application_id"], row["status"]) for row in rows]


def backoff(attempt: int) -> float:
    """Seconds before the next try: exponential, capped, with jitter so that a channel
    that comes back is not hit by every delivery at once."""
    ceiling = min(_BACKOFF_SECONDS * 2 ** (attempt - 1), _BACKOFF_MAX_SECONDS)
    return ceiling * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class Message:
    """What one delivery tells: an alert's transition, or a digest of several."""

    delivery_id: uuid.UUID
    channel_id: uuid.UUID
    application_id: uuid.UUID
    application_name: str
    # opened, acknowledged, resolved; or digest
    event: str
    at: dt.datetime
    alert: dict[str, Any] | None
    # A digest: how many notifications it stands for, by event, and the first of them.
    folded: int = 0
    folded_events: dict[str, int] | None = None
    folded_alerts: list[dict[str, Any]] | None = None


async def message_of(pool: asyncpg.Pool, delivery_id: uuid.UUID) -> Message:
    row = await pool.fetchrow(_MESSAGE, delivery_id)
    if row["event"] is None:
        listed = await pool.fetch(_FOLDED, delivery_id, DIGEST_LISTS)
        kinds = await pool.fetch(_FOLDED_KINDS, delivery_id)
        return Message(
            delivery_id,
            row["channel_id"],
            row["application_id"],
            row["application_name"],
            "digest",
            max((r["at"] for r in listed), default=dt.datetime.now(dt.UTC)),
            None,
            row["folded"],
            {r["kind"]: r["count"] for r in kinds},
            [dict(r) for r in listed],
        )
    alert = {key: row[key] for key in _ALERT_FIELDS}
    alert["id"] = row["alert_id"]
    return Message(
        delivery_id,
        row["channel_id"],
        row["application_id"],
        row["application_name"],
        row["event"],
        row["at"],
        alert,
    )


_ALERT_FIELDS = (
    "rule_id",
    "rule_name",
    "condition_type",
    "severity",
    "subject_kind",
    "subject_key",
    "subject_name",
    "status",
    "summary",
    "details",
    "occurrences",
    "opened_at",
    "acknowledged_at",
    "resolved_at",
    "resolved_by",
    "actor",
    "note",
)
