"""Schemathesis hooks for tests/test_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

A long poll may wait up to 60 s, as documented, and the fuzzer would wait with it for each
one it sends; what long polls do is tested elsewhere (test_job_path, bench_polls). Here a
pull waits at most a tenth of a second, so the run spends its time on other requests.
"""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.hook
def map_body(context: Any, body: Any) -> Any:
    if context.operation.path == "/jobs/pull" and isinstance(body, dict):
        wait = body.get("waitSeconds")
        if isinstance(wait, int | float) and not isinstance(wait, bool) and wait > 0.1:
            body["waitSeconds"] = 0.1
    return body
