"""What the SDK worker does with results the control plane will not take (issue 18)."""

from __future__ import annotations

import msgspec

from worker_sdk.wire import AckResponse


def test_rejections_are_read_with_or_without_code_and_detail() -> None:
    newer = b"""{"accepted": [], "rejected": [{"jobId": "j1", "reason": "invalid_result",
        "code": "nul_character", "detail": "results[0].output: text may not contain NUL"}]}"""
    [rejected] = msgspec.json.decode(newer, type=AckResponse).rejected
    assert (rejected.reason, rejected.code) == ("invalid_result", "nul_character")
    assert rejected.detail == "results[0].output: text may not contain NUL"
    older = b'{"accepted": ["j2"], "rejected": [{"jobId": "j1", "reason": "lease_lost"}]}'
    [rejected] = msgspec.json.decode(older, type=AckResponse).rejected
    assert (rejected.reason, rejected.code, rejected.detail) == ("lease_lost", None, None)
