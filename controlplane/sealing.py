"""Sealing secrets kept in the database (connection passwords): AES-256-GCM, each under a
fresh nonce and bound to the row it belongs to, so a sealed value copied to another row does
not open there.

The key is ``PIPELOGIQ_CONNECTION_KEY`` (32 bytes, base64); without it, one derived from
``PIPELOGIQ_JWT_SECRET`` with HKDF, so that a development install needs nothing more.
Changing the key makes the stored passwords unreadable: set them again.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE = 12


class Unsealable(Exception):
    """A sealed value that does not open under this key (another key, or another row's)."""


def key_from(configured: str | None, jwt_secret: str | None) -> bytes:
    """The 32-byte key: the configured one, or one derived from the JWT secret."""
    if configured:
        try:
            key = base64.b64decode(configured, validate=True)
        except binascii.Error:
            raise ValueError("PIPELOGIQ_CONNECTION_KEY is not base64") from None
        if len(key) != 32:
            raise ValueError("PIPELOGIQ_CONNECTION_KEY must be 32 bytes, base64-encoded")
        return key
    if not jwt_secret:
        raise ValueError("set PIPELOGIQ_CONNECTION_KEY (or PIPELOGIQ_JWT_SECRET)")
    derive = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"pipelogiq connections")
    return derive.derive(jwt_secret.encode())


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, secret: str, bound_to: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, secret.encode(), bound_to)

    def open(self, sealed: bytes, bound_to: bytes) -> str:
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], bound_to).decode()
        except (InvalidTag, ValueError):
            raise Unsealable("the sealed value does not open under this key") from None
