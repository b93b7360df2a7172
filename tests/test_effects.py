"""Every engine change's outcome reaches the one layer that applies it (controlplane.effects).

The engine's changes are found by their signatures: each function or method of
``controlplane.engine`` that returns an :class:`Outcome`, or a result holding one as its
``outcome``. Each must have a scenario below that makes the change the way a user does (raw
HTTP, the dashboard's API, the built-in worker's loops) and finds what it did among the
outcomes :meth:`Effects.apply` was handed. A new change without a scenario fails
``test_every_change_has_a_scenario``; a caller that forgets to apply its outcome fails the
change's scenario.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import typing
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import controlplane.engine
from controlplane.api.app import create_internal_app
from controlplane.effects import Effects
from controlplane.engine.access.audit import CLI
from controlplane.engine.alerts.conditions import StagePending
from controlplane.engine.alerts.rules import Draft, create_rule
from controlplane.engine.outcome import Outcome, PipelineChange, StageChange, WorkerChange
from tests.dashboard import Dashboard, add_member, logged_in, services_for
from tests.system import System


def _returns_an_outcome(function: Callable[..., Any]) -> bool:
    returned = typing.get_type_hints(function).get("return")
    if returned is Outcome:
        return True
    if inspect.isclass(returned) and dataclasses.is_dataclass(returned):
        hints = typing.get_type_hints(returned)
        return hints.get("outcome") is Outcome
    return False


def engine_changes() -> set[str]:
    """``module.function`` or ``module.Class.method`` of each engine change."""
    found: set[str] = set()
    package = controlplane.engine
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        module = importlib.import_module(info.name)
        for name, member in vars(module).items():
            if getattr(member, "__module__", None) != module.__name__ or name.startswith("_"):
                continue
            if inspect.isfunction(member) and _returns_an_outcome(member):
                found.add(f"{module.__name__}.{name}")
            elif inspect.isclass(member):
                found.update(
                    f"{module.__name__}.{name}.{method_name}"
                    for method_name, method in vars(member).items()
                    if inspect.isfunction(method)
                    and not method_name.startswith("_")
                    and _returns_an_outcome(method)
                )
    return found


class Seen:
    """Every outcome handed to the system's Effects, in order."""

    def __init__(self, effects: Effects) -> None:
        self.outcomes: list[Outcome] = []
        apply = effects.apply

        async def recording(outcome: Outcome) -> int:
            self.outcomes.append(outcome)
            return await apply(outcome)

        effects.apply = recording  # type: ignore[method-assign]

    @property
    def all(self) -> Outcome:
        return self.since(0)

    def since(self, start: int) -> Outcome:
        """What the outcomes handed over since the ``start``-th did, together."""
        total = Outcome()
        for outcome in self.outcomes[start:]:
            total = total + outcome
        return total


@pytest.fixture
async def seen(system: System) -> Seen:
    return Seen(system.services.effects)


@pytest.fixture
async def operator(system: System) -> AsyncIterator[Dashboard]:
    """An operator on an internal API that shares the system's Effects."""
    await add_member(system.pool, system.application.id, "op@example.com", "operator")
    services = services_for(system.pool, system.services.broker)
    services.effects = system.services.effects
    client = await logged_in(create_internal_app(services), "op@example.com")
    yield Dashboard(client)
    await client.aclose()


Scenario = Callable[[System, Seen, Dashboard], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(*changes: str) -> Callable[[Scenario], Scenario]:
    def register(function: Scenario) -> Scenario:
        for change in changes:
            SCENARIOS[f"controlplane.engine.{change}"] = function
        return function

    return register


def test_every_change_has_a_scenario() -> None:
    changes = engine_changes()
    # The enumeration finds the engine's changes (it does not pass by finding nothing).
    assert "controlplane.engine.jobpath.jobs.ack_jobs" in changes
    assert changes == set(SCENARIOS)


async def _submitted(system: System, *handlers: str) -> dict[str, Any]:
    stages = [{"name": f"s{i}", "handler": h} for i, h in enumerate(handlers)]
    for i in range(1, len(stages)):
        stages[i]["dependsOn"] = [f"s{i - 1}"]
    return await system.submit(stages)


def _ids(pipeline: dict[str, Any]) -> tuple[uuid.UUID, list[uuid.UUID]]:
    return uuid.UUID(pipeline["id"]), [uuid.UUID(s["id"]) for s in pipeline["stages"]]


@scenario("jobpath.pipelines.submit_pipeline")
async def _submit(system: System, seen: Seen, _: Dashboard) -> None:
    pipeline_id, [first, _second] = _ids(await _submitted(system, "fx", "fx"))
    assert [s.stage_id for s in seen.all.queued] == [first]
    assert seen.all.pipelines == (PipelineChange(pipeline_id, system.application.id, "running"),)


@scenario("jobpath.pipelines.cancel_pipeline")
async def _cancel(system: System, seen: Seen, _: Dashboard) -> None:
    pipeline_id, stages = _ids(await _submitted(system, "fx"))
    response = await system.client.post(f"/pipelines/{pipeline_id}/cancel")
    assert response.status_code == 200, response.text
    assert seen.all.ended_pipelines == (pipeline_id,)
    assert StageChange(stages[0], pipeline_id, system.application.id, "cancelled") in (
        seen.all.stages
    )


@scenario("jobpath.jobs.pull_jobs", "jobpath.jobs.ack_jobs")
async def _pull_and_ack(system: System, seen: Seen, _: Dashboard) -> None:
    pipeline_id, [stage] = _ids(await _submitted(system, "fx"))
    [job] = await system.pull("fx")
    running = StageChange(stage, pipeline_id, system.application.id, "running")
    assert running in seen.all.stages
    await system.ack({"jobId": job["jobId"], "status": "completed"})
    assert seen.all.finished_stages == (stage,)
    assert seen.all.ended_jobs == (uuid.UUID(job["jobId"]),)


@scenario("jobpath.advance.advance_stages")
async def _advance(system: System, seen: Seen, _: Dashboard) -> None:
    _, [first, second] = _ids(await _submitted(system, "fx", "fx"))
    [job] = await system.pull("fx")
    await system.ack({"jobId": job["jobId"], "status": "completed"})
    await system.worker.advance([first])
    assert [s.stage_id for s in seen.outcomes[-1].queued] == [second]


@scenario(
    "jobpath.operations.rerun_stages",
    "jobpath.operations.skip_stages",
    "jobpath.operations.resume_pipeline",
)
async def _operate(system: System, seen: Seen, operator: Dashboard) -> None:
    pipeline_id, [stage] = _ids(await _submitted(system, "fx"))
    [job] = await system.pull("fx")
    await system.ack({"jobId": job["jobId"], "status": "failed", "error": {"message": "no"}})
    await system.worker.advance([stage])
    base = f"/api/pipelines/{pipeline_id}"
    response = await operator.send("POST", f"{base}/stages/{stage}/rerun", {})
    assert response.status_code == 200, response.text
    assert [s.stage_id for s in seen.outcomes[-1].queued] == [stage]  # rerun_stages
    [job] = await system.pull("fx")
    await system.ack({"jobId": job["jobId"], "status": "failed", "error": {"message": "no"}})
    await system.worker.advance([stage])
    response = await operator.send("POST", f"{base}/stages/{stage}/skip", {})
    assert response.status_code == 200, response.text
    assert seen.outcomes[-1].finished_stages == (stage,)  # skip_stages
    await system.worker.advance([stage])
    assert seen.outcomes[-1].pipelines[0].status == "completed"
    # resume: a cancelled pipeline's cancelled stages come back.
    pipeline_id, [stage] = _ids(await _submitted(system, "fx"))
    await system.client.post(f"/pipelines/{pipeline_id}/cancel")
    response = await operator.send("POST", f"/api/pipelines/{pipeline_id}/rerun", {})
    assert response.status_code == 200, response.text
    assert [s.stage_id for s in seen.outcomes[-1].queued] == [stage]  # resume_pipeline


async def _bootstrap(system: System) -> uuid.UUID:
    response = await system.client.post(
        "/workers/bootstrap", json={"workerName": "fx", "handlers": ["fx"]}
    )
    assert response.status_code == 200, response.text
    return uuid.UUID(response.json()["workerId"])


@scenario(
    "jobpath.workers.register_worker",
    "jobpath.workers.HeartbeatWriter.beat",
    "jobpath.workers.stop_worker",
)
async def _worker_lifetime(system: System, seen: Seen, _: Dashboard) -> None:
    application = system.application.id
    worker = await _bootstrap(system)
    assert seen.all.workers == (WorkerChange(worker, application, "online"),)
    await system.pool.execute("UPDATE workers SET state = 'offline' WHERE id = $1", worker)
    before = len(seen.outcomes)
    response = await system.client.post("/workers/heartbeat", json={"workerId": str(worker)})
    assert response.status_code == 200, response.text
    assert seen.since(before).workers == (WorkerChange(worker, application, "online"),)
    _, [stage] = _ids(await _submitted(system, "fx"))
    await system.pull("fx", workerId=str(worker))
    before = len(seen.outcomes)
    response = await system.client.post(
        "/workers/shutdown", json={"workerId": str(worker), "reason": "done"}
    )
    assert response.status_code == 200, response.text
    assert seen.since(before).workers == (WorkerChange(worker, application, "stopped"),)
    assert [s.stage_id for s in seen.since(before).queued] == [stage]


@scenario("jobpath.sweeps.mark_workers_offline")
async def _workers_go_offline(system: System, seen: Seen, _: Dashboard) -> None:
    worker = await _bootstrap(system)
    await system.pool.execute(
        "UPDATE workers SET last_heartbeat_at = now() - interval '1 hour' WHERE id = $1", worker
    )
    await system.worker.sweep_workers()
    assert WorkerChange(worker, system.application.id, "offline") in seen.all.workers


@scenario("jobpath.sweeps.expire_leases")
async def _lease_expires(system: System, seen: Seen, _: Dashboard) -> None:
    _, [stage] = _ids(await _submitted(system, "fx"))
    [job] = await system.pull("fx")
    await system.pool.execute("UPDATE stages SET lease_expires_at = now() - interval '1 s'")
    await system.worker.sweep_leases_and_timeouts()
    assert uuid.UUID(job["jobId"]) in seen.all.ended_jobs
    assert stage in [s.stage_id for s in seen.all.queued[1:]]  # queued again


@scenario("jobpath.sweeps.time_out_jobs")
async def _job_times_out(system: System, seen: Seen, _: Dashboard) -> None:
    pipeline_id, [stage] = _ids(await _submitted(system, "fx"))
    [job] = await system.pull("fx")
    await system.pool.execute("UPDATE stages SET deadline_at = now() - interval '1 s'")
    await system.worker.sweep_leases_and_timeouts()
    assert uuid.UUID(job["jobId"]) in seen.all.ended_jobs
    assert StageChange(stage, pipeline_id, system.application.id, "failed") in seen.all.stages


@scenario("jobpath.sweeps.queue_due_retries")
async def _retry_is_due(system: System, seen: Seen, _: Dashboard) -> None:
    pipeline = await system.submit([{"name": "a", "handler": "fx", "maxRetries": 1}])
    _, [stage] = _ids(pipeline)
    [job] = await system.pull("fx")
    await system.ack({"jobId": job["jobId"], "status": "failed", "error": {"message": "again"}})
    await system.pool.execute("UPDATE stages SET retry_at = now() - interval '1 s'")
    await system.worker.queue_due_retries()
    assert [s.stage_id for s in seen.outcomes[-1].queued] == [stage]


@scenario("jobpath.sweeps.unpublished_stages")
async def _relay(system: System, seen: Seen, _: Dashboard) -> None:
    _, [stage] = _ids(await _submitted(system, "fx"))
    await system.pull("fx")  # the first message is used up
    await system.pool.execute(
        "UPDATE stages SET status = 'queued', published_at = NULL, "
        "queued_at = now() - interval '1 hour'"
    )
    before = len(seen.outcomes)
    await system.worker.sweep_lost_messages()
    assert [s.stage_id for s in seen.since(before).republished] == [stage]


@scenario("jobpath.gates.release_held")
async def _held_stage_released(system: System, seen: Seen, _: Dashboard) -> None:
    application = system.application.id
    policy = await system.pool.fetchval(
        "INSERT INTO policies (application_id, name, kind, target_type, target, config) "
        "VALUES ($1, 'one', 'concurrency', 'handler', 'fx', '{\"limit\": 1}') RETURNING id",
        application,
    )
    _, [stage] = _ids(await _submitted(system, "fx"))
    await system.pool.execute("UPDATE stages SET held_by = $1 WHERE id = $2", policy, stage)
    await system.worker.release_held_stages()
    assert [s.stage_id for s in seen.outcomes[-1].republished] == [stage]


async def _unserved_stage_alerted(system: System, seen: Seen) -> tuple[uuid.UUID, uuid.UUID]:
    """A pending-watchdog rule, and a stage of a handler nobody serves queued past its
    alert and its fail-after bounds; one round of the rules. (pipeline, stage)."""
    condition = StagePending(minutes=1, fail_after_minutes=2)
    draft = Draft("pending", condition, "warning", [], "active")
    await create_rule(system.pool, CLI, system.application.id, draft)
    pipeline_id, [stage] = _ids(await _submitted(system, "nobody"))
    await system.pool.execute("UPDATE stages SET queued_at = now() - interval '3 minutes'")
    await system.worker.evaluate_alerts()
    return pipeline_id, stage


@scenario(
    "alerts.evaluate.evaluate",
    "alerts.alerts.raise_signals",
    "jobpath.sweeps.fail_unserved",
)
async def _pending_watchdog(system: System, seen: Seen, _: Dashboard) -> None:
    pipeline_id, stage = await _unserved_stage_alerted(system, seen)
    assert StageChange(stage, pipeline_id, system.application.id, "failed") in seen.all.stages
    assert stage in seen.all.finished_stages
    assert [a.status for a in seen.all.alerts] == ["firing"]


@scenario("alerts.alerts.resolve_cleared")
async def _alert_clears(system: System, seen: Seen, _: Dashboard) -> None:
    await _unserved_stage_alerted(system, seen)  # the stage failed: nothing waits any more
    [opened] = seen.all.alerts
    await system.worker.evaluate_alerts()
    assert seen.outcomes[-1].alerts == (opened._replace(status="resolved"),)


@scenario("alerts.alerts.acknowledge", "alerts.alerts.resolve_by_hand")
async def _alert_acknowledged_and_resolved(system: System, seen: Seen, operator: Dashboard) -> None:
    await _unserved_stage_alerted(system, seen)
    [opened] = seen.all.alerts
    for action, status in (("acknowledge", "acknowledged"), ("resolve", "resolved")):
        response = await operator.send("POST", f"/api/alerts/{opened.alert_id}/{action}")
        assert response.status_code == 200, response.text
        assert seen.outcomes[-1].alerts == (opened._replace(status=status),)


# Last: the scenarios above are registered by now.


@pytest.mark.parametrize("change", sorted(SCENARIOS))
async def test_the_change_reaches_the_effects(
    change: str, system: System, seen: Seen, operator: Dashboard
) -> None:
    await SCENARIOS[change](system, seen, operator)
