"""Engine records as their wire shapes.

The engine answers in dataclasses of its own; each API operation answers in a msgspec Struct
(camelCase, documented in OpenAPI). :func:`wire` matches their fields by name, so that no
field is copied by hand, and checks each value against the wire shape on the way.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


def wire(value: Any, shape: type[T]) -> T:
    return msgspec.convert(value, shape, from_attributes=True)
