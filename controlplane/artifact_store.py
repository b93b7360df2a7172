"""Where artifact bytes live: files under the data dir (one API host, or a shared volume).

A store writes a stream under a key it is given, counting and hashing as it goes, and refuses
more than the limit; nothing half-written is ever visible under the key.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from controlplane.errors import ProblemError

CHUNK = 1 << 20


class TooLarge(ProblemError):
    status = 413
    title = "Request too large"


@dataclass(frozen=True)
class Stored:
    size: int
    sha256: str


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, key: str) -> Path:
        # Keys are made of ids by the control plane, never of what a client sent.
        return self.root / key

    async def write(self, key: str, chunks: AsyncIterator[bytes], limit: int) -> Stored:
        target = self.path_of(key)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        digest, size = hashlib.sha256(), 0
        try:
            with open(partial, "wb") as file:  # noqa: ASYNC230 - written a chunk at a time, off the loop
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge("artifact_too_large", f"an artifact may hold {limit} bytes")
                    digest.update(chunk)
                    await asyncio.to_thread(file.write, chunk)
            await asyncio.to_thread(os.replace, partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return Stored(size, digest.hexdigest())

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path_of(key).unlink, True)
