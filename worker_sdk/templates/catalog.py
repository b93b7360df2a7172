"""Every template the SDK ships, described (name, group, version, summary, input schema) in
``catalog.json`` beside this file: what a control plane offers in its pipeline builder without
importing the groups (and so without pyarrow, Lance, Ray or PyAV).

``python -m worker_sdk.templates.catalog`` writes it again (``just template-catalog``); a
test fails while it is stale.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

CATALOG = Path(__file__).with_name("catalog.json")


@functools.cache
def shipped_catalog() -> tuple[dict[str, Any], ...]:
    """The shipped templates, by name, as ``describe()`` gives them."""
    return tuple(json.loads(CATALOG.read_text()))


def _write() -> None:
    from worker_sdk.templates import SHIPPED, describe

    described = describe([name for names in SHIPPED.values() for name in names])
    CATALOG.write_text(json.dumps(described, indent=1, sort_keys=True) + "\n")
    print(f"wrote {CATALOG} ({len(described)} templates)")


if __name__ == "__main__":
    _write()
