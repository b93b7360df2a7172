"""Schedules: due times in a time zone, firing once per due time with several built-in workers,
catching up after downtime, and keeping them through the internal API."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest

from builtin_worker import BuiltinWorker
from controlplane.engine.definitions.timing import MISFIRE_GRACE, Timing, plan_fire
from controlplane.errors import InvalidRequest
from controlplane.services import Services
from database.pool import create_pool
from tests.dashboard import Dashboard
from tests.system import System
from tests.test_definitions import NIGHTLY, imported, step

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# -- due times --------------------------------------------------------------------------------


def test_a_cron_expression_is_read_in_its_time_zone_summer_and_winter() -> None:
    timing = Timing("0 9 * * *", None, "Europe/Oslo")
    # Oslo moves its clocks on 29 March 2026: 09:00 there is 08:00 UTC before, 07:00 after.
    due = list(zip(range(3), timing.after(at("2026-03-27T12:00:00+00:00")), strict=False))
    assert [d.isoformat() for _, d in due] == [
        "2026-03-28T08:00:00+00:00",
        "2026-03-29T07:00:00+00:00",
        "2026-03-30T07:00:00+00:00",
    ]


def test_an_interval_counts_from_the_last_due_time() -> None:
    timing = Timing(None, 600, "UTC")
    assert timing.next_after(at("2026-12-01T10:00:00+00:00")) == at("2026-12-01T10:10:00+00:00")


@pytest.mark.parametrize(
    ("cron", "interval", "zone", "says"),
    [
        ("61 * * * *", None, "UTC", "not a cron expression"),
        ("* * *", None, "UTC", "not a cron expression"),
        ("0 9 * * *", None, "Mars/Olympus", "not a time zone"),
        (None, None, "UTC", "a cron expression or an interval"),
        ("0 9 * * *", 60, "UTC", "a cron expression or an interval"),
    ],
)
def test_a_timing_that_is_not_one_is_refused(
    cron: str | None, interval: int | None, zone: str, says: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        Timing(cron, interval, zone).check()
    assert refused.value.code == "invalid_schedule"
    assert says in refused.value.detail


def test_a_late_due_time_runs_and_a_missed_one_follows_the_catch_up_policy() -> None:
    hourly = Timing("0 * * * *", None, "UTC")
    due = at("2026-12-01T10:00:00+00:00")
    on_time = plan_fire(hourly, due, due + MISFIRE_GRACE, "skip")
    assert (on_time.kind, on_time.run_for, on_time.next_fire_at) == (
        "scheduled",
        due,
        at("2026-12-01T11:00:00+00:00"),
    )
    # Down from 09:59 to 13:30: 10:00, 11:00, 12:00 and 13:00 were missed.
    now = at("2026-12-01T13:30:00+00:00")
    skipped = plan_fire(hourly, due, now, "skip")
    assert (skipped.kind, skipped.run_for, skipped.missed) == ("skipped", None, 4)
    assert skipped.next_fire_at == at("2026-12-01T14:00:00+00:00")
    once = plan_fire(hourly, due, now, "once")
    assert (once.kind, once.run_for, once.missed) == (
        "catch_up",
        at("2026-12-01T13:00:00+00:00"),
        3,
    )
    assert once.next_fire_at == at("2026-12-01T14:00:00+00:00")


# -- firing -----------------------------------------------------------------------------------


@pytest.fixture
async def system(rabbit_system: System) -> System:
    return rabbit_system


@pytest.fixture
async def definition(system: System, people: dict[str, Dashboard]) -> dict[str, Any]:
    """nightly-orders, published (version 1)."""
    version = (await imported(system, people["ada"]))["version"]
    await step(people["ada"], version, "submit")
    approved = await step(people["bob"], version, "approve")
    assert approved.status_code == 200, approved.text
    return approved.json()  # type: ignore[no-any-return]


async def create(
    who: Dashboard, definition: dict[str, Any], **fields: Any
) -> tuple[int, dict[str, Any]]:
    body = {
        "definitionId": definition["definitionId"],
        "name": "every-ten-minutes",
        "intervalSeconds": 600,
        "params": {"day": "2026-12-01"},
        **fields,
    }
    response = await who.send("POST", "/api/schedules", body)
    return response.status_code, response.json()


async def make_due(system: System, schedule_id: str, seconds_ago: float) -> None:
    await system.pool.execute(
        "UPDATE schedules SET next_fire_at = now() - make_interval(secs => $2) WHERE id = $1",
        uuid.UUID(schedule_id),
        seconds_ago,
    )


async def fires(system: System, schedule_id: str) -> list[asyncpg.Record]:
    return await system.pool.fetch(
        "SELECT due_at, kind, missed, pipeline_id, error FROM schedule_fires "
        "WHERE schedule_id = $1 ORDER BY due_at",
        uuid.UUID(schedule_id),
    )


async def runs(system: System) -> list[asyncpg.Record]:
    return await system.pool.fetch(
        "SELECT id, idempotency_key FROM pipelines WHERE definition_id IS NOT NULL"
    )


async def test_two_builtin_workers_fire_each_due_time_once(
    system: System, people: dict[str, Dashboard], definition: dict[str, Any], database_url: str
) -> None:
    status, schedule = await create(people["ada"], definition)
    assert status == 201, schedule
    # Every 10 s, and the first due time 25 s ago: three due times to fire (all within the
    # grace, so on time, not missed).
    await system.pool.execute(
        "UPDATE schedules SET interval_seconds = 10 WHERE id = $1", uuid.UUID(schedule["id"])
    )
    await make_due(system, schedule["id"], 25)
    other_pool = await create_pool(database_url, min_size=1, max_size=4)
    try:
        other = BuiltinWorker(
            Services(system.services.settings, other_pool, system.services.broker)
        )
        for _ in range(5):  # racing, until nothing is due
            await asyncio.gather(system.worker.fire_schedules(), other.fire_schedules())
    finally:
        await other_pool.close()
    fired = await fires(system, schedule["id"])
    assert [f["kind"] for f in fired] == ["scheduled"] * 3
    assert len({f["due_at"] for f in fired}) == 3
    started = await runs(system)
    assert len(started) == 3
    assert {r["id"] for r in started} == {f["pipeline_id"] for f in fired}
    next_due = await system.pool.fetchval(
        "SELECT next_fire_at > now() FROM schedules WHERE id = $1", uuid.UUID(schedule["id"])
    )
    assert next_due is True


async def test_a_worker_that_dies_after_starting_a_run_leaves_no_second_run(
    system: System, people: dict[str, Dashboard], definition: dict[str, Any]
) -> None:
    from controlplane.engine.definitions.schedules import fire_due
    from controlplane.runs import start_run

    _, schedule = await create(people["ada"], definition)
    await make_due(system, schedule["id"], 1)

    async def start_then_die(application_id: uuid.UUID, request: Any) -> uuid.UUID:
        await start_run(system.services, application_id, request)
        raise ConnectionResetError("the worker died before recording the fire")

    with pytest.raises(ConnectionResetError):
        await fire_due(system.pool, start_then_die)
    assert await fires(system, schedule["id"]) == []  # nothing recorded, still due
    [fired] = await system.worker.fire_schedules()
    assert fired.kind == "scheduled"
    assert len(await runs(system)) == 1  # the same idempotency key: the same pipeline


@pytest.mark.parametrize(
    ("catch_up", "kind", "started"), [("skip", "skipped", 0), ("once", "catch_up", 1)]
)
async def test_after_downtime_missed_runs_are_skipped_or_run_once(
    system: System,
    people: dict[str, Dashboard],
    definition: dict[str, Any],
    catch_up: str,
    kind: str,
    started: int,
) -> None:
    _, schedule = await create(people["ada"], definition, catchUp=catch_up)
    await make_due(system, schedule["id"], 3600 + 30)  # down for an hour: 7 due times
    [fired] = await system.worker.fire_schedules()
    assert fired.kind == kind
    [record] = await fires(system, schedule["id"])
    assert record["missed"] == (7 if catch_up == "skip" else 6)
    assert len(await runs(system)) == started
    assert await system.worker.fire_schedules() == []  # caught up: the next is in the future


async def test_a_fire_that_cannot_start_a_run_is_recorded_and_moves_on(
    system: System, people: dict[str, Dashboard], definition: dict[str, Any]
) -> None:
    _, schedule = await create(people["ada"], definition, version=1)
    await step(people["ada"], definition, "archive")
    await make_due(system, schedule["id"], 1)
    [fired] = await system.worker.fire_schedules()
    assert fired.pipeline_id is None
    assert fired.error is not None
    assert fired.error.startswith("version_not_published")
    assert await system.worker.fire_schedules() == []


async def test_the_builtin_worker_fires_a_schedule_when_it_is_due(
    system: System, people: dict[str, Dashboard], definition: dict[str, Any]
) -> None:
    _, schedule = await create(people["ada"], definition)
    await make_due(system, schedule["id"], -0.5)  # due in half a second
    system.start_builtin_worker()
    for _ in range(100):
        if await runs(system):
            break
        await asyncio.sleep(0.05)
    [run] = await runs(system)
    pipeline = await system.pipeline(str(run["id"]))
    assert pipeline["runOf"]["params"] == {"day": "2026-12-01", "limit": 100}


# -- keeping them -----------------------------------------------------------------------------


async def test_a_schedule_is_created_paused_resumed_and_run_now(
    system: System, people: dict[str, Dashboard], definition: dict[str, Any]
) -> None:
    ada, olga = people["ada"], people["olga"]
    status, schedule = await create(
        ada,
        definition,
        name="nine-in-oslo",
        intervalSeconds=None,
        cron="0 9 * * *",
        timezone="Europe/Oslo",
    )
    assert status == 201, schedule
    assert len(schedule["nextRuns"]) == 5
    assert all(at(t).astimezone(dt.UTC).hour in (7, 8) for t in schedule["nextRuns"])
    assert schedule["params"] == {"day": "2026-12-01", "limit": 100}  # defaults filled in

    # Operators pause, resume and run now; they do not create or change.
    path = f"/api/schedules/{schedule['id']}"
    paused = (await olga.send("POST", f"{path}/pause")).json()
    assert (paused["status"], paused["nextFireAt"], paused["nextRuns"]) == ("paused", None, [])
    assert (await olga.send("POST", f"{path}/resume")).json()["nextFireAt"] is not None
    fire = (await olga.send("POST", f"{path}/run")).json()
    assert (fire["kind"], fire["actor"]) == ("manual", "olga@example.com")
    pipeline = await system.pipeline(fire["pipelineId"])
    assert pipeline["runOf"]["definition"] == "nightly-orders"
    assert (await olga.send("PATCH", path, {"cron": "0 10 * * *"})).status_code == 403
    assert (await create(olga, definition, name="mine"))[0] == 403

    # Changing the timing moves the next due time.
    changed = (await ada.send("PATCH", path, {"intervalSeconds": 3600})).json()
    assert (changed["cron"], changed["intervalSeconds"]) == (None, 3600)
    detail = (await ada.get(path)).json()
    assert [f["kind"] for f in detail["fires"]] == ["manual"]
    history = (await ada.get(f"{path}/history")).json()
    assert [h["action"] for h in reversed(history)] == [
        "schedule.created",
        "schedule.paused",
        "schedule.resumed",
        "schedule.run",
        "schedule.changed",
    ]
    assert (await ada.send("DELETE", path)).status_code == 204
    assert (await ada.get(path)).status_code == 404


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"params": {}}, 422, "invalid_params"),
        ({"params": {"day": "today"}}, 422, "invalid_params"),
        ({"version": 2}, 404, "version_not_found"),
        ({"cron": "every day", "intervalSeconds": None}, 422, "invalid_schedule"),
        ({"timezone": "Nowhere/Else"}, 422, "invalid_schedule"),
        ({"intervalSeconds": 5}, 422, "invalid_request"),
    ],
)
async def test_a_schedule_that_could_not_run_is_refused(
    system: System,
    people: dict[str, Dashboard],
    definition: dict[str, Any],
    fields: dict[str, Any],
    status: int,
    code: str,
) -> None:
    answer, problem = await create(people["ada"], definition, **fields)
    assert (answer, problem["code"]) == (status, code)
    assert await system.pool.fetchval("SELECT count(*) FROM schedules") == 0


async def test_a_draft_definition_cannot_be_scheduled(
    system: System, people: dict[str, Dashboard]
) -> None:
    draft = (await imported(system, people["ada"], NIGHTLY))["version"]
    answer, problem = await create(people["ada"], draft)
    assert (answer, problem["code"]) == (409, "version_not_published")


# -- the list across applications ---------------------------------------------------------------


async def listed(who: Dashboard, query: str = "") -> list[dict[str, Any]]:
    response = await who.get(f"/api/schedules{query}")
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def test_the_list_carries_each_schedule_s_last_fire_and_the_run_it_started(
    system: System, people: dict[str, Dashboard], definition: dict[str, Any]
) -> None:
    ada, olga = people["ada"], people["olga"]
    _, often = await create(ada, definition)
    _, daily = await create(
        ada, definition, name="nine-in-oslo", intervalSeconds=None, cron="0 9 * * *"
    )
    before = await listed(olga)
    assert [(s["name"], s["lastFire"]) for s in before] == [
        ("every-ten-minutes", None),
        ("nine-in-oslo", None),
    ]
    assert {s["applicationName"] for s in before} == {system.application.name}
    assert {s["definition"] for s in before} == {"nightly-orders"}

    # Run now, then fired on time: the newer fire is the last, with the status of its run.
    manual = (await olga.send("POST", f"/api/schedules/{often['id']}/run")).json()
    [last] = [s["lastFire"] for s in await listed(olga) if s["id"] == often["id"]]
    assert (last["kind"], last["pipelineId"], last["actor"]) == (
        "manual",
        manual["pipelineId"],
        "olga@example.com",
    )
    await make_due(system, often["id"], 1)
    # Down for three days: the due time then and the three mornings since, all skipped.
    await make_due(system, daily["id"], 3 * 86400)
    await system.worker.fire_schedules()
    now = {s["name"]: s["lastFire"] for s in await listed(olga)}
    scheduled, skipped = now["every-ten-minutes"], now["nine-in-oslo"]
    assert scheduled["kind"] == "scheduled"
    assert scheduled["pipelineId"] not in (None, manual["pipelineId"])
    run = await system.pipeline(scheduled["pipelineId"])
    assert scheduled["pipelineStatus"] == run["status"]
    assert (skipped["kind"], skipped["missed"], skipped["pipelineId"]) == ("skipped", 4, None)
    assert skipped["pipelineStatus"] is None


async def test_the_list_is_filtered_by_status_and_a_search_and_shows_no_one_else_s(
    system: System, people: dict[str, Dashboard], definition: dict[str, Any], pool: asyncpg.Pool
) -> None:
    from controlplane.api.app import create_internal_app
    from controlplane.engine.access.applications import create_application
    from tests.dashboard import add_member, logged_in, services_for

    ada = people["ada"]
    _, often = await create(ada, definition)
    await create(ada, definition, name="nine_in_oslo", status="paused")

    def names(items: list[dict[str, Any]]) -> list[str]:
        return [s["name"] for s in items]

    assert names(await listed(ada, "?status=paused")) == ["nine_in_oslo"]
    assert names(await listed(ada, "?status=active")) == ["every-ten-minutes"]
    assert names(await listed(ada, "?search=OSLO")) == ["nine_in_oslo"]
    # The definition's name counts; % and _ are themselves, not patterns.
    assert len(await listed(ada, "?search=nightly-ord")) == 2
    assert names(await listed(ada, "?search=_in_")) == ["nine_in_oslo"]
    assert await listed(ada, "?search=%25") == []
    assert await listed(ada, f"?application={uuid.uuid4()}") == []
    app = f"?application={system.application.id}&status=active&search=ten"
    assert names(await listed(ada, app)) == ["every-ten-minutes"]

    for query, code in [
        ("?status=stopped", "invalid_request"),
        ("?search=" + "x" * 201, "invalid_request"),
        ("?application=nine", "invalid_request"),
        ("?search=a%00b", "nul_character"),
    ]:
        response = await ada.get(f"/api/schedules{query}")
        assert (response.status_code, response.json()["code"]) == (422, code), query

    # A member of another application only sees its schedules: none.
    other, _ = await create_application(pool, "elsewhere")
    await add_member(pool, other.id, "eve@example.com", "developer")
    app_eve = create_internal_app(services_for(pool, system.services.broker))
    eve = Dashboard(await logged_in(app_eve, "eve@example.com"))
    assert await listed(eve) == []
    assert (await eve.get(f"/api/schedules/{often['id']}")).status_code == 404
