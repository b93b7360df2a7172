"""Source files for ``ingest``: finding them, and cutting them into pieces tasks read alone.

CSV and JSON lines are cut at line ends into byte ranges, Parquet into row groups, so one
large file is read by many tasks at once. Cutting CSV at line ends assumes no quoted value
holds a line break (pyarrow's own default assumption); a file whose values do is read whole.
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import os
import shutil
import tempfile
import urllib.parse
from dataclasses import dataclass
from typing import Literal

import httpx
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from worker_sdk.errors import RetryableError, TerminalError
from worker_sdk.templates import network
from worker_sdk.templates.dataset.roots import allowed

Format = Literal["csv", "jsonl", "parquet"]

# The byte ranges tasks parse: at least two per CPU, so that the cores stay busy to the end,
# within these bounds (small enough to bound a task's memory, large enough that the cost of
# a task does not matter).
CHUNK_BYTES = 64 << 20
MIN_CHUNK_BYTES = 1 << 20
# Bytes read from the start of the first file to infer the columns' types.
SAMPLE_BYTES = 1 << 20

_EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass(frozen=True)
class Piece:
    """A part of one file that one task reads: a byte range, or some Parquet row groups."""

    location: str
    start: int = 0
    end: int = 0
    row_groups: tuple[int, ...] = ()


def open_input(location: str) -> pafs.NativeFile:
    filesystem, path = _filesystem(location)
    try:
        return filesystem.open_input_file(path)
    except FileNotFoundError:
        raise TerminalError(f"no such file: {location}", code="source_not_found") from None


def _filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    if "://" in location:
        filesystem, path = pafs.FileSystem.from_uri(location)
        return filesystem, str(path)
    return pafs.LocalFileSystem(), os.path.abspath(location)


def expand(sources: list[str], download_dir: str) -> list[str]:
    """Every file the sources name, each under a data root: local globs expanded, URLs
    downloaded first."""
    found: list[str] = []
    for source in sources:
        scheme = urllib.parse.urlsplit(source).scheme
        if scheme in ("http", "https"):
            found.append(_download(source, download_dir))
        elif "://" in source:
            location = allowed(source)
            filesystem, path = _filesystem(location)
            if filesystem.get_file_info(path).type == pafs.FileType.NotFound:
                raise TerminalError(f"no such file: {source}", code="source_not_found")
            found.append(location)
        else:
            pattern = os.path.expanduser(source)
            allowed(pattern)  # before looking: what exists outside the roots is not told
            matches = sorted(glob.glob(pattern))
            # Each match is checked again: a symlink inside a root may point out of it.
            files = [allowed(m) for m in matches if os.path.isfile(m)]
            if not files:
                raise TerminalError(f"no file matches {source}", code="source_not_found")
            found.extend(files)
    return found


def _download(url: str, directory: str) -> str:
    name = os.path.basename(urllib.parse.urlsplit(url).path) or "download"
    target = os.path.join(tempfile.mkdtemp(dir=directory), name)
    # The job runs on a thread of its own, with no event loop: the download gets one.
    asyncio.run(_fetch(url, target))
    return target


async def _fetch(url: str, target: str) -> None:
    try:
        # Checked, pinned and redirected as http.request is: see worker_sdk.templates.network.
        async with network.send("GET", url, timeout_seconds=60, max_redirects=5) as response:
            if response.status_code >= 500:
                raise RetryableError(f"GET {url}: {response.status_code}", code="network_error")
            if response.status_code != 200:
                raise TerminalError(f"GET {url}: {response.status_code}", code="source_not_found")
            # Blocking writes are fine: this loop is the job thread's own (see _download).
            with open(target, "wb") as file:  # noqa: ASYNC230
                async for chunk in response.aiter_bytes(1 << 20):
                    file.write(chunk)
    except httpx.TransportError as error:
        raise RetryableError(f"GET {url}: {error!r}", code="network_error") from error


def format_of(location: str, given: Format | None) -> Format:
    if given is not None:
        return given
    path = urllib.parse.urlsplit(location).path if "://" in location else location
    extension = os.path.splitext(path)[1].lower()
    if extension not in _EXTENSIONS:
        raise TerminalError(
            f"cannot tell the format of {location} from its name; give format "
            "(csv, jsonl or parquet)",
            code="invalid_input",
        )
    return _EXTENSIONS[extension]


def chunk_bytes(locations: list[str], parallelism: int) -> int:
    total = 0
    for location in locations:
        filesystem, path = _filesystem(location)
        total += filesystem.get_file_info(path).size or 0
    # As many equal ranges as every CPU can take the same number of: each range becomes a
    # fragment that the next templates' tasks take one at a time, and one short range left
    # over (341 MiB in ranges of 64: five and a third) would leave a core idle at the end of
    # every step after this one.
    ranges = max(2 * parallelism, -(-total // CHUNK_BYTES))
    ranges = -(-ranges // parallelism) * parallelism
    return min(CHUNK_BYTES, max(MIN_CHUNK_BYTES, -(-total // ranges)))


def pieces(location: str, format: Format, *, chunk: int, splittable: bool) -> list[Piece]:
    if format == "parquet":
        with open_input(location) as file:
            groups = pq.ParquetFile(file).metadata.num_row_groups
        # Neighbouring row groups together, about CHUNK_BYTES at a time, would be finer;
        # Parquet writers usually make row groups of that order already.
        return [Piece(location, row_groups=(group,)) for group in range(groups)] or [
            Piece(location)
        ]
    with open_input(location) as file:
        size = file.size()
        start = _header_end(file) if format == "csv" else 0
        if not splittable:
            return [Piece(location, start, size)]
        cuts = [start]
        while cuts[-1] < size:
            # At whole multiples of the chunk from the start, so that the lines each cut is
            # moved by do not add up and leave the last range short.
            target = max(start + len(cuts) * chunk, cuts[-1])
            cuts.append(_line_end_after(file, min(target, size), size))
    return [Piece(location, a, b) for a, b in itertools.pairwise(cuts) if b > a]


def _header_end(file: pafs.NativeFile) -> int:
    return _line_end_after(file, 0, file.size())


def _line_end_after(file: pafs.NativeFile, position: int, size: int) -> int:
    """The offset just past the first line break at or after ``position`` (or the end)."""
    while position < size:
        file.seek(position)
        window = file.read(1 << 16)
        newline = window.find(b"\n")
        if newline >= 0:
            return position + int(newline) + 1
        position += len(window)
    return size


def read_range(piece: Piece) -> pa.Buffer:
    # Into Arrow's memory pool, which keeps its pages from one task to the next of the same
    # process, not into a Python bytes object whose tens of MiB go back to the system when
    # freed and fault in again, page by page, for the next piece: that was most of the read.
    with open_input(piece.location) as file:
        file.seek(piece.start)
        return file.read_buffer(piece.end - piece.start)


def sample(location: str) -> bytes:
    """The start of a file, cut at its last whole line."""
    with open_input(location) as file:
        head: bytes = file.read(SAMPLE_BYTES)
    if len(head) == SAMPLE_BYTES and b"\n" in head:
        head = head[: head.rfind(b"\n") + 1]
    return head


def remove_downloads(directory: str) -> None:
    shutil.rmtree(directory, ignore_errors=True)
