"""Wire shapes of the internal API (camelCase on the wire, unknown fields refused)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from msgspec import Meta, Struct

Email = Annotated[str, Meta(min_length=3, max_length=320)]


class _Request(Struct, rename="camel", forbid_unknown_fields=True):
    pass


class _Response(Struct, rename="camel"):
    pass


class LoginRequest(_Request):
    email: Email
    password: Annotated[str, Meta(min_length=1, max_length=1024)]


class UserView(_Response):
    id: uuid.UUID
    email: str
    name: str
    role: Literal["admin", "developer", "operator"]


class SessionView(_Response):
    user: UserView
    # Send it back in the X-CSRF-Token header with every POST, PUT, PATCH and DELETE.
    csrf_token: str
    access_expires_in_seconds: int
