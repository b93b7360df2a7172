"""Where artifact bytes live: files under the data dir, or an S3-compatible bucket.

A store writes a stream under a key it is given, counting and hashing as it goes, and refuses
more than the limit; nothing half-written is ever visible under the key. A download is the
file itself (local) or a presigned URL the browser is sent to (S3), which S3 serves as an
attachment from its own origin.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import quote

from controlplane.errors import TooLarge

# Uploads to S3 are spooled in memory up to this, then on disk.
SPOOL_BYTES = 8 << 20


@dataclass(frozen=True)
class Stored:
    size: int
    sha256: str


@dataclass(frozen=True)
class LocalFile:
    path: Path


@dataclass(frozen=True)
class Redirect:
    url: str


class ArtifactStore(Protocol):
    async def write(
        self, key: str, chunks: AsyncIterator[bytes], limit: int, content_type: str
    ) -> Stored: ...

    async def delete(self, key: str) -> None: ...

    def download(
        self, key: str, filename: str, content_type: str, seconds: int
    ) -> LocalFile | Redirect: ...


async def _copy(
    chunks: AsyncIterator[bytes], limit: int, write: Callable[[bytes], object]
) -> Stored:
    digest, size = hashlib.sha256(), 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise TooLarge("artifact_too_large", f"an artifact may hold {limit} bytes")
        digest.update(chunk)
        await asyncio.to_thread(write, chunk)
    return Stored(size, digest.hexdigest())


class LocalStore:
    """Files under a directory: one API host, or a volume every API host mounts."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, key: str) -> Path:
        # Keys are made of ids by the control plane, never of what a client sent.
        return self.root / key

    async def write(
        self, key: str, chunks: AsyncIterator[bytes], limit: int, content_type: str
    ) -> Stored:
        target = self.path_of(key)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        try:
            with open(partial, "wb") as file:  # noqa: ASYNC230 - each write runs off the loop
                stored = await _copy(chunks, limit, file.write)
            await asyncio.to_thread(os.replace, partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return stored

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path_of(key).unlink, True)

    def download(
        self, key: str, filename: str, content_type: str, seconds: int
    ) -> LocalFile | Redirect:
        return LocalFile(self.path_of(key))


class S3Store:
    """A bucket of S3 or anything that speaks its API (MinIO, Ceph, R2...). Credentials and
    region come from the usual AWS settings (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
    ``AWS_REGION``, or an instance role)."""

    def __init__(self, url: str, endpoint_url: str | None = None) -> None:
        try:
            import boto3
        except ImportError:  # pragma: no cover - depends on the installation
            raise RuntimeError(
                "an s3:// artifact store needs boto3: pip install 'pipelogiq[s3]'"
            ) from None
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client: Any = boto3.client("s3", endpoint_url=endpoint_url)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    async def write(
        self, key: str, chunks: AsyncIterator[bytes], limit: int, content_type: str
    ) -> Stored:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            stored = await _copy(chunks, limit, spool.write)
            spool.seek(0)
            await asyncio.to_thread(self._upload, spool, key, content_type)
        return stored

    def _upload(self, file: IO[bytes], key: str, content_type: str) -> None:
        # Multipart for large files; the object appears whole, or not at all.
        self.client.upload_fileobj(
            file, self.bucket, self._key(key), ExtraArgs={"ContentType": content_type}
        )

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=self._key(key))

    def download(
        self, key: str, filename: str, content_type: str, seconds: int
    ) -> LocalFile | Redirect:
        disposition = f"attachment; filename*=UTF-8''{quote(filename, safe='')}"
        url = self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(key),
                "ResponseContentDisposition": disposition,
                "ResponseContentType": content_type,
            },
            ExpiresIn=max(1, seconds),
        )
        return Redirect(url)


def store_for(url: str | None, data_dir: Path, endpoint_url: str | None) -> ArtifactStore:
    """The store a setting names: ``s3://bucket/prefix``, or the data dir when unset."""
    if url:
        return S3Store(url, endpoint_url)
    return LocalStore(data_dir / "artifacts")
