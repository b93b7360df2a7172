"""Print the internal API's OpenAPI document (`python -m controlplane.api.openapi`), from which
the dashboard's typed client is generated."""

from __future__ import annotations

import json

from controlplane.api.app import internal_openapi

if __name__ == "__main__":
    print(json.dumps(internal_openapi(), indent=2, sort_keys=True))
