"""Finished stages are announced in the background: the ack does not wait for the broker,
events gather while publishes are in flight, and a stop sends what waits."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Any, cast

import pytest

from controlplane.broker import Broker
from controlplane.effects.announcements import ResultAnnouncer
from tests.system import System


class HeldBroker:
    """The one broker call the announcer makes; every publish waits until ``go`` is set."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.in_flight = 0
        self.published: list[list[uuid.UUID]] = []
        self.failures = 0  # how many of the next publishes fail

    async def publish_results(self, stage_ids: Sequence[uuid.UUID]) -> None:
        self.in_flight += 1
        try:
            await self.go.wait()
            if self.failures:
                self.failures -= 1
                raise ConnectionError("broker gone")
            self.published.append(list(stage_ids))
        finally:
            self.in_flight -= 1


def announcer_on(broker: HeldBroker, in_flight: int = 2) -> ResultAnnouncer:
    return ResultAnnouncer(cast(Broker, broker), in_flight=in_flight)


def ids(n: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(n)]


async def test_what_arrives_while_every_publish_is_in_flight_goes_out_together() -> None:
    broker = HeldBroker()
    announcer = announcer_on(broker, in_flight=2)
    a, b, c, d = ids(1), ids(1), ids(2), ids(1)
    announcer.announce(a)
    announcer.announce(b)
    announcer.announce(c)
    announcer.announce(d)
    await asyncio.sleep(0.01)
    assert broker.in_flight == 2  # a and b; c and d wait for one of them
    assert broker.published == []
    broker.go.set()
    await announcer.close()
    assert broker.published == [a, b, c + d]


async def test_a_stop_sends_what_waits_and_waits_for_every_confirm() -> None:
    broker = HeldBroker()
    announcer = announcer_on(broker, in_flight=1)
    first, second = ids(1), ids(3)
    announcer.announce(first)
    announcer.announce(second)
    announcer.announce([])  # nothing to say: no message
    closing = asyncio.create_task(announcer.close())
    await asyncio.sleep(0.05)
    assert not closing.done()  # the confirm has not come
    broker.go.set()
    await asyncio.wait_for(closing, 5)
    assert broker.published == [first, second]


async def test_a_failed_publish_is_logged_and_the_next_goes_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = HeldBroker()
    broker.go.set()
    broker.failures = 1
    announcer = announcer_on(broker)
    lost, later = ids(2), ids(1)
    with caplog.at_level(logging.WARNING, "controlplane.effects.announcements"):
        announcer.announce(lost)
        await announcer.close()
    assert "could not announce 2 finished stages" in caplog.text
    announcer.announce(later)
    await announcer.close()
    assert broker.published == [later]


async def test_what_waits_for_a_stuck_broker_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    broker = HeldBroker()
    announcer = ResultAnnouncer(cast(Broker, broker), in_flight=1, max_waiting=3)
    sent, older, newer = ids(1), ids(2), ids(3)
    announcer.announce(sent)  # in flight, held
    with caplog.at_level(logging.WARNING, "controlplane.effects.announcements"):
        announcer.announce(older)
        announcer.announce(newer)  # five wait, over the bound of three: the oldest two go
    assert "dropped 2 finished stages' announcements" in caplog.text
    broker.go.set()
    await announcer.close()
    assert broker.published == [sent, newer]


async def test_a_stuck_broker_does_not_hold_up_a_stop(caplog: pytest.LogCaptureFixture) -> None:
    broker = HeldBroker()  # never lets a publish through
    announcer = ResultAnnouncer(cast(Broker, broker), in_flight=1)
    announcer.announce(ids(1))
    announcer.announce(ids(2))
    with caplog.at_level(logging.WARNING, "controlplane.effects.announcements"):
        await asyncio.wait_for(announcer.close(within_seconds=0.2), 5)
    assert "2 finished stages' announcements not sent" in caplog.text
    await asyncio.sleep(0.05)
    assert broker.in_flight == 0  # the held publish was called off


async def test_an_ack_answers_before_its_result_event_is_confirmed(
    rabbit_system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = rabbit_system
    broker = system.services.broker
    release = asyncio.Event()
    publish = broker.publish_results

    async def held(stage_ids: Sequence[uuid.UUID]) -> None:
        await release.wait()
        await publish(stage_ids)

    monkeypatch.setattr(broker, "publish_results", held)
    system.start_builtin_worker()
    stages = [{"name": "a", "handler": "held"}, {"name": "b", "handler": "held"}]
    pipeline = await system.submit(stages)
    [a] = await system.pull("held")
    answer: dict[str, Any] = await asyncio.wait_for(
        system.ack({"jobId": a["jobId"], "status": "completed"}), 5
    )
    assert answer["accepted"] == [a["jobId"]]
    # Accepted is durable, though the built-in worker has not heard of it yet.
    now = (await system.pipeline(pipeline["id"]))["stages"]
    assert [s["status"] for s in now] == ["completed", "not_started"]
    release.set()
    [b] = await system.pull("held", wait=5)
    assert b["stageName"] == "b"
