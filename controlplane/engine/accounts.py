"""Users, their passwords and sessions, and the throttling of failed logins."""

from __future__ import annotations

import asyncio
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

from controlplane.errors import Conflict, InvalidRequest, TooManyRequests, Unauthorized

Role = Literal["admin", "developer", "operator"]
ROLES: tuple[Role, ...] = ("admin", "developer", "operator")

# Failures allowed per account and per client before each further one locks the login for
# 1, 2, 4 … seconds, up to 15 minutes. A quiet hour forgets the run.
FREE_FAILURES = 5
MAX_LOCK_SECONDS = 900

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106) parameters


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    email: str
    name: str
    role: Role

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> User:
        return cls(row["id"], row["email"], row["name"], row["role"])


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
INSERT INTO users (email, name, role, password_hash) VALUES ($1, $2, $3, $4)
ON CONFLICT (lower(email)) DO NOTHING
RETURNING id, email, name, role
"""
_USER_FOR_LOGIN = """
SELECT id, email, name, role, password_hash, disabled FROM users WHERE lower(email) = lower($1)
"""
_COUNT_USERS = "SELECT count(*) FROM users"


async def create_user(pool: asyncpg.Pool, email: str, name: str, role: Role, password: str) -> User:
    check_new_password(password)
    if "@" not in email.strip("@"):
        raise InvalidRequest("invalid_email", f"{email!r} is not an email address")
    row = await pool.fetchrow(_CREATE_USER, email, name, role, await hash_password(password))
    if row is None:
        raise Conflict("email_taken", f"a user with the email {email} exists already")
    return User.from_row(row)


async def count_users(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval(_COUNT_USERS))


# -- logging in ------------------------------------------------------------------------------

_LOCKED_FOR = """
SELECT extract(epoch FROM max(locked_until) - now()) FROM login_failures
WHERE key = ANY($1::text[]) AND locked_until > now()
"""
_RECORD_FAILURE = """
INSERT INTO login_failures AS f (key, failures)
SELECT key, 1 FROM unnest($1::text[]) AS key
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN f.last_at < now() - interval '1 hour' THEN 1 ELSE f.failures + 1 END,
    locked_until = CASE
        WHEN f.last_at >= now() - interval '1 hour' AND f.failures + 1 > $2
        THEN now() + make_interval(secs => least(power(2, f.failures - $2), $3))
        END,
    last_at = now()
"""
_FORGET_FAILURES = "DELETE FROM login_failures WHERE key = $1"


async def log_in(pool: asyncpg.Pool, email: str, password: str, client: str) -> User:
    """The user with these credentials; the same refusal whether the email exists or not."""
    keys = [f"account:{email.strip().lower()}", f"client:{client}"]
    locked_for = await pool.fetchval(_LOCKED_FOR, keys)
    if locked_for is not None:
        raise TooManyRequests(
            "login_throttled",
            "too many failed logins; try again later",
            retry_after=float(locked_for),
        )
    row = await pool.fetchrow(_USER_FOR_LOGIN, email.strip())
    matches = await verify_password(row["password_hash"] if row else _decoy_hash(), password)
    if row is None or not matches or row["disabled"]:
        await pool.execute(_RECORD_FAILURE, keys, FREE_FAILURES, MAX_LOCK_SECONDS)
        raise Unauthorized("invalid_credentials", "the email or the password is not right")
    await pool.execute(_FORGET_FAILURES, keys[0])
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
RETURNING u.id, u.email, u.name, u.role
"""
_REVOKE = "UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL"
_SESSION_USER = """
SELECT u.id, u.email, u.name, u.role FROM sessions s JOIN users u ON u.id = s.user_id
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
    await pool.execute(
        _OPEN_SESSION, session_id, user.id, secret_hash, days, client, user_agent[:500]
    )
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


async def revoke_session(pool: asyncpg.Pool, session_id: uuid.UUID) -> None:
    await pool.execute(_REVOKE, session_id)


async def session_user(pool: asyncpg.Pool, session_id: uuid.UUID) -> User | None:
    """The user of a live session: None once it is revoked or expired, or the user disabled."""
    row = await pool.fetchrow(_SESSION_USER, session_id)
    return None if row is None else User.from_row(row)


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
