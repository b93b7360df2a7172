"""The medallion pipeline: bronze → silver → checked → gold (a SQL model), each a dataset
template.

Each layer writes a named dataset of the lake (bronze/orders, silver/orders...), so every
run adds a version to the same datasets of the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worker_sdk import PipelineSpec

COUNTRIES = ["DE", "FR", "NL", "ES", "IT", "PL", "SE", "US"]

GOLD_QUERY = """
SELECT day, country,
       sum(amount) AS revenue, count(*) AS orders, avg(amount) AS average_order
FROM orders
GROUP BY day, country
ORDER BY day, country
"""


def medallion(source: Path | dict[str, Any]) -> PipelineSpec:
    """From a CSV file (a bronze stage ingests it), or from a bronze dataset version already
    in the lake (``{"uri", "version"}``: an upload's)."""
    spec = PipelineSpec("medallion", keywords=["example"])
    if isinstance(source, Path):
        bronze_stage = spec.stage(
            "bronze",
            "dataset.ingest",
            # Bronze keeps amounts as the text they came as: a bad one must not stop the ingest.
            input={
                "source": str(source),
                "schema": [{"name": "amount", "type": "string"}],
                "output": "bronze/orders",
            },
        )
        after_bronze, bronze, silver_source = [bronze_stage], "bronze", None
    else:
        after_bronze, bronze, silver_source = [], dict(source), dict(source)
    silver = spec.stage(
        "silver",
        "dataset.clean",
        input={
            "source": silver_source,
            "rename": {"ordered_at": "day"},
            "trim": ["country"],
            "cast": {"day": "date32", "amount": "float64"},
            "castErrors": "null",  # "n/a" becomes null, for the quality stage to catch
            "dedupe": ["order_id"],
            "output": "silver/orders",
        },
        depends_on=after_bronze,
    )
    checked = spec.stage(
        "checked",
        "dataset.quality",
        input={
            "rules": [
                {"check": "not_null", "column": "amount"},
                {"check": "range", "column": "amount", "min": 0},
                {
                    "check": "allowed",
                    "column": "country",
                    "values": COUNTRIES,
                },
                {
                    "check": "regex",
                    "column": "customer_email",
                    "pattern": r"[^@\s]+@[^@\s]+\.[a-z]+",
                },
                {"check": "unique", "column": "order_id"},
            ],
            "failAbove": 0.02,
            # Nothing lost on the way: each bronze row is in silver, or counted as removed.
            "reconcile": [
                {
                    "name": "every bronze row accounted for",
                    "left": [{"rows": bronze}],
                    "right": [
                        {"rows": "silver"},
                        {"output": "silver", "path": "removed.duplicates"},
                        {"output": "silver", "path": "removed.nulls"},
                    ],
                },
                {
                    "name": "passed and quarantined make silver",
                    "left": [{"rows": "@source"}],
                    "right": [{"rows": "@passed"}, {"rows": "@quarantined"}],
                },
            ],
            "source": "silver",
            "output": "silver/orders_checked",
            "quarantine": "quarantine/orders",
        },
        depends_on=[*after_bronze, silver],
    )
    # Gold is a SQL model: a query over the checked orders, run by Daft.
    spec.stage(
        "gold",
        "dataset.sql",
        input={"query": GOLD_QUERY, "inputs": {"orders": "checked"}, "output": "gold/revenue"},
        depends_on=[checked],
    )
    return spec
