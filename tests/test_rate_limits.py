"""Request rate limits: per API key, per user and per client address, answered 429 with
Retry-After and counted; probes are never limited."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest

from controlplane.api import rate_limits
from controlplane.api.app import create_internal_app
from controlplane.api.rate_limits import REQUESTS_LIMITED, TokenBuckets
from controlplane.broker.rabbitmq import RabbitMQBroker
from controlplane.engine.access.applications import create_application
from tests.dashboard import add_member, logged_in, services_for
from tests.system import running_system


def limited_count(api: str, by: str) -> float:
    return REQUESTS_LIMITED.labels(api, by)._value.get()


def test_a_bucket_lets_a_burst_through_then_refills_at_its_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(rate_limits.time, "monotonic", lambda: now[0])
    buckets = TokenBuckets(rate=2.0, burst=3)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == 0.5  # a token comes every half second
    assert buckets.take("b") == 0.0  # another key has its own bucket
    now[0] += 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    assert TokenBuckets(rate=0, burst=1).take("a") == 0.0  # 0: no limit


async def test_an_api_key_past_its_rate_gets_429_with_retry_after(
    pool: asyncpg.Pool, rabbitmq: RabbitMQBroker
) -> None:
    async with running_system(pool, rabbitmq, rate_per_key=1.0, burst_per_key=5) as system:
        before = limited_count("external", "key")
        answers = [await system.client.get("/definitions") for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 5 + [429]
        refused = answers[-1]
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) >= 1
        assert limited_count("external", "key") == before + 1
        # Another key of the same client is not held back by this one's bucket.
        _, other = await create_application(pool, "other")
        answer = await system.client.get("/definitions", headers={"X-API-Key": other})
        assert answer.status_code == 200
        # Probes and scrapes are never limited.
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await system.client.get(path)).status_code == 200
        metrics = (await system.client.get("/metrics")).text
        assert 'pipelogiq_requests_limited_total{api="external",by="key"}' in metrics


async def test_a_client_address_is_limited_before_its_key_is_looked_at(
    pool: asyncpg.Pool, rabbitmq: RabbitMQBroker
) -> None:
    async with running_system(pool, rabbitmq, rate_per_client=1.0, burst_per_client=3) as system:
        headers = {"X-API-Key": "plq_not_a_key"}
        answers = [await system.client.get("/definitions", headers=headers) for _ in range(4)]
        assert [a.status_code for a in answers] == [401, 401, 401, 429]
        assert answers[-1].json()["code"] == "rate_limited"
        # Another address has its own bucket.
        transport = httpx.ASGITransport(app=system.transport.app, client=("192.0.2.1", 1))  # type: ignore[attr-defined]
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as elsewhere:
            answer = await elsewhere.get("/definitions", headers={"X-API-Key": system.api_key})
            assert answer.status_code == 200


async def test_a_dashboard_user_past_their_rate_gets_429(
    pool: asyncpg.Pool, rabbitmq: RabbitMQBroker
) -> None:
    application, _ = await create_application(pool, "watched")
    await add_member(pool, application.id, "op@example.com", "operator")
    services = services_for(pool, rabbitmq, rate_per_user=1.0, burst_per_user=3)
    client = await logged_in(create_internal_app(services), "op@example.com")
    answers = [await client.get("/api/pipelines") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["code"] == "rate_limited"
    await client.aclose()


async def test_one_key_holds_at_most_its_share_of_waiting_long_polls(
    pool: asyncpg.Pool, rabbitmq: RabbitMQBroker
) -> None:
    async with running_system(pool, rabbitmq, max_polls_per_key=3) as system:
        pull = {"handlers": ["idle"], "maxJobs": 1, "waitSeconds": 5}
        waiting = [
            asyncio.create_task(system.client.post("/jobs/pull", json=pull)) for _ in range(3)
        ]
        await asyncio.sleep(0.5)  # all three are waiting now
        refused = await system.client.post("/jobs/pull", json=pull)
        assert refused.status_code == 429, refused.text
        assert refused.json()["code"] == "too_many_polls"
        assert refused.headers["Retry-After"] == "1"
        # A pull that does not wait, and another key's poll, still go through.
        assert (
            await system.client.post("/jobs/pull", json={**pull, "waitSeconds": 0})
        ).status_code == 200
        _, other = await create_application(pool, "other-poller")
        quick = {**pull, "waitSeconds": 0.1}
        answer = await system.client.post("/jobs/pull", json=quick, headers={"X-API-Key": other})
        assert answer.status_code == 200
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
