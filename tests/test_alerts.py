"""Alerts: rules and channels on the internal API, each condition opening one alert per rule
and subject and clearing it, notifications signed and sent once per transition (with two
built-in workers), retried, rate limited into digests, and never sent inside the network."""

from __future__ import annotations

import asyncio
import contextlib
import email
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from prometheus_client import REGISTRY

from builtin_worker import BuiltinWorker
from controlplane.broker.rabbitmq import RabbitMQBroker
from controlplane.engine.alerts import deliveries
from controlplane.services import Services
from controlplane.settings import Settings
from database.pool import create_pool
from tests.alerting import (
    SECRET,
    SETTINGS,
    Receiver,
    add_rule,
    add_webhook,
    alerting_system,
    alerts_of,
    dashboards,
    mail_server,
    receiving,
    signed,
    wait_for_alerts,
)
from tests.certificates import self_signed
from tests.dashboard import Dashboard, add_member, logged_in, services_for
from tests.processes import free_port
from tests.system import System
from tests.test_definitions import imported, step
from tests.test_risk import attempts as risk_attempts
from tests.test_risk import folded as risk_folded
from tests.test_risk import runs as risk_runs
from tests.test_risk import stage as risk_stage
from tests.test_schedules import create as create_schedule
from tests.test_schedules import make_due

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def system(pool: asyncpg.Pool, rabbitmq: RabbitMQBroker) -> AsyncIterator[System]:
    async with alerting_system(pool, rabbitmq) as system:
        yield system


@pytest.fixture
async def people(system: System) -> dict[str, Dashboard]:
    return await dashboards(system)


@pytest.fixture
async def schedule_people(system: System) -> dict[str, Dashboard]:
    """Two developers (ada and bob): one imports and submits a definition, the other
    approves it."""
    from controlplane.api.app import create_internal_app

    app = create_internal_app(services_for(system.pool, system.services.broker, **SETTINGS))
    for name in ("ada", "bob"):
        await add_member(system.pool, system.application.id, f"{name}@example.com", "developer")
    return {name: Dashboard(await logged_in(app, f"{name}@example.com")) for name in ("ada", "bob")}


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with receiving() as receiver:
        yield receiver


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tries again after tenths of a second, not seconds: the same code path, sooner.
    monkeypatch.setattr(deliveries, "_BACKOFF_SECONDS", 0.05)


async def fail_pipeline(system: System, name: str, handler: str = "work") -> str:
    pipeline = await system.submit([{"name": "load", "handler": handler}], name=name)
    [job] = await system.pull_until(handler, 1)
    answer = await system.ack(
        {"jobId": job["jobId"], "status": "failed", "error": {"message": "connection refused"}}
    )
    assert answer["accepted"] == [job["jobId"]], answer
    await system.wait_for_pipeline(pipeline["id"], "failed")
    return str(pipeline["id"])


async def complete_pipeline(system: System, name: str, handler: str = "work") -> str:
    pipeline = await system.submit([{"name": "load", "handler": handler}], name=name)
    [job] = await system.pull_until(handler, 1)
    await system.ack({"jobId": job["jobId"], "status": "completed"})
    await system.wait_for_pipeline(pipeline["id"], "completed")
    return str(pipeline["id"])


async def wait_until(check: Any, within: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        assert loop.time() < deadline, "the condition never held"
        await asyncio.sleep(0.1)


# -- a failed pipeline, from rule to webhook and back -----------------------------------------


async def test_a_failed_pipeline_opens_one_alert_signed_to_the_webhook_then_a_success_resolves_it(
    system: System, people: dict[str, Dashboard], hook: Receiver
) -> None:
    dev, op = people["dev"], people["op"]
    channel = await add_webhook(dev, system, hook.url)
    rule = await add_rule(
        dev, system, {"type": "pipeline_failed", "name": "nightly"}, [channel["id"]]
    )

    failed = await fail_pipeline(system, "nightly")
    await fail_pipeline(system, "other")  # not the rule's pipeline
    [opened] = await hook.wait_for(1)
    assert signed(SECRET, opened)
    assert opened.headers["X-Pipelogiq-Delivery"] == opened.json["deliveryId"]
    body = opened.json
    assert body["event"] == "alert.opened"
    assert body["alert"]["ruleId"] == rule["id"]
    assert body["alert"]["subjectName"] == "nightly"
    assert "connection refused" in body["alert"]["summary"]
    assert body["alert"]["details"]["pipelineId"] == failed
    assert body["url"] == f"https://pipelogiq.example.com/alerts/{body['alert']['id']}"

    # The same pipeline name failing again counts on the open alert, and sends nothing.
    await fail_pipeline(system, "nightly")
    [alert] = await wait_for_alerts(op, 1, "?status=open")

    async def counted() -> bool:
        [now] = await alerts_of(op, "?status=open")
        return bool(now["occurrences"] == 2)

    await wait_until(counted)
    assert alert["ruleName"] == rule["name"]
    assert alert["status"] == "firing"

    # A later run of the name that completes clears it.
    await complete_pipeline(system, "nightly")
    received = await hook.wait_for(2)
    assert [r.json["event"] for r in received] == ["alert.opened", "alert.resolved"]
    assert all(signed(SECRET, r) for r in received)
    assert len({r.json["deliveryId"] for r in received}) == 2
    [resolved] = await alerts_of(op)
    assert resolved["status"] == "resolved"
    assert resolved["resolvedBy"] is None
    detail = (await op.get(f"/api/alerts/{resolved['id']}")).json()
    assert [e["kind"] for e in detail["events"]] == ["opened", "resolved"]
    assert {d["status"] for d in detail["deliveries"]} == {"delivered"}
    assert len(detail["sources"]) == 2
    assert len(hook.received) == 2


async def test_a_stage_failing_for_good_alerts_but_not_while_it_has_retries_left(
    system: System, people: dict[str, Dashboard], hook: Receiver
) -> None:
    dev = people["dev"]
    channel = await add_webhook(dev, system, hook.url)
    await add_rule(dev, system, {"type": "stage_failed", "stage": "load"}, [channel["id"]])
    pipeline = await system.submit(
        [{"name": "load", "handler": "flaky", "maxRetries": 1, "retryBackoffSeconds": 0.01}],
        name="hourly",
    )
    [first] = await system.pull_until("flaky", 1)
    await system.ack({"jobId": first["jobId"], "status": "failed", "error": {"message": "timeout"}})
    [second] = await system.pull_until("flaky", 1)
    assert await alerts_of(dev) == []  # a retry was left: nothing to say yet
    await system.ack({"jobId": second["jobId"], "status": "failed", "error": {"message": "gone"}})
    await system.wait_for_pipeline(pipeline["id"], "failed")
    [alert] = await wait_for_alerts(dev, 1)
    assert alert["subjectKind"] == "stage"
    assert alert["subjectName"] == "hourly > load"
    assert alert["details"]["stageId"]
    assert "gone" in alert["summary"]
    [received] = await hook.wait_for(1)
    assert received.json["alert"]["conditionType"] == "stage_failed"


# -- people: roles, acknowledging, resolving, the audit ---------------------------------------


async def test_operators_acknowledge_and_resolve_but_do_not_make_rules(
    system: System, people: dict[str, Dashboard], hook: Receiver
) -> None:
    dev, op = people["dev"], people["op"]
    channel = await add_webhook(dev, system, hook.url)
    refused = await op.send(
        "POST",
        "/api/alert-rules",
        {
            "applicationId": str(system.application.id),
            "name": "mine",
            "condition": {"type": "pipeline_failed"},
        },
    )
    assert refused.status_code == 403
    refused = await op.send("DELETE", f"/api/alert-channels/{channel['id']}")
    assert refused.status_code == 403

    await add_rule(dev, system, {"type": "pipeline_failed"}, [channel["id"]])
    await fail_pipeline(system, "nightly")
    [alert] = await wait_for_alerts(op, 1)
    path = f"/api/alerts/{alert['id']}"
    acked = await op.send("POST", f"{path}/acknowledge", {"note": "on it"})
    assert acked.status_code == 200, acked.text
    assert acked.json()["status"] == "acknowledged"
    assert acked.json()["acknowledgedBy"] == "op@example.com"
    again = await op.send("POST", f"{path}/acknowledge")
    assert again.status_code == 409
    assert again.json()["code"] == "alert_acknowledged"
    assert (await op.get("/api/alerts/counts")).json() == {"firing": 0, "acknowledged": 1}

    resolved = await op.send("POST", f"{path}/resolve", {"note": "fixed the DNS"})
    assert resolved.status_code == 200
    assert resolved.json()["resolvedBy"] == "op@example.com"
    again = await op.send("POST", f"{path}/resolve")
    assert again.status_code == 409
    assert again.json()["code"] == "alert_resolved"

    detail = (await op.get(path)).json()
    assert [(e["kind"], e["actor"], e["note"]) for e in detail["events"]] == [
        ("opened", None, None),
        ("acknowledged", "op@example.com", "on it"),
        ("resolved", "op@example.com", "fixed the DNS"),
    ]
    actions = await system.pool.fetch(
        "SELECT action, actor FROM audit_log WHERE target_id = $1 ORDER BY id", alert["id"]
    )
    assert [(a["action"], a["actor"]) for a in actions] == [
        ("alert.opened", "pipelogiq"),
        ("alert.acknowledged", "op@example.com"),
        ("alert.resolved", "op@example.com"),
    ]
    # Opened and resolved are sent; the acknowledgement is not.
    received = await hook.wait_for(2)
    await asyncio.sleep(0.5)
    assert [r.json["event"] for r in hook.received] == ["alert.opened", "alert.resolved"]
    assert received[1].json["alert"]["resolvedBy"] == "op@example.com"


async def test_another_application_s_alerts_rules_and_channels_are_not_found(
    system: System, people: dict[str, Dashboard], hook: Receiver, pool: asyncpg.Pool
) -> None:
    dev = people["dev"]
    channel = await add_webhook(dev, system, hook.url)
    rule = await add_rule(dev, system, {"type": "pipeline_failed"}, [channel["id"]])
    await fail_pipeline(system, "nightly")
    [alert] = await wait_for_alerts(dev, 1)
    from controlplane.api.app import create_internal_app
    from controlplane.engine.access.applications import create_application
    from tests.dashboard import add_member, logged_in, services_for

    other, _ = await create_application(pool, "other-app")
    await add_member(pool, other.id, "eve@example.com", "developer")
    app = create_internal_app(services_for(pool, system.services.broker, **SETTINGS))
    eve = Dashboard(await logged_in(app, "eve@example.com"))
    for path in (
        f"/api/alerts/{alert['id']}",
        f"/api/alert-rules/{rule['id']}",
        f"/api/alert-channels/{channel['id']}",
    ):
        assert (await eve.get(path)).status_code == 404, path
    assert (await eve.send("POST", f"/api/alerts/{alert['id']}/acknowledge")).status_code == 404
    assert await alerts_of(eve) == []
    assert (await eve.get("/api/alert-rules")).json() == []
    # Nor may a rule of hers send to the first application's channel.
    response = await eve.send(
        "POST",
        "/api/alert-rules",
        {
            "applicationId": str(other.id),
            "name": "steal",
            "condition": {"type": "pipeline_failed"},
            "channelIds": [channel["id"]],
        },
    )
    assert response.status_code == 422
    assert response.json()["code"] == "channel_not_found"


# -- exactly once, at least once -------------------------------------------------------------


async def test_two_built_in_workers_open_each_alert_once_and_record_each_notification_once(
    system: System, people: dict[str, Dashboard], hook: Receiver, database_url: str
) -> None:
    dev = people["dev"]
    channel = await add_webhook(dev, system, hook.url, rateLimitPerMinute=1000)
    await add_rule(dev, system, {"type": "pipeline_failed"}, [channel["id"]])
    other_pool = await create_pool(database_url, min_size=1, max_size=4)
    other = BuiltinWorker(Services(Settings(**SETTINGS), other_pool, system.services.broker))
    task = asyncio.create_task(other.run())
    try:
        names = [f"p{n}" for n in range(12)]
        await asyncio.gather(
            *(fail_pipeline(system, name, f"h{n}") for n, name in enumerate(names))
        )
        # Both race over the same rounds as well.
        for _ in range(5):
            await asyncio.gather(system.worker.evaluate_alerts(), other.evaluate_alerts())
            await asyncio.gather(system.worker.deliver_alerts(), other.deliver_alerts())
        await asyncio.gather(system.worker.notifier.settled(), other.notifier.settled())
        alerts = await wait_for_alerts(dev, 12)
        assert sorted(a["subjectName"] for a in alerts) == sorted(names)
        assert all(a["occurrences"] == 1 for a in alerts)
        await hook.wait_for(12)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await other.services.effects.close()
        await other_pool.close()
    events = await system.pool.fetchval("SELECT count(*) FROM alert_events WHERE kind = 'opened'")
    assert events == 12
    recorded = await system.pool.fetch("SELECT id, status FROM alert_deliveries")
    assert len(recorded) == 12
    assert {r["status"] for r in recorded} == {"delivered"}
    # At least once to the channel: every delivery arrived, each under its own id.
    assert {r.json["deliveryId"] for r in hook.received} == {str(r["id"]) for r in recorded}


async def test_a_channel_that_fails_is_tried_again_and_the_same_delivery_id_comes_twice(
    system: System, people: dict[str, Dashboard], monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = people["dev"]
    # What the dashboard hears live of alerts.
    announced: list[dict[str, Any]] = []
    updates = system.services.effects.updates
    announce = updates.announce

    def recording(kind: str, items: list[dict[str, Any]]) -> None:
        if kind == "alert":
            announced.extend(items)
        announce(kind, items)

    monkeypatch.setattr(updates, "announce", recording)
    async with receiving(fail_first=2) as hook:
        channel = await add_webhook(dev, system, hook.url)
        await add_rule(dev, system, {"type": "pipeline_failed"}, [channel["id"]])
        await fail_pipeline(system, "nightly")
        received = await hook.wait_for(3)
    assert len({r.json["deliveryId"] for r in received}) == 1
    [alert] = await alerts_of(dev)
    [delivery] = (await dev.get(f"/api/alerts/{alert['id']}")).json()["deliveries"]
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 3

    # Live: the opening, then each try of its notification (put off twice, then sent), so
    # that the alert's page follows its notification without polling.
    async def told() -> bool:
        return len(announced) >= 4

    await wait_until(told)
    assert (
        announced
        == [{"id": alert["id"], "applicationId": str(system.application.id), "status": "firing"}]
        * 4
    )


async def test_a_channel_that_does_not_answer_holds_back_no_other_channel(
    pool: asyncpg.Pool, rabbitmq: RabbitMQBroker, hook: Receiver
) -> None:
    # A server that takes connections and never answers, and a send timeout longer than
    # the test: the dead channel's first notification is under way throughout.
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    hole = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = hole.sockets[0].getsockname()[1]
    try:
        async with alerting_system(pool, rabbitmq, alert_send_timeout_seconds=600) as system:
            dev = (await dashboards(system))["dev"]
            dead = await add_webhook(dev, system, f"http://127.0.0.1:{port}/", name="dead")
            alive = await add_webhook(dev, system, hook.url, name="alive")
            await add_rule(dev, system, {"type": "pipeline_failed"}, [dead["id"], alive["id"]])
            await fail_pipeline(system, "first")
            await hook.wait_for(1)
            await fail_pipeline(system, "second")
            # The second alert reaches the channel that answers while the first notification
            # to the dead one still hangs...
            received = await hook.wait_for(2)
            assert [r.json["alert"]["subjectName"] for r in received] == ["first", "second"]
            assert len(held) == 1
            stuck = await system.pool.fetch(
                "SELECT d.status FROM alert_deliveries d "
                "JOIN alert_events e ON e.id = d.event_id JOIN alerts a ON a.id = e.alert_id "
                "WHERE d.channel_id = $1 ORDER BY a.opened_at",
                uuid.UUID(dead["id"]),
            )
            # ...and the dead channel is sent no second burst meanwhile: its second waits.
            assert [row["status"] for row in stuck] == ["sending", "pending"]
    finally:
        for writer in held:
            writer.close()
        hole.close()


# A channel (rate limit 4 a minute) with $1 notifications due, the n-th created n seconds
# after the first.
_BURST = """
WITH app AS (INSERT INTO applications (name) VALUES ('burst') RETURNING id),
channel AS (
    INSERT INTO alert_channels (application_id, name, type, config, rate_limit_per_minute)
    SELECT id, 'hook', 'webhook', '{"url": "http://127.0.0.1:9/"}', 4 FROM app
    RETURNING id, application_id),
rule AS (
    INSERT INTO alert_rules (application_id, name, condition, condition_type, channel_ids)
    SELECT application_id, 'r', '{"type": "pipeline_failed"}', 'pipeline_failed', ARRAY[id]
    FROM channel RETURNING id, application_id, name),
opened AS (
    INSERT INTO alerts (application_id, rule_id, rule_name, condition_type, severity,
                        subject_kind, subject_key, subject_name, summary)
    SELECT application_id, id, name, 'pipeline_failed', 'warning', 'pipeline', 'p' || n,
           'p' || n, 'failed'
    FROM rule, generate_series(1, $1) n RETURNING id, subject_key),
events AS (
    INSERT INTO alert_events (alert_id, kind) SELECT id, 'opened' FROM opened
    RETURNING id, alert_id)
INSERT INTO alert_deliveries (event_id, channel_id, application_id, created_at)
SELECT e.id, c.id, c.application_id,
       now() - interval '1 hour' + make_interval(secs => substr(o.subject_key, 2)::int)
FROM events e JOIN opened o ON o.id = e.alert_id, channel c
"""


_ONE_MORE = """
WITH resolved AS (
    INSERT INTO alert_events (alert_id, kind)
    SELECT id, 'resolved' FROM alerts ORDER BY subject_key LIMIT 1 RETURNING id, alert_id)
INSERT INTO alert_deliveries (event_id, channel_id, application_id)
SELECT r.id, $1, a.application_id FROM resolved r JOIN alerts a ON a.id = r.alert_id
"""


async def test_a_burst_is_leased_in_order_renewed_send_by_send_and_handed_back_when_stopped(
    pool: asyncpg.Pool,
) -> None:
    await pool.execute(_BURST, 6)
    leased = await deliveries.lease_due(pool, 30)
    rows = await pool.fetch(
        "SELECT id, created_at, folded, extract(epoch FROM leased_until - now()) AS lease "
        "FROM alert_deliveries WHERE status = 'sending'"
    )
    by_id = {row["id"]: row for row in rows}
    # Three alone, in the order they were written, then one digest of the other three.
    assert len(leased) == 4
    alone = [by_id[lease.delivery_id] for lease in leased[:3]]
    assert [row["created_at"] for row in alone] == sorted(row["created_at"] for row in alone)
    assert by_id[leased[3].delivery_id]["folded"] == 3
    # Leased for one send's slot; each send renews what is left of the burst.
    leases = [by_id[lease.delivery_id]["lease"] for lease in leased]
    assert leases == pytest.approx([30] * 4, abs=2)
    await deliveries.renew(pool, leased[0].token, 90)
    renewed = "SELECT extract(epoch FROM min(leased_until) - now()) FROM alert_deliveries"
    assert await pool.fetchval(renewed) == pytest.approx(90, abs=2)
    # A channel with a burst under way is left out of the rounds, whatever else is due on
    # it, until the burst ends or (its worker gone) its leases run out.
    await pool.execute("UPDATE alert_channels SET rate_limit_per_minute = 100")
    await pool.execute(_ONE_MORE, leased[0].channel_id)
    assert await deliveries.lease_due(pool, 30) == []
    await pool.execute(
        "UPDATE alert_deliveries SET leased_until = now() - interval '1 second' "
        "WHERE status = 'sending'"
    )
    again = await deliveries.lease_due(pool, 30)
    assert len(again) == 5
    # A worker stopping hands its bursts back: due at once, the try not counted.
    await deliveries.release(pool, {again[0].token})
    back = await pool.fetch(
        "SELECT status, attempts FROM alert_deliveries WHERE folded = 0 AND digest_id IS NULL"
    )
    assert {(row["status"], row["attempts"]) for row in back} == {("pending", 1), ("pending", 0)}
    assert len(await deliveries.lease_due(pool, 30)) == 5


async def test_a_refused_delivery_is_marked_failed_with_the_reason(
    system: System, people: dict[str, Dashboard]
) -> None:
    dev = people["dev"]
    async with receiving(status=410) as hook:
        channel = await add_webhook(dev, system, hook.url)
        await add_rule(dev, system, {"type": "pipeline_failed"}, [channel["id"]])
        await fail_pipeline(system, "nightly")
        await hook.wait_for(1)
        [alert] = await alerts_of(dev)

        async def failed() -> bool:
            detail = (await dev.get(f"/api/alerts/{alert['id']}")).json()
            return bool(detail["deliveries"][0]["status"] == "failed")

        await wait_until(failed)
    [delivery] = (await dev.get(f"/api/alerts/{alert['id']}")).json()["deliveries"]
    assert "HTTP 410" in delivery["lastError"]
    assert delivery["attempts"] == 1


async def test_a_channel_that_never_answers_holds_up_no_other_channel(
    system: System, people: dict[str, Dashboard], hook: Receiver
) -> None:
    dev = people["dev"]
    async with receiving(hang=30) as stuck:
        slow = await add_webhook(dev, system, stuck.url, name="stuck")
        fine = await add_webhook(dev, system, hook.url, name="fine")
        await add_rule(dev, system, {"type": "pipeline_failed"}, [slow["id"], fine["id"]])
        await fail_pipeline(system, "nightly")
        [received] = await hook.wait_for(1)
        assert received.json["event"] == "alert.opened"
        await stuck.wait_for(1)


# -- rate limits and digests ------------------------------------------------------------------


async def test_a_storm_becomes_a_few_messages_and_a_digest_that_names_the_count(
    system: System, people: dict[str, Dashboard], hook: Receiver
) -> None:
    dev = people["dev"]
    channel = await add_webhook(dev, system, hook.url, rateLimitPerMinute=3)
    await add_rule(dev, system, {"type": "pipeline_failed"}, [channel["id"]])
    names = [f"p{n}" for n in range(20)]
    await asyncio.gather(*(fail_pipeline(system, name, f"h{n}") for n, name in enumerate(names)))
    await wait_for_alerts(dev, 20)
    await hook.wait_for(3)
    await asyncio.sleep(1.0)
    assert len(hook.received) == 3  # the minute's room, and no more

    async def notified() -> int:
        """Notifications sent, alone or folded into a digest."""
        sent = [r.json for r in hook.received]
        singles = [m for m in sent if m["event"] == "alert.opened"]
        return len(singles) + sum(
            m["digest"]["count"] for m in sent if m["event"] == "alert.digest"
        )

    # The rest wait for the next minute (made to pass here), and go as a digest then.
    while await notified() < 20:
        before = len(hook.received)
        await system.pool.execute(
            "UPDATE alert_channels SET window_started_at = now() - interval '61 seconds'"
        )
        await hook.wait_for(before + 1)
        await asyncio.sleep(0.5)
        assert len(hook.received) <= before + 3
    assert await notified() == 20
    digests = [r.json for r in hook.received if r.json["event"] == "alert.digest"]
    assert digests
    assert len(hook.received) < 20
    for digest in digests:
        summary = digest["digest"]
        assert f"{summary['count']} more alert notifications" in summary["summary"]
        assert summary["events"] == {"opened": summary["count"]}
        assert len(summary["first"]) == min(summary["count"], 20)
    assert all(signed(SECRET, r) for r in hook.received)
    statuses = await system.pool.fetch("SELECT status, count(*) FROM alert_deliveries GROUP BY 1")
    counts = {row["status"]: row["count"] for row in statuses}
    assert counts["digested"] == sum(d["digest"]["count"] for d in digests)
    assert counts["delivered"] == len(hook.received)


# -- where a channel may not send -------------------------------------------------------------


async def test_a_webhook_inside_the_network_is_refused_unless_allowed(
    pool: asyncpg.Pool, rabbitmq: RabbitMQBroker, hook: Receiver
) -> None:
    async with alerting_system(pool, rabbitmq, alerts_allow=()) as system:
        people = await dashboards(system, alerts_allow=())
        dev = people["dev"]
        channel = await add_webhook(dev, system, hook.url)
        tried = await dev.send("POST", f"/api/alert-channels/{channel['id']}/test")
        assert tried.status_code == 200
        assert tried.json()["ok"] is False
        assert "loopback" in tried.json()["detail"]
        # It names the setting that would allow it: the control plane's, not a worker's.
        assert "unless PIPELOGIQ_ALERTS_ALLOW allows it" in tried.json()["detail"]
        await add_rule(dev, system, {"type": "pipeline_failed"}, [channel["id"]])
        await fail_pipeline(system, "nightly")
        [alert] = await wait_for_alerts(dev, 1)

        async def refused() -> bool:
            detail = (await dev.get(f"/api/alerts/{alert['id']}")).json()
            return bool(detail["deliveries"] and detail["deliveries"][0]["status"] == "failed")

        await wait_until(refused)
    assert hook.received == []


async def test_send_a_test_reaches_the_channel_signed(
    system: System, people: dict[str, Dashboard], hook: Receiver
) -> None:
    channel = await add_webhook(people["dev"], system, hook.url)
    tried = await people["dev"].send("POST", f"/api/alert-channels/{channel['id']}/test")
    assert tried.status_code == 200
    assert tried.json()["ok"] is True, tried.text
    [received] = hook.received
    assert received.json["event"] == "test"
    assert signed(SECRET, received)
    assert (
        await people["op"].send("POST", f"/api/alert-channels/{channel['id']}/test")
    ).status_code == 403


# -- the channels' secrets ---------------------------------------------------------------------


async def test_a_channel_s_secret_is_never_answered_nor_audited_and_kept_on_change(
    system: System, people: dict[str, Dashboard], hook: Receiver
) -> None:
    dev = people["dev"]
    channel = await add_webhook(dev, system, hook.url)
    assert channel["hasSecret"] is True
    assert "secret" not in channel["config"]
    changed = await dev.send(
        "PATCH", f"/api/alert-channels/{channel['id']}", {"config": {"url": hook.url + "/v2"}}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["config"] == {"url": hook.url + "/v2"}
    tried = await dev.send("POST", f"/api/alert-channels/{channel['id']}/test")
    assert tried.json()["ok"] is True
    assert signed(SECRET, hook.received[-1])  # the secret was kept
    answers = [
        (await dev.get("/api/alert-channels")).text,
        (await dev.get(f"/api/alert-channels/{channel['id']}")).text,
        changed.text,
    ]
    assert not any(SECRET in text for text in answers)
    audit = await system.pool.fetch("SELECT details::text FROM audit_log")
    assert audit
    assert not any(SECRET in row["details"] for row in audit)
    stored = await system.pool.fetchrow("SELECT config::text, sealed_secret FROM alert_channels")
    assert SECRET not in stored["config"]
    assert SECRET.encode() not in bytes(stored["sealed_secret"])


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"type": "webhook", "config": {"url": "http://x.example.com"}}, "invalid_config"),
        ({"type": "webhook", "config": {"url": "ftp://x", "secret": SECRET}}, "invalid_config"),
        (
            {"type": "webhook", "config": {"url": "http://a\u0000b.example", "secret": SECRET}},
            "nul_character",
        ),
        ({"type": "slack", "config": {}}, "invalid_config"),
        (
            {"type": "email", "config": {"host": "mail.example.com", "sender": "a@b.c"}},
            "invalid_config",
        ),
        (
            {"type": "email", "config": {"host": "m", "sender": "a@b.c", "to": ["x"]}},
            "invalid_config",
        ),
        (
            {
                "type": "webhook",
                "config": {"url": "http://x.example.com", "secret": SECRET, "a": {"b": {"c": 1}}},
            },
            "invalid_config",
        ),
    ],
)
async def test_a_channel_s_bad_config_is_refused_with_its_code(
    system: System, people: dict[str, Dashboard], body: dict[str, Any], code: str
) -> None:
    response = await people["dev"].send(
        "POST",
        "/api/alert-channels",
        {"applicationId": str(system.application.id), "name": "bad", **body},
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert await system.pool.fetchval("SELECT count(*) FROM alert_channels") == 0


async def test_a_channel_rules_send_to_is_not_deleted_from_under_them(
    system: System, people: dict[str, Dashboard], hook: Receiver
) -> None:
    dev = people["dev"]
    channel = await add_webhook(dev, system, hook.url)
    rule = await add_rule(
        dev, system, {"type": "pipeline_failed"}, [channel["id"]], name="nightly fails"
    )
    refused = await dev.send("DELETE", f"/api/alert-channels/{channel['id']}")
    assert refused.status_code == 409
    assert refused.json()["code"] == "channel_in_use"
    assert refused.json()["rules"] == ["nightly fails"]
    emptied = await dev.send("PATCH", f"/api/alert-rules/{rule['id']}", {"channelIds": []})
    assert emptied.status_code == 200
    assert emptied.json()["channelIds"] == []
    assert (await dev.send("DELETE", f"/api/alert-channels/{channel['id']}")).status_code == 204


# -- rules --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "status", "code"),
    [
        ({"type": "nothing_happened"}, 422, "invalid_request"),
        ({"type": "stage_pending"}, 422, "invalid_request"),
        ({"type": "stage_pending", "minutes": 0}, 422, "invalid_request"),
        ({"type": "stage_pending", "minutes": 5, "failAfterMinutes": 5}, 422, "invalid_condition"),
        ({"type": "queue_backlog", "above": -1}, 422, "invalid_request"),
        ({"type": "pipeline_failed", "name": "a\u0000b"}, 422, "nul_character"),
        ({"type": "pipeline_failed", "nope": 1}, 422, "invalid_request"),
        ({"type": "risk", "kind": "pipeline", "handler": "load"}, 422, "invalid_condition"),
        ({"type": "risk", "kind": "stage", "pipelineName": "etl"}, 422, "invalid_condition"),
        ({"type": "risk", "stage": "load", "pipelineName": "etl"}, 422, "invalid_condition"),
    ],
)
async def test_a_rule_s_bad_condition_is_refused(
    system: System,
    people: dict[str, Dashboard],
    condition: dict[str, Any],
    status: int,
    code: str | None,
) -> None:
    response = await people["dev"].send(
        "POST",
        "/api/alert-rules",
        {"applicationId": str(system.application.id), "name": "r", "condition": condition},
    )
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert await system.pool.fetchval("SELECT count(*) FROM alert_rules") == 0


async def test_a_paused_rule_opens_nothing_and_deleting_a_rule_resolves_its_alerts(
    system: System, people: dict[str, Dashboard], hook: Receiver
) -> None:
    dev = people["dev"]
    channel = await add_webhook(dev, system, hook.url)
    rule = await add_rule(
        dev, system, {"type": "pipeline_failed"}, [channel["id"]], status="paused"
    )
    await fail_pipeline(system, "first")
    await asyncio.sleep(1.0)  # rounds go by
    assert await alerts_of(dev) == []
    resumed = await dev.send("PATCH", f"/api/alert-rules/{rule['id']}", {"status": "active"})
    assert resumed.status_code == 200
    assert resumed.json()["status"] == "active"
    await fail_pipeline(system, "second")
    [alert] = await wait_for_alerts(dev, 1)
    assert alert["subjectName"] == "second"
    assert (await dev.send("DELETE", f"/api/alert-rules/{rule['id']}")).status_code == 204
    [ended] = await alerts_of(dev)
    assert ended["status"] == "resolved"
    assert ended["ruleId"] is None
    assert ended["ruleName"] == rule["name"]


# -- the other conditions ------------------------------------------------------------------


async def backdate_queued(system: System, minutes: float) -> None:
    await system.pool.execute(
        "UPDATE stages SET queued_at = now() - make_interval(secs => $1) WHERE status = 'queued'",
        minutes * 60,
    )


async def test_the_pending_watchdog_alerts_then_fails_a_stage_nobody_serves(
    system: System, people: dict[str, Dashboard], hook: Receiver
) -> None:
    dev = people["dev"]
    channel = await add_webhook(dev, system, hook.url)
    await add_rule(
        dev,
        system,
        {"type": "stage_pending", "minutes": 5, "failAfterMinutes": 30},
        [channel["id"]],
    )
    pipeline = await system.submit([{"name": "load", "handler": "orphan"}], name="nightly")
    await asyncio.sleep(0.5)
    assert await alerts_of(dev) == []  # it has not waited yet
    await backdate_queued(system, 6)
    [alert] = await wait_for_alerts(dev, 1)
    assert (alert["subjectKind"], alert["subjectKey"]) == ("handler", "orphan")
    assert alert["details"]["waiting"] == 1
    await backdate_queued(system, 31)
    failed = await system.wait_for_pipeline(pipeline["id"], "failed")
    [stage] = failed["stages"]
    assert stage["error"]["code"] == "no_worker"

    async def cleared() -> bool:
        return bool((await alerts_of(dev))[0]["status"] == "resolved")

    await wait_until(cleared)
    assert [r.json["event"] for r in await hook.wait_for(2)] == ["alert.opened", "alert.resolved"]


async def test_the_pending_watchdog_leaves_a_served_handler_alone(
    system: System, people: dict[str, Dashboard]
) -> None:
    dev = people["dev"]
    await add_rule(dev, system, {"type": "stage_pending", "minutes": 1}, [])
    bootstrapped = await system.client.post(
        "/workers/bootstrap", json={"workerName": "w", "handlers": ["busy"]}
    )
    assert bootstrapped.status_code in (200, 201), bootstrapped.text
    await system.submit([{"name": "a", "handler": "busy"}])
    await backdate_queued(system, 5)
    await asyncio.sleep(1.0)
    assert await alerts_of(dev) == []


async def test_a_backlog_that_stays_over_its_bound_alerts_and_clears_when_drained(
    system: System, people: dict[str, Dashboard], hook: Receiver
) -> None:
    dev = people["dev"]
    channel = await add_webhook(dev, system, hook.url)
    rule = await add_rule(
        dev, system, {"type": "queue_backlog", "above": 2, "minutes": 1}, [channel["id"]]
    )
    for _ in range(3):
        await system.submit([{"name": "a", "handler": "slow"}])

    async def watched() -> bool:
        return bool(await system.pool.fetchval("SELECT count(*) FROM alert_watches"))

    await wait_until(watched)
    assert await alerts_of(dev) == []  # not for a minute yet
    await system.pool.execute(
        "UPDATE alert_watches SET since = now() - interval '2 minutes' WHERE rule_id = $1",
        uuid.UUID(rule["id"]),
    )
    [alert] = await wait_for_alerts(dev, 1)
    assert (alert["subjectKind"], alert["subjectKey"]) == ("queue", "slow")
    jobs = await system.pull_until("slow", 3)
    await system.ack(*({"jobId": j["jobId"], "status": "completed"} for j in jobs))

    async def cleared() -> bool:
        return bool((await alerts_of(dev))[0]["status"] == "resolved")

    await wait_until(cleared)
    assert await system.pool.fetchval("SELECT count(*) FROM alert_watches") == 0


async def test_a_worker_lost_holding_jobs_alerts_until_it_is_back(
    system: System, people: dict[str, Dashboard], hook: Receiver
) -> None:
    dev = people["dev"]
    channel = await add_webhook(dev, system, hook.url)
    await add_rule(dev, system, {"type": "worker_lost"}, [channel["id"]])
    boot = (
        await system.client.post(
            "/workers/bootstrap", json={"workerName": "etl-1", "handlers": ["x"]}
        )
    ).json()
    await system.submit([{"name": "a", "handler": "x"}])
    taken: list[dict[str, Any]] = []
    while not taken:
        taken = await system.pull("x", workerId=boot["workerId"])
    # It goes quiet: its heartbeat and its job's lease are long past.
    await system.pool.execute(
        "UPDATE workers SET last_heartbeat_at = now() - interval '5 minutes' WHERE id = $1",
        uuid.UUID(boot["workerId"]),
    )
    await system.pool.execute(
        "UPDATE stages SET lease_expires_at = now() - interval '1 minute' WHERE status = 'running'"
    )
    [alert] = await wait_for_alerts(dev, 1, within=20)
    assert (alert["subjectKind"], alert["subjectName"]) == ("worker", "etl-1")
    assert alert["details"]["jobsLost"] == 1
    back = await system.client.post(
        "/workers/bootstrap", json={"workerName": "etl-1", "handlers": ["x"]}
    )
    assert back.status_code in (200, 201)

    async def cleared() -> bool:
        return bool((await alerts_of(dev))[0]["status"] == "resolved")

    await wait_until(cleared)


async def test_live_updates_carry_alert_changes(
    system: System, people: dict[str, Dashboard]
) -> None:
    stream = system.services.broker.subscribe_updates()
    alert_updates: list[Any] = []

    async def listen() -> None:
        async for body in stream:
            update = msgspec.json.decode(body)
            if update["type"] == "alert":
                alert_updates.extend(update["items"])
                return

    listening = asyncio.create_task(listen())
    await asyncio.sleep(0.3)  # subscribed before anything happens
    await add_rule(people["dev"], system, {"type": "pipeline_failed"}, [])
    await fail_pipeline(system, "nightly")
    [alert] = await wait_for_alerts(people["dev"], 1)
    await asyncio.wait_for(listening, 10)
    await stream.aclose()
    assert alert_updates == [
        {"id": alert["id"], "applicationId": str(system.application.id), "status": "firing"}
    ]


# -- Slack and e-mail ---------------------------------------------------------------------------


async def test_slack_gets_a_formatted_message_with_a_link_and_its_url_stays_secret(
    system: System, people: dict[str, Dashboard], hook: Receiver
) -> None:
    dev = people["dev"]
    response = await dev.send(
        "POST",
        "/api/alert-channels",
        {
            "applicationId": str(system.application.id),
            "name": "ops-room",
            "type": "slack",
            "config": {"url": hook.url},
        },
    )
    assert response.status_code == 201, response.text
    channel = response.json()
    assert channel["config"] == {}
    assert channel["hasSecret"] is True
    assert hook.url not in response.text
    await add_rule(dev, system, {"type": "pipeline_failed"}, [channel["id"]], severity="critical")
    await fail_pipeline(system, "nightly")
    [received] = await hook.wait_for(1)
    message = received.json
    assert "firing" in message["text"]
    assert "nightly" in message["text"]
    [section, actions] = message["blocks"]
    assert "connection refused" in section["text"]["text"]
    [button] = actions["elements"]
    assert button["url"].startswith("https://pipelogiq.example.com/alerts/")


async def test_mail_goes_over_starttls_with_a_login(
    system: System,
    people: dict[str, Dashboard],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cert, key = self_signed(tmp_path, "127.0.0.1")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the server's certificate is trusted
    dev = people["dev"]
    with mail_server(cert, key) as server:
        config = {
            "host": "127.0.0.1",
            "port": server.port,
            "sender": "pipelogiq@example.com",
            "to": ["oncall@example.com", "lead@example.com"],
            "username": "alerts",
            "password": "mail-pass-123",
        }
        response = await dev.send(
            "POST",
            "/api/alert-channels",
            {
                "applicationId": str(system.application.id),
                "name": "mail",
                "type": "email",
                "config": config,
            },
        )
        assert response.status_code == 201, response.text
        channel = response.json()
        assert "password" not in channel["config"]
        assert channel["config"]["to"] == config["to"]
        tried = await dev.send("POST", f"/api/alert-channels/{channel['id']}/test")
        assert tried.json()["ok"] is True, tried.text
        await add_rule(dev, system, {"type": "pipeline_failed"}, [channel["id"]])
        await fail_pipeline(system, "nightly")

        async def mailed() -> bool:
            return len(server.messages) == 2

        await wait_until(mailed)
        # Moving the mail elsewhere needs the password again.
        moved = await dev.send(
            "PATCH",
            f"/api/alert-channels/{channel['id']}",
            {
                "config": {
                    **{k: v for k, v in config.items() if k != "password"},
                    "host": "x.example",
                }
            },
        )
        assert moved.status_code == 422
        assert moved.json()["code"] == "password_required"
    test, alert = server.messages
    assert server.logins == [("alerts", "mail-pass-123")] * 2
    assert sorted(alert.rcpt_tos) == sorted(config["to"])
    mail = email.message_from_bytes(alert.original_content)
    assert "nightly" in mail["Subject"]
    assert mail["X-Pipelogiq-Delivery"]
    assert "connection refused" in mail.get_payload(decode=True).decode()
    assert b"test notification" in test.original_content


async def test_mail_is_not_sent_where_starttls_is_not_offered_by_a_trusted_server(
    system: System, people: dict[str, Dashboard], tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path, "127.0.0.1")  # not trusted: no SSL_CERT_FILE
    with mail_server(cert, key) as server:
        response = await people["dev"].send(
            "POST",
            "/api/alert-channels",
            {
                "applicationId": str(system.application.id),
                "name": "mail",
                "type": "email",
                "config": {
                    "host": "127.0.0.1",
                    "port": server.port,
                    "sender": "a@example.com",
                    "to": ["b@example.com"],
                    "username": "alerts",
                    "password": "mail-pass-123",
                },
            },
        )
        channel = response.json()
        tried = await people["dev"].send("POST", f"/api/alert-channels/{channel['id']}/test")
    assert tried.json()["ok"] is False
    assert "CERTIFICATE_VERIFY_FAILED" in tried.json()["detail"]
    assert "mail-pass-123" not in tried.text
    assert server.messages == []
    assert server.logins == []


# -- schedules and metrics ------------------------------------------------------------------


async def test_a_missed_schedule_alerts_and_its_next_run_on_time_clears_it(
    system: System, hook: Receiver, schedule_people: dict[str, Dashboard]
) -> None:
    people = schedule_people
    version = (await imported(system, people["ada"]))["version"]
    await step(people["ada"], version, "submit")
    definition = (await step(people["bob"], version, "approve")).json()
    status, schedule = await create_schedule(people["ada"], definition)
    assert status == 201, schedule
    dev = (await dashboards(system))["dev"]
    channel = await add_webhook(dev, system, hook.url)
    await add_rule(dev, system, {"type": "schedule_missed"}, [channel["id"]])
    # The built-in worker was down for two hours: the due times missed are skipped.
    await make_due(system, schedule["id"], 7200)
    [alert] = await wait_for_alerts(dev, 1)
    assert (alert["subjectKind"], alert["subjectName"]) == ("schedule", schedule["name"])
    assert "skipped" in alert["summary"]
    assert alert["details"]["missed"] > 1
    # Its next fire, on time, clears it.
    await make_due(system, schedule["id"], 1)

    async def cleared() -> bool:
        return bool((await alerts_of(dev))[0]["status"] == "resolved")

    await wait_until(cleared)
    assert [r.json["event"] for r in await hook.wait_for(2)] == ["alert.opened", "alert.resolved"]


async def test_the_metrics_count_alerts_firing_and_deliveries(
    system: System, people: dict[str, Dashboard], hook: Receiver
) -> None:
    dev = people["dev"]
    channel = await add_webhook(dev, system, hook.url)
    rule_name = f"fails-{uuid.uuid4().hex[:6]}"
    await add_rule(dev, system, {"type": "pipeline_failed"}, [channel["id"]], name=rule_name)
    before = _sample(
        "pipelogiq_alert_deliveries_total", channel_type="webhook", outcome="delivered"
    )
    await fail_pipeline(system, "nightly")
    await hook.wait_for(1)

    async def counted() -> bool:
        # The delivery is counted once it is recorded, a moment after the receiver has it.
        delivered = _sample(
            "pipelogiq_alert_deliveries_total", channel_type="webhook", outcome="delivered"
        )
        firing = _sample("pipelogiq_alerts_firing", rule=rule_name)
        return delivered == before + 1 and firing == 1

    await wait_until(counted)
    await complete_pipeline(system, "nightly")

    async def cleared() -> bool:
        return _sample("pipelogiq_alerts_firing", rule=rule_name) == 0

    await wait_until(cleared)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# -- the documented receiver ----------------------------------------------------------------


async def test_the_documented_receiver_checks_signatures_and_drops_repeats(
    system: System, people: dict[str, Dashboard]
) -> None:
    source = (ROOT / "examples" / "alerts" / "receiver.py").read_text()
    assert f"```python\n{source}```" in (ROOT / "docs" / "alerts.md").read_text()
    port = free_port()
    receiver = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "alerts" / "receiver.py"),
        str(port),
        env={**os.environ, "PIPELOGIQ_WEBHOOK_SECRET": SECRET},
        stdout=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(100):  # until it listens
                with contextlib.suppress(httpx.TransportError):
                    forged = await client.post(
                        url, content=b"{}", headers={"X-Pipelogiq-Signature": "sha256=00"}
                    )
                    break
                await asyncio.sleep(0.05)
        assert forged.status_code == 401
        dev = people["dev"]
        channel = await add_webhook(dev, system, url)
        await add_rule(
            dev, system, {"type": "pipeline_failed"}, [channel["id"]], severity="critical"
        )
        await fail_pipeline(system, "nightly")
        assert receiver.stdout is not None
        line = await asyncio.wait_for(receiver.stdout.readline(), 15)
        assert line.decode().startswith("alert.opened critical pipeline nightly failed")
    finally:
        receiver.terminate()
        await receiver.wait()


# -- quality and risk ---------------------------------------------------------------------------

_VERSION = """
INSERT INTO dataset_versions (dataset_id, version, rows, schema, job_id, checks)
VALUES ($1, $2, $3, '[]', $4, $5)
"""


async def test_a_quality_check_that_quarantines_too_much_alerts_until_a_cleaner_one(
    system: System, people: dict[str, Dashboard], hook: Receiver
) -> None:
    dev = people["dev"]
    channel = await add_webhook(dev, system, hook.url)
    await add_rule(dev, system, {"type": "quality_failure_rate", "above": 0.05}, [channel["id"]])
    app = system.application.id
    add = (
        "INSERT INTO datasets (application_id, uri, name, layer) VALUES ($1, $2, $3, $4) "
        "RETURNING id"
    )
    orders = await system.pool.fetchval(add, app, "lake://orders", "orders_checked", "silver")
    rejects = await system.pool.fetchval(add, app, "lake://rejects", "orders_rejects", "quarantine")
    # The quality job (as its ack registers them): 900 rows passed, 100 quarantined (10%).
    job = uuid.uuid4()
    await system.pool.execute(_VERSION, orders, 1, 900, job, None)
    await system.pool.execute(_VERSION, rejects, 1, 100, job, "lake://orders")
    [alert] = await wait_for_alerts(dev, 1)
    assert (alert["subjectKind"], alert["subjectName"]) == ("dataset", "orders_checked")
    assert "quarantined 10.0% of 1,000 rows" in alert["summary"]
    # The next check quarantines 1%.
    job = uuid.uuid4()
    await system.pool.execute(_VERSION, orders, 2, 990, job, None)
    await system.pool.execute(_VERSION, rejects, 2, 10, job, "lake://orders")

    async def cleared() -> bool:
        return bool((await alerts_of(dev))[0]["status"] == "resolved")

    await wait_until(cleared)
    assert [r.json["event"] for r in await hook.wait_for(2)] == ["alert.opened", "alert.resolved"]


async def test_a_run_longer_than_its_pipelines_history_alerts_on_the_pipeline(
    system: System, people: dict[str, Dashboard], hook: Receiver
) -> None:
    dev = people["dev"]
    channel = await add_webhook(dev, system, hook.url)
    await add_rule(
        dev,
        system,
        {"type": "risk", "kind": "pipeline", "signal": "duration", "minSeverity": "critical"},
        [channel["id"]],
    )
    app = system.application.id
    await risk_runs(system.pool, app, "nightly", 30, hours_ago=(2, 160), seconds=(50, 70))
    await risk_runs(system.pool, app, "nightly", 1, hours_ago=(0.2, 0.2), seconds=(900, 900))
    # A stage slower than usual too: the rule watches pipelines only.
    slow = await risk_stage(system, "transform")
    await risk_attempts(system.pool, slow, 200, hours_ago=(2, 160), seconds=(1.5, 2.5))
    await risk_attempts(system.pool, slow, 30, hours_ago=(0.01, 0.9), seconds=(18, 22))
    await risk_folded(system.pool)
    [alert] = await wait_for_alerts(dev, 1)
    assert (alert["subjectKind"], alert["subjectName"]) == ("pipeline", "nightly")
    assert alert["summary"].startswith("A run of `nightly` took 1")
    assert " min in the last hour, " in alert["summary"]
    assert alert["details"]["kind"] == "pipeline"
    [delivery] = await hook.wait_for(1)
    assert (delivery.json["alert"]["subjectKind"], delivery.json["alert"]["subjectName"]) == (
        "pipeline",
        "nightly",
    )


async def test_a_stage_at_risk_alerts_with_the_sentence_and_clears_when_it_is_not(
    system: System, people: dict[str, Dashboard], hook: Receiver
) -> None:
    dev = people["dev"]
    channel = await add_webhook(dev, system, hook.url)
    await add_rule(
        dev,
        system,
        {"type": "risk", "signal": "failures", "minSeverity": "warning"},
        [channel["id"]],
    )
    load = await risk_stage(system, "load")
    await risk_attempts(system.pool, load, 200, hours_ago=(2, 160), seconds=(9, 11))
    failing = {n: "connection refused" for n in range(0, 50, 2)}
    await risk_attempts(
        system.pool, load, 50, hours_ago=(0.01, 0.9), seconds=(9, 11), errors=failing
    )
    await risk_folded(system.pool)
    [alert] = await wait_for_alerts(dev, 1)
    assert alert["conditionType"] == "risk"
    assert alert["subjectName"] == "load (load)"
    assert alert["summary"].startswith("`load` fails 50% of attempts in the last hour, up from 0%")
    assert alert["details"]["severity"] == "critical"
    # The hour goes by (its minute rollups with it): nothing is at risk any more.
    await system.pool.execute("DELETE FROM attempt_rollups WHERE grain = 'minute'")

    async def cleared() -> bool:
        return bool((await alerts_of(dev))[0]["status"] == "resolved")

    await wait_until(cleared)
