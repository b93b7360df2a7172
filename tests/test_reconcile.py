"""Reconciliation in dataset.quality: counts and sums between layers, on real datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from tests.test_templates_dataset import completed, run, table_of, write_orders
from worker_sdk.templates.dataset.aggregate import aggregate
from worker_sdk.templates.dataset.clean import clean
from worker_sdk.templates.dataset.ingest import ingest
from worker_sdk.templates.dataset.quality import quality

ACCOUNTED = {
    "name": "every bronze row accounted for",
    "left": [{"rows": "bronze"}],
    "right": [
        {"rows": "silver"},
        {"output": "silver", "path": "removed.duplicates"},
        {"output": "silver", "path": "removed.nulls"},
    ],
}
SPLIT = {
    "name": "passed and quarantined make the source",
    "left": [{"rows": "@source"}],
    "right": [{"rows": "@passed"}, {"rows": "@quarantined"}],
}

# Every test here writes and reads a lake of its own (conftest.lake).
pytestmark = pytest.mark.usefixtures("lake")


@pytest.fixture
def bronze(tmp_path: Path) -> dict[str, Any]:
    orders = write_orders(tmp_path / "o.csv", bad=True)
    return completed(run(ingest, {"source": str(orders)}, "bronze"))


@pytest.fixture
def silver(bronze: dict[str, Any]) -> dict[str, Any]:
    return completed(run(clean, {"trim": True, "dedupe": ["order_id"]}, "silver", bronze=bronze))


@pytest.fixture
def gold(silver: dict[str, Any]) -> dict[str, Any]:
    spec = {
        "groupBy": ["country"],
        "aggregations": [{"fn": "sum", "column": "amount", "as": "revenue"}],
    }
    return completed(run(aggregate, spec, "gold", silver=silver))


def check(rules: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "source": "silver",
        "rules": [{"check": "range", "column": "amount", "min": 0}],
        "failAbove": 0.5,
        "reconcile": rules,
        **extra,
    }


def test_counts_and_sums_that_agree_between_layers_are_reported(
    bronze: dict[str, Any], silver: dict[str, Any], gold: dict[str, Any]
) -> None:
    revenue = {
        "name": "silver's amounts are gold's revenue",
        "left": [{"sum": "amount", "of": "silver"}],
        "right": [{"sum": "revenue", "of": "gold"}],
        "relativeTolerance": 1e-9,
    }
    deps = {"bronze": bronze, "silver": silver, "gold": gold}
    output = completed(run(quality, check([ACCOUNTED, SPLIT, revenue]), "checked", **deps))
    report = output["report"]
    results = {r["name"]: r for r in report["reconciliation"]}
    assert all(r["passed"] for r in results.values()), results
    assert results[ACCOUNTED["name"]]["left"] == 300
    assert results[ACCOUNTED["name"]]["right"] == 300
    amounts = table_of(silver).column("amount")
    assert results[revenue["name"]]["left"] == pytest.approx(pc.sum(amounts).as_py())
    assert results[SPLIT["name"]]["right"] == report["passed"] + report["quarantined"]
    assert results[revenue["name"]]["terms"]["right"] == ["sum(gold.revenue)"]


def test_a_dataset_named_directly_is_measured_at_its_version(
    bronze: dict[str, Any], silver: dict[str, Any]
) -> None:
    # An uploaded bronze version, say: not a stage of this pipeline.
    named = {"uri": bronze["dataset"]["uri"], "version": bronze["dataset"]["version"]}
    rules = [
        {**ACCOUNTED, "left": [{"rows": named}]},
        {
            "name": "amounts of silver, twice",
            "left": [{"sum": "amount", "of": "silver"}, {"sum": "amount", "of": "silver"}],
            "right": [{"sum": "amount", "of": named}],
            "relativeTolerance": 0.9,
        },
    ]
    output = completed(run(quality, check(rules), "checked", silver=silver))
    [accounted, amounts] = output["report"]["reconciliation"]
    assert accounted["passed"], accounted
    assert accounted["left"] == 300
    assert accounted["terms"]["left"] == [f"rows({named['uri']}@{named['version']})"]
    assert amounts["left"] == pytest.approx(2 * pc.sum(table_of(silver).column("amount")).as_py())


def test_a_sum_that_does_not_hold_fails_the_stage_or_warns(
    silver: dict[str, Any], gold: dict[str, Any]
) -> None:
    # The passing rows leave out the negative amounts, which gold's revenue counted.
    mismatch = {
        "name": "passed amounts are gold's revenue",
        "left": [{"sum": "amount", "of": "@passed"}],
        "right": [{"sum": "revenue", "of": "gold"}],
        "tolerance": 0.01,
    }
    failed = run(quality, check([mismatch]), "checked", silver=silver, gold=gold)
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.code == "quality_failed"
    assert "passed amounts are gold's revenue" in failed.error.message
    warned = completed(
        run(quality, check([mismatch], onMismatch="warn"), "checked", silver=silver, gold=gold)
    )
    assert warned["report"]["status"] == "warned"
    [result] = warned["report"]["reconciliation"]
    assert result["passed"] is False
    quarantined = table_of(warned, "quarantine").column("amount")
    assert result["difference"] == pytest.approx(-pc.sum(quarantined).as_py())


@pytest.mark.parametrize(
    ("rule", "code"),
    [
        (
            {"name": "x", "left": [{"rows": "silver", "sum": "amount"}], "right": [{"value": 1}]},
            "invalid_input",
        ),
        ({"name": "x", "left": [{"sum": "amount"}], "right": [{"value": 1}]}, "invalid_input"),
        ({"name": "x", "left": [{"rows": "platinum"}], "right": [{"value": 1}]}, "unknown_source"),
        (
            {"name": "x", "left": [{"output": "gold", "path": "nope"}], "right": [{"value": 1}]},
            "unknown_source",
        ),
        (
            {
                "name": "x",
                "left": [{"output": "silver", "path": "dataset"}],
                "right": [{"value": 1}],
            },
            "invalid_input",
        ),
        (
            {"name": "x", "left": [{"sum": "nope", "of": "silver"}], "right": [{"value": 1}]},
            "unknown_column",
        ),
    ],
)
def test_a_rule_that_cannot_be_measured_fails_for_good(
    silver: dict[str, Any], rule: dict[str, Any], code: str
) -> None:
    outcome = run(quality, check([rule]), "checked", silver=silver)
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.code == code, outcome.error.message
    assert outcome.error.retryable is False
