"""Limits of what any input may be: JSON depth and size, and no NUL characters.

PostgreSQL refuses the NUL character in text and in jsonb, and Python's decoders recurse, so
both are refused here, at the edge, with a 4xx and a stable code, before anything is
decoded, stored or half-applied:

- a JSON body holding ``\\u0000`` anywhere: 422 ``nul_character`` (``POST /jobs/ack`` refuses
  only the results that hold one, see :func:`nul_path`);
- a JSON body nested deeper than :data:`MAX_JSON_DEPTH`: 422 ``too_deep``;
- a JSON body of more than :data:`MAX_JSON_VALUES` values: 413 ``too_many_values`` (decoding
  millions of tiny values would hold the event loop for seconds);
- a path or query string holding a NUL: 422 ``nul_character``.

The scans are C-speed byte operations, linear in the body, done once per request.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import accumulate
from typing import Any

import msgspec

from controlplane.errors import InvalidRequest, TooLarge

MAX_JSON_DEPTH = 64
MAX_JSON_VALUES = 100_000

_NUL_ESCAPE = b"\\u0000"
# Everything but the bytes that give JSON its structure (deleted by bytes.translate).
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b"[]{},")))
_NESTING_STEP = [0] * 256
_NESTING_STEP[ord("[")] = _NESTING_STEP[ord("{")] = 1
_NESTING_STEP[ord("]")] = _NESTING_STEP[ord("}")] = -1


NUL_MESSAGE = "text may not hold the NUL character (\\u0000)"


def nul_refused(where: str) -> InvalidRequest:
    return InvalidRequest("nul_character", f"{where}: {NUL_MESSAGE}")


def holds_nul_escape(body: bytes) -> bool:
    """Whether JSON text holds a ``\\u0000`` escape (and not an escaped backslash before
    ``u0000``, which is plain text)."""
    if _NUL_ESCAPE not in body:
        return False
    # Backslashes pair up from the left in JSON text: once the escaped ones are gone, every
    # backslash left starts an escape. (Byte operations only: a run of millions of
    # backslashes must not be walked one by one.)
    return _NUL_ESCAPE in body.replace(b"\\\\", b"")


def check_json_shape(body: bytes) -> None:
    """Refuse JSON text nested deeper than MAX_JSON_DEPTH or of more than MAX_JSON_VALUES
    values, before it is decoded. Malformed text is left to the decoder to refuse."""
    opening = body.count(b"[") + body.count(b"{")
    if opening <= MAX_JSON_DEPTH and body.count(b",") < MAX_JSON_VALUES:
        return  # neither limit can be reached: the usual case, at the cost of three counts
    # Strings may hold any bracket or comma: drop them. Once escaped backslashes and escaped
    # quotes are gone, every quote left opens or closes a string.
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    if unescaped.count(b'"') // 2 > MAX_JSON_VALUES:
        raise _too_many_values()
    # Each string becomes a 0, so that what is left is the structure with its scalars.
    outside_strings = b"0".join(unescaped.split(b'"')[::2]).translate(None, b" \t\r\n")
    structure = outside_strings.translate(None, _NOT_STRUCTURE)
    brackets = structure.replace(b",", b"")
    # Depth first, as the more telling refusal; over a bounded prefix, to bound the work.
    prefix = brackets[: 2 * MAX_JSON_VALUES]
    if max(accumulate(map(_NESTING_STEP.__getitem__, prefix)), default=0) > MAX_JSON_DEPTH:
        raise too_deep()
    # Every value but the top one is the first in its container or follows a comma.
    containers = len(brackets) // 2
    empty = outside_strings.count(b"[]") + outside_strings.count(b"{}")
    if 1 + structure.count(b",") + containers - empty > MAX_JSON_VALUES:
        raise _too_many_values()


def too_deep(where: str = "the JSON") -> InvalidRequest:
    return InvalidRequest("too_deep", f"{where} is nested more than {MAX_JSON_DEPTH} levels deep")


def _too_many_values() -> TooLarge:
    return TooLarge(
        "too_many_values",
        f"a request may hold at most {MAX_JSON_VALUES:,} JSON values; send fewer at a time",
    )


def nul_path(value: Any, path: str = "") -> str | None:
    """The path of the first text (a string, or a key) in ``value`` holding NUL; None if
    there is none."""
    for where, text in _texts(value, path):
        if "\x00" in text:
            return where or "the value"
    return None


def _texts(value: Any, path: str) -> Iterator[tuple[str, str]]:
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str):
                    yield child_path, key
                stack.append((child, child_path))
        elif isinstance(item, list | tuple):
            stack.extend((child, f"{where}[{n}]") for n, child in enumerate(item))


# What a worker reports about itself (bootstrap metadata, heartbeat metrics, an event's data)
# is shown on the dashboard's worker pages: a few kilobytes, never megabytes.
MAX_WORKER_REPORT_BYTES = 65_536


def check_report_size(value: Any, what: str) -> None:
    """422 ``report_too_large`` for a worker's report over MAX_WORKER_REPORT_BYTES of JSON."""
    size = len(msgspec.json.encode(value))
    if size > MAX_WORKER_REPORT_BYTES:
        raise InvalidRequest(
            "report_too_large",
            f"{what} is {size:,} bytes of JSON; the limit is {MAX_WORKER_REPORT_BYTES:,}",
        )
