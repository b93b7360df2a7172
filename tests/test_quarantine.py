"""Quarantine review: a real quality run's quarantined rows listed with their failed rules,
released (fixed or as they were) into the checked dataset's next version by a real dataset
worker, or discarded; each row decided once, every decision audited, bad input refused."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import lance
import pyarrow as pa
import pytest

from controlplane import quarantine_review
from controlplane.api.app import create_internal_app
from controlplane.errors import Unavailable
from tests.dashboard import Dashboard, add_member, logged_in, services_for
from tests.system import URL, System, running, sdk_worker
from tests.test_catalog import dashboard_of, finish, written
from tests.test_templates_dataset import RULES, completed, run, write_orders
from worker_sdk import AsyncClient
from worker_sdk.templates.dataset.quality import FAILED_RULES, quality
from worker_sdk.templates.dataset.release import release


async def decide(developer: Dashboard, quarantine: str, body: dict[str, Any]) -> Any:
    return await developer.send("POST", f"/api/datasets/{quarantine}/quarantine/decisions", body)


async def test_rows_are_reviewed_released_into_the_checked_dataset_or_discarded(
    system: System, tmp_path: Path, lake: Path
) -> None:
    system.start_builtin_worker()
    worker = sdk_worker(system)
    worker.use_templates("dataset")
    orders = write_orders(tmp_path / "orders.csv", bad=True)
    stages = [
        {"name": "bronze", "handler": "dataset.ingest", "input": {"source": str(orders)}},
        {
            "name": "silver",
            "handler": "dataset.clean",
            "input": {"trim": True, "dedupe": ["order_id"]},
        },
        {
            "name": "checked",
            "handler": "dataset.quality",
            "input": {"rules": RULES, "failAbove": 0.1, "output": "silver/checked"},
        },
    ]
    developer = await dashboard_of(system, "developer")
    async with (
        AsyncClient(URL, system.api_key, transport=system.transport) as client,
        running(worker),
    ):
        pipeline = await client.create_pipeline({"name": "checks", "stages": stages})
        finished = await client.wait(pipeline.id, timeout=60)
        assert finished.status == "completed", [s.error for s in finished.stages]
        items = (await developer.get("/api/datasets")).json()["items"]
        ids = {item["name"]: item["id"] for item in items}
        quarantine, checked = ids["checked_quarantine"], ids["silver/checked"]
        kept = lance.dataset(str(lake / "silver/checked.lance"))
        kept_rows, kept_version = kept.count_rows(), kept.version
        set_aside = lance.dataset(
            next(i["uri"] for i in items if i["name"] == "checked_quarantine")
        ).to_table()

        page = await developer.get(f"/api/datasets/{quarantine}/quarantine")
        assert page.status_code == 200, page.text
        review = page.json()
        assert review["target"] == {"id": checked, "name": "silver/checked", "layer": "silver"}
        assert review["rowsTotal"] == set_aside.num_rows > 3
        assert review["tally"] == {"open": set_aside.num_rows}
        assert FAILED_RULES not in [c["name"] for c in review["columns"]]
        first = review["rows"][0]
        assert first["row"] == 0
        assert first["failedRules"] == set_aside.column(FAILED_RULES)[0].as_py().split(", ")
        assert "not_null(country)" in first["failedRules"]
        assert first["decision"] is None
        assert first["values"]["order_id"] == set_aside.column("order_id")[0].as_py()

        # Row 0 fixed, row 1 released as it is, row 2 discarded.
        fix = {"country": "DE", "amount": 12.5, "email": "fixed@shop.test"}
        answer = await decide(
            developer,
            quarantine,
            {
                "version": review["version"],
                "note": "checked with the shop",
                "decisions": [
                    {"row": 0, "action": "release", "values": fix},
                    {"row": 1, "action": "release"},
                    {"row": 2, "action": "discard"},
                ],
            },
        )
        assert answer.status_code == 201, answer.text
        decided = answer.json()
        assert (decided["released"], decided["discarded"]) == (2, 1)
        assert decided["targetDatasetId"] == checked
        await system.wait_for_pipeline(decided["releasePipelineId"], "completed")

        grown = lance.dataset(str(lake / "silver/checked.lance"))
        assert grown.version > kept_version
        assert grown.count_rows() == kept_rows + 2
        appended = grown.to_table(offset=kept_rows).to_pylist()
        assert {k: appended[0][k] for k in fix} == fix
        assert appended[1]["order_id"] == set_aside.column("order_id")[1].as_py()
        assert appended[1]["country"] == set_aside.column("country")[1].as_py()
        # The catalog has the new version, read from the quarantine.
        detail = (await developer.get(f"/api/datasets/{checked}")).json()
        newest = detail["versions"][0]
        assert (newest["version"], newest["rows"]) == (grown.version, kept_rows + 2)
        assert {"name": "checked_quarantine"}.items() <= next(
            n for n in detail["upstream"] if n["id"] == quarantine
        ).items()

        again = (await developer.get(f"/api/datasets/{quarantine}/quarantine")).json()
        shown = {row["row"]: row["decision"] for row in again["rows"][:4]}
        assert shown[0]["action"] == "release"
        assert shown[0]["values"] == fix
        assert shown[0]["outcome"] == "completed"
        assert shown[0]["decidedBy"] == "developer@example.com"
        assert shown[0]["note"] == "checked with the shop"
        assert shown[1]["values"] is None
        assert shown[2]["outcome"] == "discarded"
        assert shown[3] is None
        assert again["tally"] == {
            "completed": 2,
            "discarded": 1,
            "open": set_aside.num_rows - 3,
        }

        # Each row is decided once: a batch with a decided row is refused whole.
        refused = await decide(
            developer,
            quarantine,
            {
                "version": review["version"],
                "decisions": [{"row": 3, "action": "discard"}, {"row": 2, "action": "release"}],
            },
        )
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "already_decided"
        assert refused.json()["rows"] == [2]
        recorded = await system.pool.fetchval("SELECT count(*) FROM quarantine_decisions")
        assert recorded == 3

    audit = await system.pool.fetch(
        "SELECT action, actor, details FROM audit_log WHERE action LIKE 'quarantine.%' "
        "ORDER BY (details ->> 'row')::int"
    )
    assert [(a["action"], a["details"]["row"]) for a in audit] == [
        ("quarantine.release", 0),
        ("quarantine.release", 1),
        ("quarantine.discard", 2),
    ]
    assert audit[0]["details"]["fixed"] == fix
    assert audit[0]["actor"] == "developer@example.com"


async def quarantine_of(system: System, **extra: Any) -> str:
    """A quarantine version in the catalog (no files: the review's checks need none)."""
    await system.submit([{"name": "checked", "handler": "quality"}])
    schema = [
        {"name": "id", "type": "int64"},
        {"name": "country", "type": "string"},
        {"name": "day", "type": "date32[day]"},
        {"name": "tags", "type": "list<item: string>"},
        {"name": "price", "type": "decimal128(10, 2)"},
        {"name": "ratio", "type": "float"},
        {"name": "at", "type": "timestamp[ns]"},
        {"name": FAILED_RULES, "type": "string"},
    ]
    report = written("/lake/q.lance", 1, 5, layer="quarantine", schema=schema, **extra)
    await finish(system, "quality", report, written("/lake/checked.lance", 1, 95))
    return str(await system.pool.fetchval("SELECT id FROM datasets WHERE uri = '/lake/q.lance'"))


@pytest.mark.parametrize(
    ("decisions", "code"),
    [
        ([{"row": 5, "action": "discard"}], "row_out_of_range"),
        ([{"row": 1, "action": "discard"}, {"row": 1, "action": "release"}], "duplicate_row"),
        ([{"row": 0, "action": "release", "values": {"id": "seven"}}], "invalid_fix"),
        ([{"row": 0, "action": "release", "values": {"id": 2**63}}], "invalid_fix"),
        ([{"row": 0, "action": "release", "values": {"id": True}}], "invalid_fix"),
        ([{"row": 0, "action": "release", "values": {"country": "D\x00E"}}], "nul_character"),
        ([{"row": 0, "action": "release", "values": {"country": {"a": [1]}}}], "invalid_fix"),
        ([{"row": 0, "action": "release", "values": {"day": "2026-13-40"}}], "invalid_fix"),
        ([{"row": 0, "action": "release", "values": {"tags": ["a"]}}], "invalid_fix"),
        ([{"row": 0, "action": "release", "values": {FAILED_RULES: ""}}], "invalid_fix"),
        ([{"row": 0, "action": "release", "values": {"owner": "me"}}], "invalid_fix"),
        ([{"row": 0, "action": "discard", "values": {"id": 1}}], "invalid_fix"),
        ([{"row": 0, "action": "release", "values": {"day": "20260101"}}], "invalid_fix"),
        ([{"row": 0, "action": "release", "values": {"day": "2026-W01-1"}}], "invalid_fix"),
        ([{"row": 0, "action": "release", "values": {"price": 12.345}}], "invalid_fix"),
        ([{"row": 0, "action": "release", "values": {"price": 10**20}}], "invalid_fix"),
        ([{"row": 0, "action": "release", "values": {"price": "lots"}}], "invalid_fix"),
        ([{"row": 0, "action": "release", "values": {"ratio": 1e300}}], "invalid_fix"),
        ([{"row": 0, "action": "release", "values": {"ratio": 10**400}}], "invalid_fix"),
        ([{"row": 0, "action": "release", "values": {"at": "0001-01-01T00:00:00"}}], "invalid_fix"),
        ([{"row": 0, "action": "release", "values": {"at": "yesterday"}}], "invalid_fix"),
    ],
)
async def test_a_decision_no_row_could_take_is_refused_and_nothing_recorded(
    system: System, decisions: list[dict[str, Any]], code: str
) -> None:
    quarantine = await quarantine_of(system, checks="/lake/checked.lance")
    developer = await dashboard_of(system, "developer")
    answer = await decide(developer, quarantine, {"version": 1, "decisions": decisions})
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == code
    assert await system.pool.fetchval("SELECT count(*) FROM quarantine_decisions") == 0


async def test_fixes_each_column_could_hold_are_taken(system: System) -> None:
    quarantine = await quarantine_of(system, checks="/lake/checked.lance")
    await served_release(system)
    developer = await dashboard_of(system, "developer")
    fixes = {
        "price": "12.50",
        "ratio": 1.5,
        "at": "2026-01-01T10:00:00+05:00",
        "day": "2026-01-02",
        "id": -(2**63),
        "country": "Ελλάδα",
    }
    answer = await decide(
        developer,
        quarantine,
        {"version": 1, "decisions": [{"row": 0, "action": "release", "values": fixes}]},
    )
    assert answer.status_code == 201, answer.text
    stored = await system.pool.fetchval("SELECT fixed FROM quarantine_decisions")
    assert stored == fixes


async def test_who_may_decide_and_what_a_release_needs(system: System) -> None:
    quarantine = await quarantine_of(system, checks="/lake/checked.lance")
    operator = await dashboard_of(system, "operator")
    developer = await dashboard_of(system, "developer")
    body = {"version": 1, "decisions": [{"row": 0, "action": "release"}]}
    forbidden = await decide(operator, quarantine, body)
    assert forbidden.status_code == 403
    # A release needs a worker that can write the dataset; nothing is recorded without one.
    no_worker = await decide(developer, quarantine, body)
    assert no_worker.status_code == 409
    assert no_worker.json()["code"] == "no_dataset_worker"
    # A discard needs none.
    discarded = await decide(
        developer, quarantine, {"version": 1, "decisions": [{"row": 4, "action": "discard"}]}
    )
    assert discarded.status_code == 201, discarded.text
    assert discarded.json()["releasePipelineId"] is None
    assert await system.pool.fetchval("SELECT count(*) FROM quarantine_decisions") == 1
    # Only a quarantine is reviewed; other versions are not found.
    checked = await system.pool.fetchval(
        "SELECT id FROM datasets WHERE uri = '/lake/checked.lance'"
    )
    not_one = await decide(developer, str(checked), body)
    assert (not_one.status_code, not_one.json()["code"]) == (409, "not_a_quarantine")
    listing = await developer.get(f"/api/datasets/{checked}/quarantine")
    assert (listing.status_code, listing.json()["code"]) == (409, "not_a_quarantine")
    elsewhere = await decide(developer, quarantine, {**body, "version": 7})
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (404, "version_not_found")


async def test_a_quarantine_the_catalog_cannot_place_can_be_discarded_not_released(
    system: System,
) -> None:
    await system.submit([{"name": "checked", "handler": "quality"}])
    await finish(system, "quality", written("/lake/alone.lance", 1, 3, layer="quarantine"))
    quarantine = await system.pool.fetchval("SELECT id FROM datasets")
    developer = await dashboard_of(system, "developer")
    review = await developer.get(f"/api/datasets/{quarantine}/quarantine?offset=3")
    assert review.status_code == 200, review.text
    assert review.json()["target"] is None
    assert review.json()["rows"] == []
    body = {"version": 1, "decisions": [{"row": 0, "action": "release"}]}
    answer = await decide(developer, str(quarantine), body)
    assert (answer.status_code, answer.json()["code"]) == (409, "no_checked_dataset")


def test_fixes_are_written_as_their_columns_hold_them(lake: Path) -> None:
    schema = pa.schema(
        [
            ("price", pa.decimal128(10, 2)),
            ("ratio", pa.float32()),
            ("at", pa.timestamp("us")),
        ]
    )
    kept = lance.write_dataset(schema.empty_table(), str(lake / "kept.lance"))
    set_aside = pa.table(
        {
            "price": pa.array([Decimal("1.00")], pa.decimal128(10, 2)),
            "ratio": pa.array([0.5], pa.float32()),
            "at": pa.array([dt.datetime(2026, 1, 1)], pa.timestamp("us")),
            FAILED_RULES: ["range(price)"],
        }
    )
    quarantine = lance.write_dataset(set_aside, str(lake / "q.lance"))
    spec = {
        "quarantine": {"uri": quarantine.uri, "version": 1},
        "target": kept.uri,
        "batch": "b-1",
        "rows": [{"row": 0, "values": {"price": 12.5, "at": "2026-01-01T10:00:00+05:00"}}],
    }
    completed(run(release, spec))
    [row] = lance.dataset(kept.uri).to_table().to_pylist()
    # The decimal exact, the time with an offset kept as UTC (a column without a zone).
    assert row == {"price": Decimal("12.50"), "ratio": 0.5, "at": dt.datetime(2026, 1, 1, 5)}
    # Too large for a float32: refused, not stored as infinity.
    too_large = {**spec, "batch": "b-2", "rows": [{"row": 0, "values": {"ratio": 1e300}}]}
    outcome = run(release, too_large)
    assert outcome.error is not None
    assert outcome.error.code == "invalid_input"
    assert lance.dataset(kept.uri).count_rows() == 1


def test_a_release_retried_after_its_commit_appends_once(lake: Path) -> None:
    silver = lake / "silver.lance"
    lance.write_dataset(
        pa.table(
            {
                "order_id": [1, 2, 3],
                "country": ["DE", None, "XX"],
                "amount": [1.0, 2.0, -3.0],
                "email": ["a@b.c", "d@e.f", "g@h.i"],
            }
        ),
        str(silver),
    )
    checked = completed(
        run(
            quality,
            {
                "rules": RULES[:1] + RULES[2:4],
                "failAbove": 1,
                "source": {"uri": str(silver)},
                "output": "checked",
            },
        )
    )
    set_aside = checked["quarantine"]
    assert set_aside["rows"] == 2
    spec = {
        "quarantine": {"uri": set_aside["uri"], "version": set_aside["version"]},
        "target": checked["dataset"]["uri"],
        "batch": "b-1",
        "rows": [{"row": 0, "values": {"country": "FR"}}, {"row": 1}],
    }
    first = completed(run(release, spec))
    retried = completed(run(release, spec))
    assert retried["dataset"]["version"] == first["dataset"]["version"]
    table = lance.dataset(checked["dataset"]["uri"]).to_table()
    assert table.num_rows == 3
    assert sorted(table.column("country").to_pylist(), key=str) == ["DE", "FR", "XX"]
    # A fix the column cannot hold fails the job for good, appending nothing.
    bad = {**spec, "batch": "b-2", "rows": [{"row": 0, "values": {"amount": "lots"}}]}
    outcome = run(release, bad)
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.code == "invalid_input"
    assert lance.dataset(checked["dataset"]["uri"]).count_rows() == 3
    # The checked dataset rewritten with other columns since: refused, nothing appended.
    lance.write_dataset(pa.table({"other": [1]}), checked["dataset"]["uri"], mode="overwrite")
    moved = run(release, {**spec, "batch": "b-3"})
    assert moved.status == "failed"
    assert moved.error is not None
    assert moved.error.code == "schema_mismatch"
    assert lance.dataset(checked["dataset"]["uri"]).count_rows() == 1


async def served_release(system: System) -> None:
    """A worker of the application that serves dataset.release, as the API sees one."""
    await system.pool.execute(
        "INSERT INTO workers (application_id, name, metadata) VALUES ($1, 'data', $2)",
        system.application.id,
        {"templates": {"dataset.release": "1"}},
    )


@pytest.mark.parametrize("stored", [False, True], ids=["never-stored", "stored"])
async def test_a_release_that_fails_to_start_is_withdrawn_unless_it_was_stored(
    system: System, monkeypatch: pytest.MonkeyPatch, stored: bool
) -> None:
    quarantine = await quarantine_of(system, checks="/lake/checked.lance")
    await served_release(system)
    await add_member(system.pool, system.application.id, "dev@example.com", "developer")
    services = services_for(system.pool, system.services.broker)
    developer = Dashboard(await logged_in(create_internal_app(services), "dev@example.com"))
    if stored:
        # Stored, then the request is cancelled while its job is published (the client left).
        async def cancelled(*_: Any, **__: Any) -> None:
            raise asyncio.CancelledError

        monkeypatch.setattr(services.effects.dispatcher, "publish", cancelled)
    else:

        async def refused(*_: Any, **__: Any) -> None:
            raise Unavailable("database_unavailable", "the database went away")

        monkeypatch.setattr(quarantine_review, "start_pipeline", refused)
    body = {"version": 1, "decisions": [{"row": 0, "action": "release"}]}
    with contextlib.suppress(BaseException):
        answer = await decide(developer, quarantine, body)
        assert answer.status_code >= 500
    releases = await system.pool.fetchval(
        "SELECT count(*) FROM pipelines WHERE idempotency_key LIKE 'quarantine.release:%'"
    )
    decided = await system.pool.fetchval("SELECT count(*) FROM quarantine_decisions")
    withdrawn = await system.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'quarantine.withdrawn'"
    )
    # A stored release runs, so its decision stands; one never stored leaves nothing.
    assert (releases, decided, withdrawn) == ((1, 1, 0) if stored else (0, 0, 1))
    monkeypatch.undo()
    again = await decide(developer, quarantine, body)
    # Decided again: refused while the stored release stands, taken when there was none.
    assert again.status_code == (409 if stored else 201), again.text
