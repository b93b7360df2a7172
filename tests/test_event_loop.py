"""No request holds the event loop: a large definition file is read and checked off it, and
every process reports how late its loop runs (pipelogiq_event_loop_lag_seconds)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from controlplane.loop_lag import LOOP_LAG, watch_loop_lag
from tests.dashboard import Dashboard, member_of
from tests.system import System, longest_hold


def large_definition(stages: int = 1_000) -> str:
    """About a megabyte of YAML: the size of the file that held the loop for 10 s."""
    lines = [
        "apiVersion: pipelogiq/v1",
        "kind: PipelineDefinition",
        "name: large",
        "params: {type: object, properties: {who: {type: string}}}",
        "stages:",
    ]
    for n in range(stages):
        lines += [
            f"  - name: s{n}",
            "    handler: echo",
            f"    dependsOn: [{f's{n - 1}' if n else ''}]",
            "    input:",
            "      who: '{{ params.who }}'",
            "      list: [1, 2, 3, {a: b, c: [x, y, {d: e}]}]",
            f'      text: "{"y" * 800}"',
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture
async def developer(rabbit_system: System) -> Dashboard:
    return await member_of(rabbit_system, "dev@example.com", "developer")


async def test_a_large_definition_is_read_and_checked_off_the_event_loop(
    rabbit_system: System, developer: Dashboard
) -> None:
    document = large_definition()
    assert 900_000 < len(document) < 1_048_576
    async with longest_hold() as held:
        check = await developer.send(
            "POST", "/api/definitions/check", {"content": document, "format": "yaml"}
        )
        saved = await rabbit_system.client.put(
            "/definitions/large", content=document, headers={"content-type": "application/yaml"}
        )
    assert check.status_code == 200, check.text
    assert check.json() == {"valid": True, "errors": []}
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"]["version"] == 1
    # Reading the file takes a good part of a second of CPU; the loop was held for far less.
    # (Before, the check alone held it for the whole read, twice: ten seconds on this file.)
    assert held[0] < 0.25, f"the event loop was held for {held[0]:.3f} s of CPU"
    assert held[1] < 0.9, f"the event loop waited {held[1]:.3f} s"


async def test_the_loop_lag_is_measured() -> None:
    before = LOOP_LAG.collect()[0].samples
    count_before = next(s.value for s in before if s.name.endswith("_count"))
    watching = asyncio.create_task(watch_loop_lag(interval=0.01))
    await asyncio.sleep(0.05)
    time.sleep(0.2)  # noqa: ASYNC251 - holds the loop: the next wake-up is that late
    await asyncio.sleep(0.05)
    watching.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watching
    samples = {s.name: s.value for s in LOOP_LAG.collect()[0].samples if "le" not in s.labels}
    assert samples["pipelogiq_event_loop_lag_seconds_count"] > count_before
    late = [
        s.value
        for s in LOOP_LAG.collect()[0].samples
        if s.name.endswith("_bucket") and s.labels["le"] == "0.1"
    ]
    total = samples["pipelogiq_event_loop_lag_seconds_count"]
    assert late[0] < total  # at least one wake-up was more than 0.1 s late
