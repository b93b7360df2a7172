"""Users, their passwords and sessions, and the throttling of failed logins."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Literal

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from controlplane.engine.access.audit import CLI, Actor, record
from controlplane.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    TooManyRequests,
    Unauthorized,
)

Role = Literal["admin", "developer", "operator"]
ROLES: tuple[Role, ...] = ("admin", "developer", "operator")

# A login is throttled per account and client together, and per client across accounts —
# never per account alone, so that nobody can lock a person out from elsewhere. Past its free
# failures in an hour, each further failure of a key locks it for 1, 2, 4 … seconds, up to
# MAX_LOCK_SECONDS. A quiet hour forgets the run.
FREE_FAILURES_PER_ACCOUNT_AND_CLIENT = 5
FREE_FAILURES_PER_CLIENT = 20
MAX_LOCK_SECONDS = 900

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106) parameters


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    email: str
    name: str
    role: Role
    # Their password was chosen by someone else (the first start, an admin): until they
    # choose their own, they are served nothing else.
    must_change_password: bool = False

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> User:
        return cls(row["id"], row["email"], row["name"], row["role"], row["must_change_password"])


# -- passwords -------------------------------------------------------------------------------


async def hash_password(password: str) -> str:
    # Hashing takes tens of milliseconds of CPU by design: off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


@functools.cache
def _decoy_hash() -> str:
    """Verified against when the email is unknown, so that both cases take as long."""
    return _hasher.hash(secrets.token_urlsafe(16))


def check_new_password(password: str) -> None:
    if len(password) < 12:
        raise InvalidRequest("weak_password", "a password needs at least 12 characters")
    if len(password) > 1024:
        raise InvalidRequest("invalid_request", "a password has at most 1024 characters")


# -- users -----------------------------------------------------------------------------------

_CREATE_USER = """
INSERT INTO users (email, name, role, password_hash, must_change_password)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (lower(email)) DO NOTHING
RETURNING id, email, name, role, must_change_password
"""
_USER_FOR_LOGIN = """
SELECT id, email, name, role, must_change_password, password_hash, disabled FROM users
WHERE lower(email) = lower($1)
"""
_COUNT_USERS = "SELECT count(*) FROM users"


async def create_user(
    pool: asyncpg.Pool,
    email: str,
    name: str,
    role: Role,
    password: str,
    actor: Actor = CLI,
    *,
    must_change_password: bool = False,
) -> User:
    """A new user; with ``must_change_password``, the password is only good for choosing
    their own at the first login."""
    check_new_password(password)
    if "@" not in email.strip("@"):
        raise InvalidRequest("invalid_email", f"{email!r} is not an email address")
    password_hash = await hash_password(password)
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(
            _CREATE_USER, email, name, role, password_hash, must_change_password
        )
        if row is None:
            raise Conflict("email_taken", f"a user with the email {email} exists already")
        details = {"email": email, "role": role, "mustChangePassword": must_change_password}
        await record(connection, actor, "user.created", "user", row["id"], details)
    return User.from_row(row)


async def count_users(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval(_COUNT_USERS))


# -- logging in ------------------------------------------------------------------------------

# Every attempt is counted when it starts, before its password is checked, so that attempts
# made at once cannot all pass a check made before any failure was written: the counter
# serializes them, and the attempt that passes the free failures locks the ones after it. A
# locked key does not count (or lengthen its lock) an attempt it refuses; such an attempt
# leaves last_at as it was, which tells it apart from a counted one (last_at = now()).
_COUNT_ATTEMPT = """
INSERT INTO login_failures AS f (key, free_failures, failures, last_at)
SELECT key, free, 1, now() FROM unnest($1::text[], $2::int[]) AS k(key, free)
ON CONFLICT (key) DO UPDATE SET
    free_failures = excluded.free_failures,
    failures = CASE WHEN f.locked_until > now() THEN f.failures
                    WHEN f.last_at < now() - interval '1 hour' THEN 1
                    ELSE f.failures + 1 END,
    locked_until = CASE
        WHEN f.locked_until > now() THEN f.locked_until
        WHEN f.last_at >= now() - interval '1 hour' AND f.failures + 1 > excluded.free_failures
        THEN now() + make_interval(
            secs => least(power(2, f.failures - excluded.free_failures), $3::float8))
        END,
    last_at = CASE WHEN f.locked_until > now() THEN f.last_at ELSE now() END
RETURNING key, last_at = now() AS counted,
          extract(epoch FROM f.locked_until - now()) AS locked_for
"""
# A success takes back its attempt: the account and client start afresh, and the client's
# count of failures loses the one counted for it.
_FORGET_ACCOUNT_FAILURES = "DELETE FROM login_failures WHERE key = $1"
_UNCOUNT_CLIENT_ATTEMPT = """
UPDATE login_failures SET failures = greatest(failures - 1, 0) WHERE key = $1
"""


async def _count_attempt(
    pool: asyncpg.Pool, keys: list[str], free: list[int], refused_as: str
) -> None:
    """Count an attempt at a password against each key, or refuse it (``refused_as``, the
    problem's code) while one is locked."""
    counted = await pool.fetch(_COUNT_ATTEMPT, keys, free, MAX_LOCK_SECONDS)
    refused = [row["locked_for"] for row in counted if not row["counted"]]
    if refused:
        raise TooManyRequests(
            refused_as,
            "too many wrong passwords; try again later",
            retry_after=float(max(refused)),
        )


async def log_in(pool: asyncpg.Pool, email: str, password: str, client: str) -> User:
    """The user with these credentials; the same refusal whether the email exists or not."""
    account_and_client = f"account:{email.strip().lower()}|client:{client}"
    keys = [account_and_client, f"client:{client}"]
    free = [FREE_FAILURES_PER_ACCOUNT_AND_CLIENT, FREE_FAILURES_PER_CLIENT]
    await _count_attempt(pool, keys, free, "login_throttled")
    row = await pool.fetchrow(_USER_FOR_LOGIN, email.strip())
    matches = await verify_password(row["password_hash"] if row else _decoy_hash(), password)
    if row is None or not matches or row["disabled"]:
        raise Unauthorized("invalid_credentials", "the email or the password is not right")
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(_FORGET_ACCOUNT_FAILURES, account_and_client)
        await connection.execute(_UNCOUNT_CLIENT_ATTEMPT, keys[1])
    return User.from_row(row)


# -- sessions --------------------------------------------------------------------------------

_OPEN_SESSION = """
INSERT INTO sessions (id, user_id, refresh_hash, expires_at, client, user_agent)
VALUES ($1, $2, $3, now() + make_interval(days => $4), $5, $6)
"""
# Only the newest refresh token of a session works, and only once.
_ROTATE = """
UPDATE sessions s SET refresh_hash = $3, refreshed_at = now()
FROM users u
WHERE s.id = $1 AND s.refresh_hash = $2 AND s.revoked_at IS NULL AND s.expires_at > now()
  AND u.id = s.user_id AND NOT u.disabled
RETURNING u.id, u.email, u.name, u.role, u.must_change_password
"""
_REVOKE = "UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL"
_SESSION_USER = """
SELECT u.id, u.email, u.name, u.role, u.must_change_password
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND NOT u.disabled
"""


@dataclass(frozen=True)
class Session:
    id: uuid.UUID
    refresh_token: str  # "<session id>.<secret>", shown to the client only


def _parse_refresh_token(token: str) -> tuple[uuid.UUID, str] | None:
    session_id, _, secret = token.partition(".")
    try:
        return (uuid.UUID(session_id), secret) if secret else None
    except ValueError:
        return None


def _new_secret() -> tuple[str, bytes]:
    secret = secrets.token_urlsafe(32)
    return secret, hashlib.sha256(secret.encode()).digest()


async def open_session(
    pool: asyncpg.Pool, user: User, days: int, client: str, user_agent: str
) -> Session:
    session_id = uuid.uuid4()
    secret, secret_hash = _new_secret()
    actor = Actor(user.email, user.id, client, user_agent)
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(
            _OPEN_SESSION, session_id, user.id, secret_hash, days, client, user_agent[:500]
        )
        await record(connection, actor, "user.logged_in", "session", session_id)
    return Session(session_id, f"{session_id}.{secret}")


async def refresh_session(pool: asyncpg.Pool, token: str) -> tuple[User, Session]:
    """A new refresh token for the session, which the old one no longer opens.

    A refresh token presented a second time means it was copied: the session is revoked.
    """
    parsed = _parse_refresh_token(token)
    if parsed is None:
        raise Unauthorized("session_expired", "log in again")
    session_id, old_secret = parsed
    secret, secret_hash = _new_secret()
    old_hash = hashlib.sha256(old_secret.encode()).digest()
    row = await pool.fetchrow(_ROTATE, session_id, old_hash, secret_hash)
    if row is None:
        await revoke_session(pool, session_id)
        raise Unauthorized("session_expired", "log in again")
    return User.from_row(row), Session(session_id, f"{session_id}.{secret}")


async def revoke_session(
    pool: asyncpg.Pool, session_id: uuid.UUID, actor: Actor | None = None
) -> None:
    """End a session; ``actor`` is who logged out (None: the engine ended it, unaudited)."""
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(_REVOKE, session_id)
        if actor is not None:
            await record(connection, actor, "user.logged_out", "session", session_id)


_LIST_SESSIONS = """
SELECT id, created_at, refreshed_at, expires_at, client, user_agent FROM sessions
WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()
ORDER BY refreshed_at DESC, id
"""
# A user ends their own sessions only.
_REVOKE_OWN = """
UPDATE sessions SET revoked_at = now()
WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now()
"""


@dataclass(frozen=True)
class SessionRecord:
    id: uuid.UUID
    created_at: dt.datetime
    refreshed_at: dt.datetime
    expires_at: dt.datetime
    client: str | None
    user_agent: str | None


async def list_sessions(pool: asyncpg.Pool, user_id: uuid.UUID) -> list[SessionRecord]:
    """The user's live sessions, the one used last first."""
    return [SessionRecord(**row) for row in await pool.fetch(_LIST_SESSIONS, user_id)]


async def revoke_own_session(
    pool: asyncpg.Pool, user_id: uuid.UUID, session_id: uuid.UUID, actor: Actor
) -> None:
    """End one of the user's live sessions (another browser's, or this one)."""
    async with pool.acquire() as connection, connection.transaction():
        if await connection.execute(_REVOKE_OWN, session_id, user_id) != "UPDATE 1":
            raise NotFound("session_not_found", f"no live session {session_id} of yours")
        await record(connection, actor, "user.session_revoked", "session", session_id)


async def session_user(pool: asyncpg.Pool, session_id: uuid.UUID) -> User | None:
    """The user of a live session: None once it is revoked or expired, or the user disabled."""
    row = await pool.fetchrow(_SESSION_USER, session_id)
    return None if row is None else User.from_row(row)


# -- changing one's password ----------------------------------------------------------------

# Wrong current passwords are throttled like failed logins: a stolen session cookie does not
# buy unlimited guesses at the password behind it.
FREE_WRONG_PASSWORDS = 5
_PASSWORD_HASH = "SELECT password_hash FROM users WHERE id = $1 AND NOT disabled"
# A password of one's own: whatever someone else chose before is no longer required away.
_SET_PASSWORD = """
UPDATE users SET password_hash = $2, must_change_password = false, updated_at = now()
WHERE id = $1
"""
# Whoever knew the old password is logged out everywhere but here.
_REVOKE_OTHERS = """
UPDATE sessions SET revoked_at = now()
WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL AND expires_at > now()
"""


async def change_password(
    pool: asyncpg.Pool,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    current: str,
    new: str,
    actor: Actor,
) -> int:
    """Set a new password, given the current one; every other session of the user ends.
    Returns how many ended."""
    check_new_password(new)
    key = f"password:{user_id}"
    await _count_attempt(pool, [key], [FREE_WRONG_PASSWORDS], "password_throttled")
    password_hash = await pool.fetchval(_PASSWORD_HASH, user_id)
    if password_hash is None or not await verify_password(password_hash, current):
        raise Forbidden("wrong_password", "the current password is not right")
    await pool.execute(_FORGET_ACCOUNT_FAILURES, key)  # the right one: guesses start afresh
    if current == new:
        raise InvalidRequest("same_password", "the new password is the current one")
    new_hash = await hash_password(new)
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(_SET_PASSWORD, user_id, new_hash)
        ended = int((await connection.execute(_REVOKE_OTHERS, user_id, session_id)).split()[-1])
        await record(
            connection, actor, "user.password_changed", "user", user_id, {"sessionsEnded": ended}
        )
    return ended


# -- one-time links to set a new password (an admin's reset) ------------------------------

RESET_LINK_HOURS = 24

# One live link per user: a new one replaces the one before, which stops working.
_ISSUE_RESET = """
INSERT INTO password_resets (user_id, token_hash, created_by, expires_at)
SELECT id, $2, $3, now() + make_interval(hours => $4) FROM users WHERE id = $1
ON CONFLICT (user_id) DO UPDATE SET
    token_hash = excluded.token_hash, created_by = excluded.created_by,
    created_at = now(), expires_at = excluded.expires_at
RETURNING expires_at
"""
_RESET_IS_LIVE = """
SELECT 1 FROM password_resets r JOIN users u ON u.id = r.user_id
WHERE r.token_hash = $1 AND r.expires_at > now() AND NOT u.disabled
"""
# The link works once: deleting it is the check, so two uses at once cannot both set a
# password. It is dead once expired, and for a user who was disabled meanwhile.
_USE_RESET = """
WITH used AS (
    DELETE FROM password_resets r USING users u
    WHERE r.token_hash = $1 AND r.expires_at > now() AND u.id = r.user_id AND NOT u.disabled
    RETURNING r.user_id
)
UPDATE users u SET password_hash = $2, must_change_password = false, updated_at = now()
FROM used WHERE u.id = used.user_id
RETURNING u.id, u.email
"""
# Whoever had a session had it with a password the user no longer answers for.
_REVOKE_ALL = "UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL"


@dataclass(frozen=True)
class ResetLink:
    token: str  # shown once, to the admin who asked for it; only its hash is kept
    expires_at: dt.datetime


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def issue_password_reset(pool: asyncpg.Pool, actor: Actor, user_id: uuid.UUID) -> ResetLink:
    """A one-time link for the user to choose a new password. Their current password keeps
    working until the link is used; disable the user to stop it at once."""
    if actor.user_id == user_id:
        # One's own goes through the current password (and its throttle): a stolen session
        # cookie must not trade for the account.
        raise Forbidden("reset_own_password", "change your own password with the current one")
    token = secrets.token_urlsafe(32)
    async with pool.acquire() as connection, connection.transaction():
        expires_at = await connection.fetchval(
            _ISSUE_RESET, user_id, _token_hash(token), actor.user_id, RESET_LINK_HOURS
        )
        if expires_at is None:
            raise NotFound("user_not_found", f"no user {user_id}")
        details = {"expiresAt": expires_at.isoformat()}
        await record(connection, actor, "user.password_reset_issued", "user", user_id, details)
    return ResetLink(token, expires_at)


_DEAD_LINK = "this link is unknown, used or expired: ask an admin for a new one"


async def use_password_reset(
    pool: asyncpg.Pool, token: str, new: str, client: str, user_agent: str | None
) -> str:
    """Set the password a reset link was issued for; every session of the user ends.
    Returns the user's email, for the login that follows."""
    check_new_password(new)
    token_hash = _token_hash(token)
    # A dead link costs one lookup, not a password hash: guessing is cheap to refuse.
    if await pool.fetchval(_RESET_IS_LIVE, token_hash) is None:
        raise InvalidRequest("reset_link_invalid", _DEAD_LINK)
    new_hash = await hash_password(new)
    async with pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(_USE_RESET, token_hash, new_hash)
        if row is None:  # used or expired while the password was hashed
            raise InvalidRequest("reset_link_invalid", _DEAD_LINK)
        ended = int((await connection.execute(_REVOKE_ALL, row["id"])).split()[-1])
        actor = Actor(row["email"], row["id"], client, user_agent)
        details = {"sessionsEnded": ended}
        await record(connection, actor, "user.password_reset", "user", row["id"], details)
    return str(row["email"])


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# -- managing users (admins) -----------------------------------------------------------------


@dataclass(frozen=True)
class UserRecord:
    id: uuid.UUID
    email: str
    name: str
    role: Role
    disabled: bool
    application_ids: list[uuid.UUID]
    must_change_password: bool


_LIST_USERS = """
SELECT u.id, u.email, u.name, u.role, u.disabled, u.must_change_password,
       coalesce(array_agg(m.application_id ORDER BY m.application_id)
                FILTER (WHERE m.application_id IS NOT NULL), '{}') AS application_ids
FROM users u LEFT JOIN memberships m ON m.user_id = u.id
WHERE $1::uuid IS NULL OR u.id = $1
GROUP BY u.id ORDER BY lower(u.email)
"""
# The last enabled admin may not be demoted or disabled: someone must be able to manage
# the installation. Locking every admin row serialises concurrent changes of admins.
_CHANGE_USER = """
WITH admins AS (
    SELECT id FROM users WHERE role = 'admin' AND NOT disabled FOR UPDATE
)
UPDATE users u SET
    name = coalesce($2, u.name),
    role = coalesce($3, u.role),
    disabled = coalesce($4, u.disabled),
    updated_at = now()
WHERE u.id = $1
  AND (coalesce($3, u.role) = 'admin' AND NOT coalesce($4, u.disabled)
       OR u.id NOT IN (SELECT id FROM admins)
       OR (SELECT count(*) FROM admins) > 1)
RETURNING u.id
"""
_USER_EXISTS = "SELECT 1 FROM users WHERE id = $1"
_SET_MEMBERSHIPS = """
WITH wanted AS (SELECT unnest($2::uuid[]) AS application_id),
dropped AS (
    DELETE FROM memberships m WHERE m.user_id = $1
      AND m.application_id NOT IN (SELECT application_id FROM wanted)
)
INSERT INTO memberships (user_id, application_id)
SELECT $1, w.application_id FROM wanted w JOIN applications a ON a.id = w.application_id
ON CONFLICT DO NOTHING
"""
_UNKNOWN_APPLICATIONS = """
SELECT w.id FROM unnest($1::uuid[]) AS w(id)
WHERE NOT EXISTS (SELECT 1 FROM applications a WHERE a.id = w.id)
"""


def _user_record(row: asyncpg.Record) -> UserRecord:
    return UserRecord(
        row["id"],
        row["email"],
        row["name"],
        row["role"],
        row["disabled"],
        list(row["application_ids"]),
        row["must_change_password"],
    )


async def list_users(pool: asyncpg.Pool) -> list[UserRecord]:
    return [_user_record(row) for row in await pool.fetch(_LIST_USERS, None)]


async def get_user(pool: asyncpg.Pool, user_id: uuid.UUID) -> UserRecord:
    row = await pool.fetchrow(_LIST_USERS, user_id)
    if row is None:
        raise NotFound("user_not_found", f"no user {user_id}")
    return _user_record(row)


async def change_user(
    pool: asyncpg.Pool,
    actor: Actor,
    user_id: uuid.UUID,
    *,
    name: str | None = None,
    role: Role | None = None,
    disabled: bool | None = None,
) -> UserRecord:
    async with pool.acquire() as connection, connection.transaction():
        changed = await connection.fetchval(_CHANGE_USER, user_id, name, role, disabled)
        if changed is None:
            if await connection.fetchval(_USER_EXISTS, user_id) is None:
                raise NotFound("user_not_found", f"no user {user_id}")
            raise Conflict("last_admin", "the last enabled admin must stay an enabled admin")
        changes = {"name": name, "role": role, "disabled": disabled}
        details = {key: value for key, value in changes.items() if value is not None}
        await record(connection, actor, "user.changed", "user", user_id, details)
    return await get_user(pool, user_id)


async def set_memberships(
    pool: asyncpg.Pool, actor: Actor, user_id: uuid.UUID, application_ids: list[uuid.UUID]
) -> UserRecord:
    """Make the user a member of exactly these applications."""
    unknown = await pool.fetch(_UNKNOWN_APPLICATIONS, application_ids)
    if unknown:
        raise InvalidRequest(
            "unknown_application", f"no application {', '.join(str(r['id']) for r in unknown)}"
        )
    async with pool.acquire() as connection, connection.transaction():
        if await connection.fetchval(_USER_EXISTS, user_id) is None:
            raise NotFound("user_not_found", f"no user {user_id}")
        await connection.execute(_SET_MEMBERSHIPS, user_id, application_ids)
        details = {"applicationIds": sorted(str(i) for i in application_ids)}
        await record(connection, actor, "user.memberships_set", "user", user_id, details)
    return await get_user(pool, user_id)
