"""Alert channels of an application: where its alerts are sent.

Three kinds, each with a config of its own. What is secret (a webhook's signing secret, a
Slack incoming-webhook URL, which is its own credential, an SMTP password) is sealed
(:mod:`controlplane.sealing`, bound to the channel's id) and never read back: the views hold
the rest and ``hasSecret``. As with connections, moving a channel's mail to another server
needs the password given again, so that whoever may edit a channel cannot learn it by
pointing the channel at a server of theirs.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from msgspec import Meta, Struct

from controlplane.engine.access.audit import Actor, record
from controlplane.errors import Conflict, InvalidRequest, NotFound
from controlplane.schemas import PLAIN_TEXT
from controlplane.sealing import Sealer, Unsealable

Kind = Literal["webhook", "slack", "email"]
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
NAME_RULE = "letters, digits and _ . - (up to 100), starting with a letter or digit"

Url = Annotated[str, Meta(min_length=8, max_length=2000, pattern=r"^https?://[^\s\x00-\x1f\x7f]+$")]
Secret = Annotated[str, Meta(min_length=8, max_length=500, pattern=PLAIN_TEXT)]
Address = Annotated[
    str,
    Meta(min_length=3, max_length=320, pattern=r"^[^\s@\x00-\x1f\x7f]+@[^\s@\x00-\x1f\x7f]+$"),
]
Host = Annotated[str, Meta(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\[\]-]+$")]


class _Config(Struct, rename="camel", forbid_unknown_fields=True, frozen=True):
    pass


class WebhookConfig(_Config):
    url: Url
    # Signs each body: X-Pipelogiq-Signature: sha256=<hex HMAC-SHA256 of the raw body>.
    secret: Secret | None = None


class SlackConfig(_Config):
    # A Slack (or compatible: Mattermost, Rocket.Chat) incoming-webhook URL.
    url: Url | None = None


class EmailConfig(_Config):
    host: Host
    sender: Address
    to: Annotated[list[Address], Meta(min_length=1, max_length=50)]
    port: Annotated[int, Meta(ge=1, le=65535)] = 587
    # Upgrade the connection with STARTTLS before logging in (and refuse to go on without).
    starttls: bool = True
    username: Annotated[str, Meta(max_length=320, pattern=PLAIN_TEXT)] | None = None
    password: Secret | None = None


_CONFIGS: dict[str, type[_Config]] = {
    "webhook": WebhookConfig,
    "slack": SlackConfig,
    "email": EmailConfig,
}
# The fields (as the wire spells them) of each kind that are sealed, never stored in the
# clear or answered.
SECRETS = {"webhook": ("secret",), "slack": ("url",), "email": ("password",)}
# What a kind cannot be sent without.
_REQUIRED_SECRETS = {"webhook": ("secret",), "slack": ("url",), "email": ()}
# Changing one of these sends the mail somewhere else: the password must be given again.
_EMAIL_TARGET = ("host", "port", "username", "starttls")

_COLUMNS = """c.id, c.application_id, a.name AS application_name, c.name, c.type, c.config,
c.sealed_secret IS NOT NULL AS has_secret, c.rate_limit_per_minute, c.created_at, c.updated_at"""

# $1 member (None: every application), $2 application.
_LIST = f"""
SELECT {_COLUMNS} FROM alert_channels c JOIN applications a ON a.id = c.application_id
WHERE ($1::uuid IS NULL OR c.application_id IN (
          SELECT m.application_id FROM memberships m WHERE m.user_id = $1))
  AND ($2::uuid IS NULL OR c.application_id = $2)
ORDER BY a.name, c.name
LIMIT 1000
"""

_GET = f"""
SELECT {_COLUMNS} FROM alert_channels c JOIN applications a ON a.id = c.application_id
WHERE c.id = $1
"""

# A name taken in the application inserts nothing.
_INSERT = """
INSERT INTO alert_channels (id, application_id, name, type, config, sealed_secret,
                            rate_limit_per_minute)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (application_id, name) DO NOTHING
RETURNING id
"""

_UPDATE = """
UPDATE alert_channels SET config = $2, sealed_secret = $3, rate_limit_per_minute = $4,
       updated_at = now()
WHERE id = $1
RETURNING id
"""

# A channel rules still send to is not deleted from under them.
_DELETE = """
DELETE FROM alert_channels c WHERE c.id = $1
  AND NOT EXISTS (SELECT 1 FROM alert_rules r WHERE c.id = ANY (r.channel_ids))
RETURNING id
"""

_USERS = "SELECT name FROM alert_rules WHERE $1 = ANY (channel_ids) ORDER BY name LIMIT 20"

_SEALED = "SELECT sealed_secret FROM alert_channels WHERE id = $1"


@dataclass(frozen=True)
class Channel:
    id: uuid.UUID
    application_id: uuid.UUID
    application_name: str
    name: str
    type: str
    # Without the secret fields.
    config: dict[str, Any]
    has_secret: bool
    rate_limit_per_minute: int
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class Opened:
    """A channel with its whole config, secrets in, for the sender."""

    channel: Channel
    config: Any  # WebhookConfig | SlackConfig | EmailConfig


def _channel(row: asyncpg.Record) -> Channel:
    values = dict(row)
    values["config"] = dict(values["config"] or {})
    return Channel(**values)


def validated(kind: str, config: dict[str, Any]) -> _Config:
    """The config of a channel of this kind, or ``invalid_config`` saying what is wrong."""
    try:
        return msgspec.convert(config, _CONFIGS[kind])
    except msgspec.ValidationError as error:
        raise InvalidRequest("invalid_config", f"a {kind} channel's config: {error}") from None


def _split(kind: str, config: _Config) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what is stored in the clear, what is sealed)."""
    values = msgspec.to_builtins(config)
    secret_fields = set(SECRETS[kind])
    clear = {k: v for k, v in values.items() if k not in secret_fields and v is not None}
    sealed = {k: v for k, v in values.items() if k in secret_fields and v is not None}
    return clear, sealed


def _seal(sealer: Sealer, channel_id: uuid.UUID, secret: dict[str, Any]) -> bytes | None:
    return sealer.seal(msgspec.json.encode(secret).decode(), channel_id.bytes) if secret else None


async def list_channels(
    pool: asyncpg.Pool, *, member: uuid.UUID | None, application_id: uuid.UUID | None
) -> list[Channel]:
    return [_channel(row) for row in await pool.fetch(_LIST, member, application_id)]


async def get_channel(pool: asyncpg.Pool, channel_id: uuid.UUID) -> Channel:
    row = await pool.fetchrow(_GET, channel_id)
    if row is None:
        raise NotFound("channel_not_found", f"no alert channel {channel_id}")
    return _channel(row)


async def create_channel(
    pool: asyncpg.Pool,
    sealer: Sealer,
    actor: Actor,
    application_id: uuid.UUID,
    name: str,
    kind: Kind,
    config: dict[str, Any],
    rate_limit_per_minute: int,
) -> Channel:
    if not NAME.fullmatch(name):
        raise InvalidRequest("invalid_name", f"an alert channel's name: {NAME_RULE}")
    checked = validated(kind, config)
    clear, secret = _split(kind, checked)
    _require_secrets(kind, secret)
    channel_id = uuid.uuid4()
    async with pool.acquire() as db, db.transaction():
        created = await db.fetchval(
            _INSERT,
            channel_id,
            application_id,
            name,
            kind,
            clear,
            _seal(sealer, channel_id, secret),
            rate_limit_per_minute,
        )
        if created is None:
            raise Conflict("channel_exists", f"the application has an alert channel {name!r}")
        await record(db, actor, "alert_channel.created", "alert_channel", created, clear)
    return await get_channel(pool, channel_id)


async def change_channel(
    pool: asyncpg.Pool,
    sealer: Sealer,
    actor: Actor,
    channel: Channel,
    config: dict[str, Any] | None,
    rate_limit_per_minute: int | None,
) -> Channel:
    """Replace the config (secret fields left out are kept) or the rate limit."""
    kept = await _open_secret(pool, sealer, channel)
    clear, secret = dict(channel.config), kept
    if config is not None:
        given_secret = {k for k in config if k in SECRETS[channel.type]}
        checked = validated(channel.type, {**kept, **config})
        clear, secret = _split(channel.type, checked)
        if channel.type == "email" and "password" in kept and "password" not in given_secret:
            moved = any(channel.config.get(k) != clear.get(k) for k in _EMAIL_TARGET)
            if moved:
                raise InvalidRequest(
                    "password_required",
                    "give the password again to change the mail server, port, user or TLS",
                )
    _require_secrets(channel.type, secret)
    limit = rate_limit_per_minute or channel.rate_limit_per_minute
    async with pool.acquire() as db, db.transaction():
        changed = await db.fetchval(
            _UPDATE,
            channel.id,
            clear,
            _seal(sealer, channel.id, secret),
            limit,
        )
        if changed is None:
            raise NotFound("channel_not_found", f"no alert channel {channel.id}")
        details = {**clear, "rateLimitPerMinute": limit, "secretChanged": secret != kept}
        await record(db, actor, "alert_channel.changed", "alert_channel", channel.id, details)
    return await get_channel(pool, channel.id)


async def delete_channel(pool: asyncpg.Pool, actor: Actor, channel: Channel) -> None:
    async with pool.acquire() as db, db.transaction():
        if await db.fetchval(_DELETE, channel.id) is None:
            users = [row["name"] for row in await db.fetch(_USERS, channel.id)]
            if users:
                raise Conflict(
                    "channel_in_use",
                    f"rules send to {channel.name}: {', '.join(users)}; take it out of them first",
                    rules=users,
                )
            raise NotFound("channel_not_found", f"no alert channel {channel.id}")
        await record(db, actor, "alert_channel.deleted", "alert_channel", channel.id, {})


async def opened(pool: asyncpg.Pool, sealer: Sealer, channel: Channel) -> Opened:
    secret = await _open_secret(pool, sealer, channel)
    return Opened(channel, msgspec.convert({**channel.config, **secret}, _CONFIGS[channel.type]))


async def _open_secret(pool: asyncpg.Pool, sealer: Sealer, channel: Channel) -> dict[str, Any]:
    sealed = await pool.fetchval(_SEALED, channel.id)
    if sealed is None:
        return {}
    try:
        return dict(msgspec.json.decode(sealer.open(bytes(sealed), channel.id.bytes)))
    except Unsealable:
        raise Conflict(
            "channel_unreadable",
            f"the secret of {channel.name} does not open under this control plane's key "
            "(PIPELOGIQ_CONNECTION_KEY changed?): set it again",
        ) from None


def _require_secrets(kind: str, secret: dict[str, Any]) -> None:
    missing = [name for name in _REQUIRED_SECRETS[kind] if name not in secret]
    if missing:
        raise InvalidRequest("invalid_config", f"a {kind} channel needs {', '.join(missing)}")


def shown_target(channel: Channel) -> str:
    """Where a channel sends, as a person may see it (a Slack URL is a secret: its host)."""
    if channel.type == "webhook":
        return str(channel.config.get("url", ""))
    if channel.type == "email":
        return ", ".join(channel.config.get("to", []))
    return "Slack incoming webhook"
